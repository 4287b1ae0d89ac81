"""-o is optional for tag and switch: INPUT's name with .tagged/.switched.parquet beside it, stdout for stdin."""

from __future__ import annotations

import io
import shutil

import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from cstool.io import artifacts
from cstool.io.paths import default_output

from .conftest import invoke

STDOUT = "tagged 60 rows → stdout"


def _stream(path) -> bytes:
    sink = io.BytesIO()
    table = pq.read_table(path)
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def test_tag_and_switch_write_beside_the_input(inputs, tmp_path):
    corpus = tmp_path / "data" / "corpus.conllu"
    corpus.parent.mkdir()
    shutil.copy(inputs["conllu"], corpus)
    code, output = invoke("tag", corpus, "--lang", "en")
    assert code == 0, output
    tagged = tmp_path / "data" / "corpus.tagged.parquet"
    assert f"→ {tagged}" in output  # one line says where it went
    assert artifacts.read_provenance(tagged)["stage"] == "tag"
    assert pq.read_table(tagged).num_rows == pq.read_table(inputs["tagged"]).num_rows

    code, output = invoke("switch", tagged, "--lexicon", inputs["lexicon"], "--allow-empty")
    assert code == 0, output
    switched = tmp_path / "data" / "corpus.switched.parquet"  # not corpus.tagged.switched.parquet
    assert f"in {switched}" in output
    assert artifacts.read_provenance(switched)["stage"] == "switch"
    assert sorted(p.name for p in corpus.parent.iterdir()) == [
        "corpus.conllu",
        "corpus.switched.parquet",
        "corpus.tagged.parquet",
    ]


def test_stdin_defaults_to_stdout_and_dash_streams(inputs, tmp_path):
    code, output = invoke("tag", "-", "--lang", "en", input=_stream(inputs["tagged"]))
    assert code == 0 and STDOUT in output, output
    code, output = invoke("tag", inputs["conllu"], "--lang", "en", "-o", "-")
    assert code == 0 and STDOUT in output
    assert not (inputs["conllu"].parent / "tiny.tagged.parquet").exists()


@pytest.mark.parametrize(
    ("given", "kind", "expected"),
    [
        ("corpus.txt", "tagged", "corpus.tagged.parquet"),
        ("d/hi.dev.jsonl", "tagged", "d/hi.dev.tagged.parquet"),
        ("d/hi.tagged.parquet", "switched", "d/hi.switched.parquet"),
        ("-", "switched", "-"),
    ],
)
def test_default_output_names(given, kind, expected):
    assert default_output(given, kind) == expected


def test_a_glob_input_needs_o(inputs):
    code, output = invoke("switch", str(inputs["tagged"].parent / "*.parquet"), "--lexicon", inputs["lexicon"])
    assert code == 2 and "-o is needed" in output
