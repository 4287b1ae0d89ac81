"""A stream is whole only with its end marker: every stage that reads ``-`` refuses an Arrow IPC stream that
stops without its end-of-stream marker (a writer killed between two batches) or inside a message, says how
many rows arrived, exits 2 and writes nothing."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from cstool.io import artifacts

from .conftest import assert_user_error, invoke

CSTOOL = str(Path(sys.executable).with_name("cstool"))


def stream_bytes(table: pa.Table, *, rows_per_batch: int, end: str) -> bytes:
    """``table`` as an IPC stream: whole (``end='marker'``), cut after its last whole batch (``'between'``)
    or inside its last batch (``'inside'``)."""
    sink = io.BytesIO()
    writer = ipc.new_stream(sink, table.schema)
    batches = table.to_batches(max_chunksize=rows_per_batch)
    for batch in batches[:-1]:
        writer.write_batch(batch)
    before_last = len(sink.getvalue())
    writer.write_batch(batches[-1])
    if end == "between":
        return sink.getvalue()
    if end == "inside":
        data = sink.getvalue()
        return data[: (before_last + len(data)) // 2]
    writer.close()
    return sink.getvalue()


def partial(path: Path, end: str) -> tuple[bytes, int]:
    """The stream of the artifact at ``path`` cut as ``end`` says, and the rows a reader gets before the cut."""
    table = pq.read_table(path)
    rows_per_batch = max(1, table.num_rows // 3)
    arrived = table.num_rows if end == "between" else rows_per_batch * (len(table.to_batches(rows_per_batch)) - 1)
    return stream_bytes(table, rows_per_batch=rows_per_batch, end=end), arrived


# stage → (the artifact streamed on stdin, argv with {OUT} for the output)
READERS = {
    "tag": ("tagged", ["tag", "-", "--lang", "en", "-o", "{OUT}.parquet"]),
    "switch": ("tagged", ["switch", "-", "--lexicon", "{lexicon}", "-o", "{OUT}.parquet", "--allow-empty"]),
    "eval": ("tagged", ["eval", "--model", "{lm}", "--data", "x=-", "-o", "{OUT}.parquet"]),
    "teacher-cache": ("tagged", ["teacher-cache", "-", "--teacher", "{lm}", "-o", "{OUT}.parquet"]),
    "distill": (
        "tagged",
        ["distill", "-", "--student", "{lm}", "--max-steps", "1", "--block-size", "16", "-o", "{OUT}"],
    ),
    "train-tokenizer": ("tagged", ["train-tokenizer", "-", "--vocab-size", "300", "-o", "{OUT}"]),
    "build-vlm": ("vqa", ["build-vlm", "-", "-o", "{OUT}"]),
    "replay-train": (
        "tagged",
        ["replay-train", "--base", "{lm}", "--task", "en={tagged}", "--task", "hi=-", "-o", "{OUT}"],
    ),
}


@pytest.mark.parametrize("end", ["between", "inside"])
@pytest.mark.parametrize("stage", list(READERS))
def test_a_cut_stream_is_refused_with_the_rows_that_arrived(stage, end, inputs, tmp_path):
    kind, argv = READERS[stage]
    data, arrived = partial(inputs[kind], end)
    out = tmp_path / "out"
    values = {**{k: str(v) for k, v in inputs.items()}, "OUT": str(out)}
    code, output = invoke(*[a.format(**values) for a in argv], input=data)
    said = "ended without its end-of-stream marker" if end == "between" else "is truncated"
    assert_user_error(code, output, said, f"after {arrived} rows")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stage", ["tag", "switch", "train-tokenizer"])
def test_the_whole_stream_is_read(stage, inputs, tmp_path):
    kind, argv = READERS[stage]
    data = stream_bytes(pq.read_table(inputs[kind]), rows_per_batch=2, end="marker")
    values = {**{k: str(v) for k, v in inputs.items()}, "OUT": str(tmp_path / "out")}
    code, output = invoke(*[a.format(**values) for a in argv], input=data)
    assert code == 0, output


@pytest.mark.parametrize("end", ["between", "inside", "marker"])
def test_a_stream_file_is_whole_only_with_its_marker(inputs, tmp_path, end):
    table = pq.read_table(inputs["tagged"])
    path = tmp_path / "x.arrow"
    path.write_bytes(stream_bytes(table, rows_per_batch=1, end=end))
    src = artifacts.open_source(path)
    if end == "marker":
        assert src.read_all().num_rows == table.num_rows
    else:
        with pytest.raises(
            artifacts.InputError, match=f"after {table.num_rows if end == 'between' else table.num_rows - 1} rows"
        ):
            src.read_all()


def test_a_writer_killed_between_batches_fails_the_reader(inputs, tmp_path):
    """The instance of the issue: the writer of ``-o -`` dies by SIGKILL; ``switch -`` must not exit 0."""
    (tmp_path / "partial.bin").write_bytes(
        stream_bytes(pq.read_table(inputs["tagged"]), rows_per_batch=1, end="between")
    )
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; sys.stdout.buffer.write(open(sys.argv[1], 'rb').read()); sys.stdout.flush(); "
            "time.sleep(60)",
            str(tmp_path / "partial.bin"),
        ],
        stdout=subprocess.PIPE,
    )
    out = tmp_path / "x.parquet"
    reader = subprocess.Popen(
        [CSTOOL, "switch", "-", "--lexicon", str(inputs["lexicon"]), "--allow-empty", "-o", str(out)],
        stdin=writer.stdout,
        stderr=subprocess.PIPE,
    )
    writer.stdout.close()
    with pytest.raises(subprocess.TimeoutExpired):  # the reader waits: the writer has not ended the stream
        reader.wait(timeout=3)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    _, err = reader.communicate(timeout=120)
    assert reader.returncode == 2, err.decode()
    # where the reader notices the end (between batches or inside the next one) depends on timing: both refuse
    assert (b"end-of-stream marker after" in err or b"is truncated after" in err) and not out.exists()


@pytest.mark.parametrize("extra", [b"\x00", b"garbage after the end", "second stream"])
@pytest.mark.parametrize("stage", ["switch", "tag"])
def test_bytes_after_the_end_marker_are_refused(stage, extra, inputs, tmp_path):
    kind, argv = READERS[stage]
    table = pq.read_table(inputs[kind])
    data = stream_bytes(table, rows_per_batch=2, end="marker")
    data += data if extra == "second stream" else extra  # a second stream appended would be dropped unread
    values = {**{k: str(v) for k, v in inputs.items()}, "OUT": str(tmp_path / "out")}
    code, output = invoke(*[a.format(**values) for a in argv], input=data)
    assert_user_error(code, output, "has bytes after its end-of-stream marker", f"after {table.num_rows} rows")
    assert list(tmp_path.iterdir()) == []
    path = tmp_path / "x.arrow"  # a stream file, too
    path.write_bytes(data)
    with pytest.raises(artifacts.InputError, match="has bytes after its end-of-stream marker"):
        artifacts.open_source(path).read_all()


@pytest.mark.parametrize("stdout", ["full", "closed"])
def test_stdout_full_or_closed_is_one_line(stdout, inputs, tmp_path):
    import os

    argv = [CSTOOL, "-q", "switch", str(inputs["tagged"]), "--lexicon", str(inputs["lexicon"]), "-o", "-"]
    argv += ["--allow-empty"]  # the fixture's lexicon is in another script: a warning, which -q silences
    if stdout == "full":
        if not os.path.exists("/dev/full"):
            pytest.skip("no /dev/full")
        with open("/dev/full", "wb") as full:
            proc = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, timeout=120)
    else:
        proc = subprocess.run(argv, stderr=subprocess.PIPE, timeout=120, preexec_fn=lambda: os.close(1))
    err = proc.stderr.decode()
    assert_user_error(proc.returncode, err, "stdout")
    assert err.count("\n") == 2, err  # the error and its hint, and nothing printed at exit
