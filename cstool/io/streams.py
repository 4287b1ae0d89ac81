"""Arrow IPC streams (``-`` on stdin and stdout): a stream is whole only with its end marker.

A reader takes an IPC stream for complete only when it ends with the end-of-stream marker; one that stops
between two messages (its writer was killed) or inside one is an error saying how many rows arrived. A
writer that fails mid-stream ends it with a cut-off message header instead of the marker, so the reader
fails too (``TRUNCATED_STREAM``). Bytes after the end-of-stream marker (a second stream appended, garbage)
are an error too: they would otherwise be dropped without a word.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from cstool.base.errors import InputError

# An IPC continuation marker announcing 64 bytes of message metadata that never come.
TRUNCATED_STREAM = b"\xff\xff\xff\xff\x40\x00\x00\x00"

# The end-of-stream marker of the Arrow IPC stream format: a continuation token and a zero length.
END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"


class StreamTap(io.RawIOBase):
    """A readable file that remembers how it ended: whether the last read got all it asked for, and the last
    bytes read. The IPC reader stops at the end-of-stream marker, or at the end of the input when a writer
    died between two messages; only the first is a whole stream (:meth:`ended_with_marker`)."""

    def __init__(self, raw: Any):
        super().__init__()
        self.raw = raw
        self.tail = b""
        self.short = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.short = size is not None and size >= 0 and len(data) < size
        self.tail = (self.tail + data[-len(END_OF_STREAM) :])[-len(END_OF_STREAM) :]
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def ended_with_marker(self) -> bool:
        return not self.short and self.tail == END_OF_STREAM


def whole_stream(
    stream: ipc.RecordBatchStreamReader, tap: StreamTap | None, what: str, batch_size: int
) -> Iterator[pa.RecordBatch]:
    """The batches of an IPC stream; an InputError, after the last batch that arrived, when the stream was
    cut off (in a message, or between messages: no end-of-stream marker). Its rows are then not whole, so
    a stage reading it fails and writes nothing."""
    rows = 0
    hint = "the command writing it stopped early (killed, or failed: see its error above); run it again"
    try:
        for batch in stream:
            rows += batch.num_rows
            yield from rechunk(batch, batch_size)
    except (pa.ArrowException, OSError) as e:
        raise InputError(f"{what} is truncated after {rows} rows ({str(e).splitlines()[0]})", hint) from None
    if tap is not None and not tap.ended_with_marker():
        raise InputError(f"{what} ended without its end-of-stream marker after {rows} rows", hint)
    if tap is not None and tap.raw.read(1):
        raise InputError(
            f"{what} has bytes after its end-of-stream marker (after {rows} rows): not one whole stream",
            "give one Arrow stream per input (two streams written one after the other are two inputs)",
        )


def rechunk(batch: pa.RecordBatch, size: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, batch.num_rows, size):
        yield batch.slice(start, size)
