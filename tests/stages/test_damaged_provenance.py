"""Provenance that is damaged — schema metadata or a ``*.cstool.json`` sidecar that is not UTF-8, not JSON,
nested too deeply or not an object — is one error line naming the file, in every stage and in ``info``,
and nothing is written."""

from __future__ import annotations

import shutil

import pyarrow.parquet as pq
import pytest

from cstool.io import artifacts

from .conftest import assert_user_error, invoke

DAMAGE = {
    "not utf-8": b"\xff\xfe{",
    "not json": b"{half",
    "a list": b"[1, 2]",
    "too deep": b"[" * 100_000 + b"]" * 100_000,
}


def damaged_artifact(src, dst, raw: bytes):
    table = pq.read_table(src)
    meta = dict(table.schema.metadata)
    meta[artifacts.PROVENANCE_KEY] = raw
    meta[artifacts.KIND_KEY] = b"\xff"
    pq.write_table(table.replace_schema_metadata(meta), dst)
    return dst


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_schema_provenance_is_one_line_naming_the_file(damage, inputs, tmp_path):
    bad = damaged_artifact(inputs["tagged"], tmp_path / "bad.parquet", DAMAGE[damage])
    out = tmp_path / "out"
    out.mkdir()
    for argv in (
        ["info", bad],
        ["switch", bad, "--lexicon", inputs["lexicon"], "-o", out / "s.parquet"],
        ["eval", "--model", inputs["lm"], "--data", f"x={bad}", "-o", out / "e.parquet"],
    ):
        code, output = invoke(*argv)
        assert_user_error(code, output, f"the cstool provenance of {bad} is damaged")
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_sidecar_beside_any_input_is_one_line_naming_it(damage, inputs, tmp_path):
    lexicon = tmp_path / "lexicon.tsv"
    shutil.copy(inputs["lexicon"], lexicon)
    side = tmp_path / "lexicon.tsv.cstool.json"
    side.write_bytes(DAMAGE[damage])
    for argv in (["info", lexicon], ["switch", inputs["tagged"], "--lexicon", lexicon, "-o", tmp_path / "s.parquet"]):
        code, output = invoke(*argv)
        assert_user_error(code, output, f"the cstool provenance of {side} is damaged")
    assert not (tmp_path / "s.parquet").exists()


def test_sound_provenance_still_reads(inputs):
    assert artifacts.read_provenance(inputs["tagged"])["stage"] == "tag"
    code, output = invoke("info", inputs["tagged"])
    assert code == 0 and '"stage": "tag"' in output.replace("'", '"'), output
