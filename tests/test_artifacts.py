"""The artifact layer: formats, '-' streams, shards, schema checks, atomic writes, provenance chains."""

from __future__ import annotations

import io
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cstool.base.errors import InputError, SchemaError
from cstool.io import artifacts, paths


def _tagged(n: int, start: int = 0) -> pa.Table:
    return pa.table(
        {
            "id": [str(i) for i in range(start, start + n)],
            "text": [f"w{i} x" for i in range(start, start + n)],
            "tokens": [[f"w{i}", "x"] for i in range(start, start + n)],
            "upos": [["NOUN", "X"] for _ in range(n)],
            "lemmas": [None] * n,
            "lang": ["hi"] * n,
        },
        schema=artifacts.TAGGED,
    )


def _write(path, table, stage="test", options=None, inputs=()):
    prov = artifacts.make_provenance(stage, options=options or {"k": 1}, seed=3, inputs=inputs)
    artifacts.write_table(path, table, kind="tagged", provenance=prov)


@pytest.mark.parametrize("name", ["a.parquet", "a.arrow", "a.feather"])
def test_roundtrip_formats_keep_rows_schema_and_provenance(tmp_path, name):
    t = _tagged(5)
    _write(tmp_path / name, t)
    src = artifacts.open_source(tmp_path / name)
    assert src.read_all().remove_column(0).equals(t.remove_column(0))
    assert src.read_all().column("id").to_pylist() == ["0", "1", "2", "3", "4"]
    assert src.provenance["stage"] == "test" and src.provenance["seed"] == 3
    assert src.schema.metadata[artifacts.KIND_KEY] == b"tagged"


def test_ipc_stream_file_is_read(tmp_path):
    t = _tagged(3)
    with pa.OSFile(str(tmp_path / "s.arrow"), "wb") as f, pa.ipc.new_stream(f, t.schema) as w:
        w.write_table(t)
    assert artifacts.open_source(tmp_path / "s.arrow").read_all().num_rows == 3


def test_directory_and_glob_of_shards_read_in_name_order(tmp_path):
    _write(tmp_path / "shards" / "part-1.parquet", _tagged(2, start=10))
    _write(tmp_path / "shards" / "part-0.parquet", _tagged(3))
    for spec in (tmp_path / "shards", str(tmp_path / "shards" / "part-*.parquet")):
        src = artifacts.open_source(spec)
        assert src.read_all().column("id").to_pylist() == ["0", "1", "2", "10", "11"]
        assert src.num_rows == 5
        assert len(src.input_records()) == 2


def test_batches_stream_in_requested_sizes(tmp_path):
    path = tmp_path / "big.parquet"
    prov = artifacts.make_provenance("test", options={})
    with artifacts.ArtifactWriter(path, artifacts.TAGGED, kind="tagged", provenance=prov, row_group_rows=100) as w:
        for k in range(5):
            w.write(_tagged(100, start=100 * k))
    assert pq.ParquetFile(path).metadata.num_row_groups == 5
    sizes = [b.num_rows for b in artifacts.open_source(path).iter_batches(64)]
    assert sum(sizes) == 500 and max(sizes) <= 64


def test_stdin_stdout_stream(monkeypatch):
    buf = io.BytesIO()

    class FakeStd:
        buffer = buf

    monkeypatch.setattr(sys, "stdout", FakeStd)
    prov = artifacts.make_provenance("up", options={})
    artifacts.write_table("-", _tagged(4), kind="tagged", provenance=prov)
    buf.seek(0)

    class FakeIn:
        buffer = buf

    monkeypatch.setattr(sys, "stdin", FakeIn)
    src = artifacts.open_source("-")
    assert src.read_all().num_rows == 4
    assert src.input_records() == [{"path": "-", "sha256": None, "provenance": prov}]


def test_missing_columns_message_names_them_and_the_producing_command():
    schema = pa.schema([("id", pa.string()), ("text", pa.string())])
    with pytest.raises(SchemaError) as e:
        artifacts.require_columns(schema, "tagged", stage="switch", columns=["tokens", "upos"])
    assert e.value.message == "switch needs columns [tokens, upos]; input has [id, text]"
    assert e.value.hint.startswith("Produce them with: cstool tag")


def test_wrong_column_type_is_a_schema_error():
    schema = pa.schema([("tokens", pa.string()), ("upos", pa.list_(pa.string()))])
    with pytest.raises(SchemaError, match="tokens is string, expected list<item: string>"):
        artifacts.require_columns(schema, "tagged", stage="switch", columns=["tokens", "upos"])


def test_extend_schema_keeps_extra_columns_after_known_ones():
    inp = pa.schema([("extra", pa.int64()), ("id", pa.string())])
    out = artifacts.extend_schema(artifacts.TAGGED, inp, [pa.field("n", pa.int32())])
    assert out.names == artifacts.TAGGED.names + ["n", "extra"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_interrupted_write_leaves_no_file(tmp_path, error):
    path = tmp_path / "out.parquet"
    prov = artifacts.make_provenance("test", options={})
    with pytest.raises(error), artifacts.ArtifactWriter(path, artifacts.TAGGED, kind="tagged", provenance=prov) as w:
        w.write(_tagged(3))
        raise error("killed mid-write")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_is_an_input_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="cannot write"):
        paths.check_writable(blocker / "out.parquet")
    with pytest.raises(InputError, match="cannot write"):
        artifacts.ArtifactWriter(blocker / "out.parquet", artifacts.TAGGED, kind="tagged", provenance={})


def test_provenance_chain_records_input_hash_and_upstream(tmp_path):
    first = tmp_path / "first.parquet"
    _write(first, _tagged(2), stage="tag", options={"lang": "hi"})
    second = tmp_path / "second.parquet"
    _write(second, _tagged(2), stage="switch", options={"ratio": 0.3}, inputs=[artifacts.open_source(first)])
    info = artifacts.describe(second)
    assert info["kind"] == "tagged" and info["rows"] == 2
    prov = info["provenance"]
    assert prov["stage"] == "switch" and prov["options"] == {"ratio": 0.3}
    (inp,) = prov["inputs"]
    assert inp["sha256"] == artifacts.file_sha256(first)
    assert inp["provenance"]["stage"] == "tag" and inp["provenance"]["options"] == {"lang": "hi"}


def test_identical_writes_are_byte_identical(tmp_path):
    _write(tmp_path / "a.parquet", _tagged(50))
    _write(tmp_path / "b.parquet", _tagged(50))
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_sidecar_provenance_for_non_arrow_outputs(tmp_path):
    model = tmp_path / "tagger.pt"
    model.write_bytes(b"weights")
    artifacts.write_sidecar(model, {"stage": "train-tagger"})
    assert artifacts.read_provenance(model) == {"stage": "train-tagger"}
    assert artifacts.describe(model)["provenance"]["stage"] == "train-tagger"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p / "nope.parquet", "does not exist"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no *.parquet files"),
        (lambda p: p / "no-*.parquet", "no files match"),
        (lambda p: (p / "bad.parquet").write_text("not parquet") and p / "bad.parquet", "not a Parquet or Arrow"),
    ],
)
def test_bad_inputs(tmp_path, make, message):
    with pytest.raises(InputError, match=message.replace("*", r"\*")):
        artifacts.open_source(make(tmp_path))


def test_shards_with_different_schemas_are_refused(tmp_path):
    _write(tmp_path / "d" / "a.parquet", _tagged(1))
    other = pa.table({"x": [1]})
    artifacts.write_table(tmp_path / "d" / "b.parquet", other, kind="other", provenance={})
    with pytest.raises(SchemaError, match="different schemas"):
        artifacts.open_source(tmp_path / "d")


def test_a_failed_stdout_stream_reads_as_truncated(monkeypatch):
    buf = io.BytesIO()

    class FakeStd:
        buffer = buf

    monkeypatch.setattr(sys, "stdout", FakeStd)
    with (
        pytest.raises(RuntimeError),
        artifacts.ArtifactWriter("-", artifacts.TAGGED, kind="tagged", provenance={}) as w,
    ):
        w.write(_tagged(2))
        raise RuntimeError("failed mid-stream")
    buf.seek(0)

    class FakeIn:
        buffer = buf

    monkeypatch.setattr(sys, "stdin", FakeIn)
    src = artifacts.open_source("-")
    with pytest.raises(InputError, match="truncated"):
        src.read_all()
