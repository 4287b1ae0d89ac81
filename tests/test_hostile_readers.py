"""Property tests: readers of hostile bytes keep their promise — a valid value, or one ``CstoolError`` line,
never another exception. The cases are generated with fixed seeds (``derandomize``), so every run checks the
same inputs and a failure reproduces."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.ipc as ipc
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cstool.base.errors import CstoolError
from cstool.cli.options import MAX_CONFIG_NODES, _bounded_loader, _TooManyValues
from cstool.io import artifacts, streams

SETTINGS = settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))

json_text = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
).map(repr)


@SETTINGS
@given(st.one_of(st.binary(max_size=64), json_text.map(str.encode), st.text(max_size=64).map(str.encode)))
def test_provenance_bytes_decode_or_are_one_error(raw):
    try:
        value = artifacts.decode_provenance(raw, "x.parquet")
    except CstoolError as e:
        assert "x.parquet" in e.message and "\n" not in e.message
    else:
        assert isinstance(value, dict)


def _stream(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with ipc.new_stream(sink, table.schema) as w:
        w.write_table(table, max_chunksize=2)
    return sink.getvalue()


WHOLE = _stream(pa.table({"id": ["a", "b", "c"], "n": [1, 2, 3]}))


@SETTINGS
@given(st.integers(0, len(WHOLE)), st.binary(max_size=16), st.integers(0, len(WHOLE) - 1), st.integers(0, 255))
def test_a_stream_cut_extended_or_flipped_is_read_whole_or_refused(cut, extra, at, byte):
    data = bytearray(WHOLE[:cut] + extra)
    if at < len(data):
        data[at] = byte
    tap = streams.StreamTap(io.BytesIO(bytes(data)))
    try:
        reader = ipc.open_stream(tap)
        rows = sum(b.num_rows for b in streams.whole_stream(reader, tap, "the stream", 10))
    except (pa.ArrowException, OSError):
        return  # the schema message itself is unreadable: open_source turns this into an InputError
    except CstoolError as e:
        assert "\n" not in e.message
        return
    # read as whole: then it must be exactly the stream that was written (a flipped byte may fall in a value)
    assert bytes(data)[-len(streams.END_OF_STREAM) :] == streams.END_OF_STREAM and len(data) == len(WHOLE)
    assert rows == 3


@SETTINGS
@given(st.integers(1, 9), st.integers(1, 9))
def test_yaml_aliases_load_within_the_bound_or_are_refused(width, depth):
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"l{k}: &l{k} [{', '.join([f'*l{k - 1}'] * width)}]" for k in range(1, depth)]
    size = [1 + width]  # each list node and its items, aliases expanded
    for _ in range(1, depth):
        size.append(1 + width * size[-1])
    expanded = 1 + sum(1 + n for n in size)  # the mapping, each key and each value
    load = lambda: yaml.load("\n".join(lines), Loader=_bounded_loader())
    if expanded > MAX_CONFIG_NODES:
        with pytest.raises(_TooManyValues):
            load()
    else:
        assert len(load()) == depth
