"""The one way stages read and write artifacts (schemas: :mod:`cstool.io.schemas`, re-exported here).

* Inputs: a Parquet file, a directory or glob of Parquet shards, an Arrow IPC file or stream, ``-``
  (an IPC stream on stdin, whole only with its end marker: :mod:`cstool.io.streams`), or a Hugging Face
  dataset (``hf:OWNER/NAME[:CONFIG]:SPLIT``, a ``save_to_disk`` folder, a folder of data files:
  :mod:`cstool.io.hfdata`). All are read batch by batch, so memory stays flat in corpus size.
* Outputs: Parquet (default), Arrow IPC file (``.arrow``/``.feather``/``.ipc``) or ``-`` (IPC stream on
  stdout). Files are written to a temporary name in the same folder and renamed when complete, so an
  interrupted run never leaves a file that Make would take as up to date.
* Provenance: every output carries, in its schema metadata under ``cstool.provenance``, the stage, cstool
  version, options, seed, the inputs' paths and SHA-256, and the inputs' own provenance (a chain).
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob as globmod
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from cstool import __version__
from cstool.base.errors import InputError, SchemaError, first_line
from cstool.io import atomic, hfdata, streams
from cstool.io.schemas import (  # noqa: F401  (re-exported: artifacts is the one import stages need)
    METRICS,
    PRODUCED_BY,
    REPLAY_BUFFER,
    SCHEMAS,
    SCORES,
    SUMMARY,
    SWITCH_STATS,
    SWITCHED,
    TAGGED,
    TEACHER_CACHE,
    TRAIN_METRICS,
    VQA,
    VQA_PREDICTIONS,
    check_ids,
    extend_schema,
    first_null_element,
    is_text,
    register_schema,
    require_columns,
    require_list_elements,
    require_text_column,
)

PROVENANCE_KEY = b"cstool.provenance"
KIND_KEY = b"cstool.kind"
IPC_SUFFIXES = (".arrow", ".feather", ".ipc")
DEFAULT_BATCH_ROWS = 1024

# ---------------------------------------------------------------------------------------------------------
# Provenance


def jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_provenance(stage: str, *, options: Any, seed: int | None = None, inputs: Iterable[Any] = ()) -> dict:
    """Provenance record of an output. ``inputs`` are Sources or plain file paths."""
    return {
        "stage": stage,
        "cstool_version": __version__,
        "options": jsonable(options),
        "seed": seed,
        "inputs": input_records(inputs),
    }


def input_records(inputs: Iterable[Any]) -> list[dict]:
    """What a provenance records of each input (path, SHA-256 or dataset fingerprint, its own provenance);
    ``inputs`` are Sources or plain file paths."""
    records = []
    for item in inputs:
        if isinstance(item, Source):
            records.extend(item.input_records())
        else:
            path = str(item)
            records.append(
                {
                    "path": path,
                    "sha256": file_sha256(path) if os.path.isfile(path) else None,
                    "provenance": read_provenance(path),
                }
            )
    return records


def provenance_metadata(provenance: dict, kind: str) -> dict[bytes, bytes]:
    return {
        PROVENANCE_KEY: json.dumps(provenance, sort_keys=True, ensure_ascii=False).encode(),
        KIND_KEY: kind.encode(),
    }


PROVENANCE_HINT = "its provenance was damaged after cstool wrote it: write the file again with the command that made it"


def decode_provenance(raw: bytes | str, where: str) -> dict:
    """The provenance record in ``raw`` (UTF-8 JSON of an object); an InputError naming ``where`` when it is
    not that (not UTF-8, not JSON, nested too deeply, or not an object). Every reader of provenance — schema
    metadata and ``*.cstool.json`` sidecars alike — goes through here."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        value = json.loads(text)
    except UnicodeDecodeError:
        problem = "not UTF-8"
    except RecursionError:
        problem = "JSON nested too deeply"
    except ValueError as e:
        problem = f"not JSON: {first_line(e)}"
    else:
        if isinstance(value, dict):
            return value
        problem = f"a JSON {type(value).__name__}, not an object"
    raise InputError(f"the cstool provenance of {where} is damaged ({problem})", PROVENANCE_HINT)


def schema_provenance(schema: pa.Schema, where: str = "an Arrow schema") -> dict | None:
    """The provenance in a schema's metadata (None when it has none); ``where`` names the file in an error."""
    meta = schema.metadata or {}
    raw = meta.get(PROVENANCE_KEY)
    return decode_provenance(raw, where) if raw else None


def sidecar_path(path: str | os.PathLike) -> Path:
    """Where provenance of a non-Arrow output lives: ``DIR/cstool.json`` or ``FILE.cstool.json``."""
    p = Path(path)
    return p / "cstool.json" if p.is_dir() else p.with_name(p.name + ".cstool.json")


def write_sidecar(path: str | os.PathLike, provenance: dict) -> Path:
    return atomic.write_json(sidecar_path(path), provenance, sort_keys=True, indent=2, ensure_ascii=False)


def read_provenance(path: str | os.PathLike) -> dict | None:
    """Provenance of any cstool output: an Arrow artifact's metadata, or a sidecar JSON."""
    p = Path(path)
    side = sidecar_path(p)
    if side.is_file():
        try:
            raw = side.read_bytes()
        except OSError as e:
            raise InputError(f"cannot read {side}: {e.strerror or e}", PROVENANCE_HINT) from None
        return decode_provenance(raw, str(side))
    if p.is_file():
        try:
            schema = _read_file_schema(p)
        except (pa.ArrowException, OSError):
            return None
        return schema_provenance(schema, str(p))
    return None


# ---------------------------------------------------------------------------------------------------------
# Reading


def _is_ipc(path: Path) -> bool:
    return path.suffix.lower() in IPC_SUFFIXES


def _ipc_is_file_format(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(6) == b"ARROW1"


def _read_file_schema(path: Path) -> pa.Schema:
    if _is_ipc(path):
        if _ipc_is_file_format(path):
            return ipc.open_file(path).schema
        with pa.OSFile(str(path)) as f:
            return ipc.open_stream(f).schema
    return pq.read_schema(path)


class Source:
    """One logical input artifact: a file, a set of Parquet shards, stdin, or a dataset. Read it in batches."""

    def __init__(
        self,
        spec: str,
        files: list[Path],
        stream: ipc.RecordBatchStreamReader | None = None,
        tap: streams.StreamTap | None = None,
        dataset: hfdata.DatasetInput | None = None,
    ):
        self.spec = spec
        self.files = files
        self._stream = stream
        self._tap = tap
        self.dataset = dataset
        self.is_stream = stream is not None
        if stream is not None:
            self.schema = stream.schema
        elif dataset is not None:
            self.schema = dataset.schema
        else:
            self.schema = _read_file_schema(files[0])
            base = self.schema.remove_metadata()
            for other in files[1:]:
                if not _read_file_schema(other).remove_metadata().equals(base):
                    raise SchemaError(
                        f"shards of {spec} have different schemas: {files[0]} vs {other}",
                        "give shards written by the same command",
                    )

    @property
    def provenance(self) -> dict | None:
        return schema_provenance(self.schema, self.spec)

    @property
    def num_rows(self) -> int | None:
        if self.dataset is not None:
            return self.dataset.num_rows
        if self.is_stream or any(_is_ipc(f) for f in self.files):
            return None
        return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)

    def input_records(self) -> list[dict]:
        if self.dataset is not None:
            return [self.dataset.record]
        if self.is_stream:
            return [{"path": "-", "sha256": None, "provenance": self.provenance}]
        return [
            {"path": str(f), "sha256": file_sha256(f), "provenance": schema_provenance(_read_file_schema(f), str(f))}
            for f in self.files
        ]

    def iter_batches(self, batch_size: int = DEFAULT_BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        if self.is_stream:
            stream, self._stream = self._stream, None
            if stream is None:
                raise InputError("stdin was already read", "read '-' only once")
            yield from streams.whole_stream(stream, self._tap, "the Arrow stream on stdin", batch_size)
            return
        if self.dataset is not None:
            yield from self.dataset.batches(batch_size)
            return
        for f in self.files:
            rows = 0
            try:
                for batch in self._file_batches(f, batch_size):
                    rows += batch.num_rows
                    yield batch
            except (pa.ArrowException, OSError) as e:  # a damaged file: its footer read, its data not
                raise InputError(
                    f"{f} is damaged after {rows} rows ({str(e).splitlines()[0]})",
                    "write it again with the command that made it",
                ) from None

    def _file_batches(self, f: Path, batch_size: int) -> Iterator[pa.RecordBatch]:
        if not _is_ipc(f):
            yield from pq.ParquetFile(f).iter_batches(batch_size=batch_size)
        elif _ipc_is_file_format(f):
            reader = ipc.open_file(f)
            for i in range(reader.num_record_batches):
                yield from streams.rechunk(reader.get_batch(i), batch_size)
        else:
            with open(f, "rb") as fh:
                tap = streams.StreamTap(fh)
                yield from streams.whole_stream(ipc.open_stream(tap), tap, f"the Arrow stream {f}", batch_size)

    def read_all(self) -> pa.Table:
        batches = list(self.iter_batches())
        return pa.Table.from_batches(batches, schema=self.schema)


def open_source(spec: str | os.PathLike) -> Source:
    """Open an input artifact: ``-``, a file, a directory of ``*.parquet`` shards, a glob, or a Hugging Face
    dataset (``hf:OWNER/NAME[:CONFIG]:SPLIT``, ``FOLDER[:SPLIT]``: :mod:`cstool.io.hfdata`)."""
    spec = str(spec)
    dataset = hfdata.open_dataset(spec) if spec != "-" else None
    if dataset is not None:
        return Source(spec, [], dataset=dataset)
    if spec == "-":
        tap = streams.StreamTap(sys.stdin.buffer)
        try:
            stream = ipc.open_stream(tap)
        except (pa.ArrowException, OSError) as e:
            raise InputError(
                f"stdin is not an Arrow IPC stream ({e})",
                "pipe the output of a cstool command written with -o -",
            ) from None
        return Source(spec, [], stream, tap)
    path = Path(spec)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(path.glob("*.parquet"))
        if not files:
            raise InputError(f"{spec} is a directory with no *.parquet files", "give a Parquet file or shard folder")
    elif any(ch in spec for ch in "*?["):
        files = sorted(Path(p) for p in globmod.glob(spec))
        if not files:
            raise InputError(f"no files match {spec}", "check the pattern (quote it so the shell does not expand it)")
    else:
        raise InputError(f"input {spec} does not exist", "check the path")
    try:
        source = Source(spec, files)
        for f in files:  # damaged provenance is refused now, not when the outputs' provenance is made after the work
            schema_provenance(_read_file_schema(f), str(f))
    except (pa.ArrowException, OSError) as e:
        raise InputError(
            f"{spec} is not a Parquet or Arrow artifact ({str(e).splitlines()[0]})",
            "give a file written by a cstool command",
        ) from None
    return source


# ---------------------------------------------------------------------------------------------------------
# Writing


STDOUT_HINT = "give an output file with -o FILE, or send stdout to a reader with room (| cstool ... -)"


def _stdout_failed(e: OSError) -> InputError:
    """The error for a stdout that is full or closed (``>/dev/full``, a reader that went away). Its file
    descriptor is pointed at /dev/null so the interpreter's last flush at exit fails no more."""
    with contextlib.suppress(Exception):
        if sys.stdout.fileno() == 1:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    return InputError(f"cannot write the Arrow stream to stdout: {e.strerror or e}", STDOUT_HINT)


class ArtifactWriter:
    """Write batches to ``path`` atomically, with provenance in the schema metadata.

    Use as a context manager: the file appears under its name only when the block ends without error.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        schema: pa.Schema,
        *,
        kind: str,
        provenance: dict,
        row_group_rows: int = 8192,
        statistics: bool | Sequence[str] = True,
    ):
        """``statistics``: write Parquet min/max statistics for every column, none, or the named ones."""
        self.path = str(path)
        self.schema = schema.with_metadata(provenance_metadata(provenance, kind))
        self.row_group_rows = row_group_rows
        self.rows = 0
        self._tmp: Path | None = None
        self._sink = None
        if self.path == "-":
            if sys.stdout is None:
                raise InputError("-o -: stdout is closed", STDOUT_HINT)
            try:
                self._writer = ipc.new_stream(sys.stdout.buffer, self.schema)
            except OSError as e:
                raise _stdout_failed(e) from None
            return
        target = Path(self.path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = atomic.temp_path(target)
            if _is_ipc(target):
                self._sink = pa.OSFile(str(self._tmp), "wb")
                self._writer = ipc.new_file(self._sink, self.schema)
            else:
                self._writer = pq.ParquetWriter(
                    str(self._tmp),
                    self.schema,
                    compression="zstd",
                    write_statistics=statistics if isinstance(statistics, bool) else list(statistics),
                )
        except (OSError, pa.ArrowException) as e:
            self._cleanup()
            raise InputError(
                f"cannot write {self.path}: {getattr(e, 'strerror', None) or e}",
                "choose an output path in a writable folder",
            ) from None

    def write(self, data: pa.RecordBatch | pa.Table) -> None:
        if not data.schema.remove_metadata().equals(self.schema.remove_metadata()):
            raise TypeError(f"batch schema {data.schema} does not match output schema {self.schema}")
        table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
        table = table.replace_schema_metadata(self.schema.metadata)
        if isinstance(self._writer, pq.ParquetWriter):
            self._writer.write_table(table, row_group_size=self.row_group_rows)
        elif self.path == "-":
            try:
                self._writer.write_table(table)
                sys.stdout.buffer.flush()
            except OSError as e:
                raise _stdout_failed(e) from None
        else:
            self._writer.write_table(table)
        self.rows += data.num_rows

    def commit(self) -> None:
        if self.path == "-":
            try:
                self._writer.close()
                sys.stdout.buffer.flush()
            except OSError as e:
                raise _stdout_failed(e) from None
            return
        self._writer.close()
        if self._sink is not None:
            self._sink.close()
        if self._tmp is not None:
            atomic.commit(self._tmp, self.path)
            self._tmp = None

    def abort(self) -> None:
        if self.path == "-":
            # Closing would write the end-of-stream marker and a reader would take the partial stream for a
            # complete one; a cut-off message header makes the reader fail instead.
            try:
                sys.stdout.buffer.write(streams.TRUNCATED_STREAM)
                sys.stdout.buffer.flush()
            except (OSError, ValueError):
                pass
            return
        with contextlib.suppress(Exception):
            self._writer.close()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._sink is not None:
            self._sink.close()
        if self._tmp is not None:
            atomic.discard(self._tmp)
        self._tmp = None

    def __enter__(self) -> ArtifactWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def write_table(path: str | os.PathLike, table: pa.Table, *, kind: str, provenance: dict) -> None:
    """Write a whole table atomically (for small artifacts such as statistics)."""
    with ArtifactWriter(path, table.schema, kind=kind, provenance=provenance) as w:
        w.write(table)


# ---------------------------------------------------------------------------------------------------------
# Inspection (cstool info)


def describe(path: str | os.PathLike) -> dict:
    """Kind, rows, columns and provenance chain of an artifact or of a model/tagger with a sidecar."""
    p = Path(path)
    out: dict[str, Any] = {"path": str(p)}
    if p.is_file() and sidecar_path(p).is_file() or p.is_dir() and sidecar_path(p).is_file():
        out["provenance"] = read_provenance(p)
        return out
    src = open_source(p)
    meta = src.schema.metadata or {}
    out["kind"] = meta.get(KIND_KEY, b"").decode("utf-8", "replace") or None
    out["rows"] = src.num_rows
    out["columns"] = [f"{f.name}: {f.type}" for f in src.schema]
    if src.dataset is not None:
        out["dataset"] = src.dataset.record["dataset"]
    out["provenance"] = src.provenance
    return out
