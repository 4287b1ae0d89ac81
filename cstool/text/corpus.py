"""Text inputs as batches of rows: ``.txt``, ``.jsonl``, CoNLL-U, and tables (Parquet/Arrow artifacts, Hugging
Face datasets) through :func:`cstool.io.artifacts.open_source`.

:func:`read_input` yields raw batches with the columns ``id`` and ``text``, the gold ``tokens``, ``upos`` and
``lemmas`` of a CoNLL-U file or an already tagged table, and a table's or JSON object's other columns carried
through. Rows outside the shard, and blank lines of a text file, are skipped; every batch holds at most
``batch_size`` rows. This is what ``cstool tag`` reads (:mod:`cstool.stages.tag`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from cstool.base.errors import InputError
from cstool.base.errors import first_line as error_line
from cstool.io import artifacts
from cstool.io.conllu import read_conllu
from cstool.io.lines import utf8_lines

TEXT_SUFFIXES = (".txt",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
CONLLU_SUFFIXES = (".conllu", ".conll")
_GOLD = artifacts.TAGGED.remove(artifacts.TAGGED.get_field_index("lang"))
_JSON_TYPES = {list: "list", dict: "object", int: "number", float: "number", bool: "boolean"}


class CorpusOptions(Protocol):
    """What reading needs of a stage's options (``cstool tag``'s TagConfig has it)."""

    text_column: str  # the text column of .jsonl and table inputs
    batch_size: int  # rows per batch
    retag: bool  # gold tokens will be tagged again: their UPOS need not be strings

    def in_shard(self, ordinal: int) -> bool: ...


def _read_txt(path: Path, cfg: CorpusOptions) -> Iterator[pa.RecordBatch]:
    ids: list[str] = []
    texts: list[str] = []
    for lineno, line in utf8_lines(path):
        if not cfg.in_shard(lineno - 1) or not line.strip():
            continue
        ids.append(str(lineno))
        texts.append(line.strip())
        if len(ids) == cfg.batch_size:
            yield pa.record_batch({"id": ids, "text": texts})
            ids, texts = [], []
    if ids:
        yield pa.record_batch({"id": ids, "text": texts})


def _read_jsonl(path: Path, cfg: CorpusOptions) -> Iterator[pa.RecordBatch]:
    carried_types: dict[str, pa.DataType] | None = None
    rows: list[dict] = []
    first_line = 0

    def flush() -> pa.RecordBatch:
        nonlocal carried_types
        columns: dict[str, list] = {"id": [], "text": []}
        keys = sorted({k for r in rows for k in r} - {cfg.text_column, "id"} - set(artifacts.TAGGED.names))
        if carried_types is None:
            carried_types = {}
            for k in keys:
                try:
                    t = pa.array([r.get(k) for r in rows]).type
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError) as e:
                    raise InputError(
                        f"{path}: lines {first_line}+: the values of key {k!r} do not fit one column ({error_line(e)})",
                        "give each key one type throughout the file, and numbers that fit 64 bits",
                    ) from None
                carried_types[k] = pa.string() if pa.types.is_null(t) else t
        extra = set(keys) - set(carried_types)
        if extra:
            raise InputError(
                f"{path}: lines {first_line}+ have keys not in the first lines: {sorted(extra)}",
                "give every line the same keys (null where a value is missing)",
            )
        for r in rows:
            columns["id"].append(str(r["id"]))
            columns["text"].append(r["text"])
        arrays = [pa.array(columns["id"], pa.string()), pa.array(columns["text"], pa.string())]
        names = ["id", "text"]
        for k, t in carried_types.items():
            values = [r.get(k) for r in rows]
            try:
                arrays.append(pa.array(values, type=t))
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
                raise InputError(
                    f"{path}: lines {first_line}+: column {k!r} changes type (first lines gave {t})",
                    "give each key one type throughout the file",
                ) from None
            names.append(k)
        return pa.record_batch(arrays, names=names)

    ordinal = -1
    for lineno, line in utf8_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{lineno}: not valid JSON ({e.msg})", "write one JSON object per line") from None
        except RecursionError:
            raise InputError(
                f"{path}:{lineno}: the JSON nests too deeply to read", "write one flat JSON object per line"
            ) from None
        if not isinstance(obj, dict):
            raise InputError(
                f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}", "write one object per line"
            )
        ordinal += 1
        if cfg.text_column not in obj:
            raise InputError(
                f"{path}:{lineno}: no column {cfg.text_column!r}; the line has [{', '.join(obj)}]",
                "choose the text column with --text-column NAME",
            )
        if not cfg.in_shard(ordinal):
            continue
        text = obj[cfg.text_column]
        if text is not None and not isinstance(text, str):
            raise InputError(
                f"{path}:{lineno}: {cfg.text_column!r} is a {_JSON_TYPES.get(type(text), type(text).__name__)}, "
                "not text",
                "give the text as a JSON string, or choose the text column with --text-column NAME",
            )
        obj = dict(obj)
        obj["text"] = "" if text is None else str(text)
        obj["id"] = obj.get("id", lineno)
        if not rows:
            first_line = lineno
        rows.append(obj)
        if len(rows) == cfg.batch_size:
            yield flush()
            rows = []
    if rows:
        yield flush()


def _read_table(src: artifacts.Source, cfg: CorpusOptions) -> Iterator[pa.RecordBatch]:
    path = src.spec
    artifacts.require_text_column(src.schema, cfg.text_column, where=path)
    carried = [n for n in src.schema.names if n not in artifacts.TAGGED.names and n != cfg.text_column]
    gold = "tokens" in src.schema.names and "upos" in src.schema.names
    if gold:
        artifacts.require_columns(src.schema, "tagged", stage="tag", columns=["tokens", "upos"])
    ordinal = 0
    for batch in src.iter_batches(cfg.batch_size):
        idx = [i for i in range(batch.num_rows) if cfg.in_shard(ordinal + i)]
        ids = (
            [str(v) for v in batch.column("id").to_pylist()]
            if "id" in batch.schema.names
            else [str(ordinal + i) for i in range(batch.num_rows)]
        )
        ordinal += batch.num_rows
        if not idx:
            continue
        sub = batch.take(pa.array(idx))
        if gold:  # tokens (and, kept as they are, tags) must be strings
            elements = {"tokens": "token"} if cfg.retag else {"tokens": "token", "upos": "UPOS tag"}
            artifacts.require_list_elements(sub, elements, [ids[i] for i in idx], where=f"{path}: ")
        texts = ["" if t is None else str(t) for t in sub.column(cfg.text_column).to_pylist()]
        cols = {"id": pa.array([ids[i] for i in idx], pa.string()), "text": pa.array(texts, pa.string())}
        if gold:  # an already tagged artifact: keep its tokens/UPOS (retag re-tags its tokens)
            for n in ("tokens", "upos", "lemmas"):
                cols[n] = sub.column(n) if n in sub.schema.names else pa.nulls(len(idx), _GOLD.field(n).type)
        for n in carried:
            cols[n] = sub.column(n)
        yield pa.record_batch(list(cols.values()), names=list(cols))


def _read_conllu(path: Path, cfg: CorpusOptions) -> Iterator[pa.RecordBatch]:
    rows: dict[str, list] = {"id": [], "text": [], "tokens": [], "upos": [], "lemmas": []}
    gold = None if cfg.retag else "or tag the gold tokens with Stanza: --retag"
    for ordinal, sent in enumerate(read_conllu(path, gold_upos=gold)):
        if not cfg.in_shard(ordinal):
            continue
        rows["id"].append(sent.sent_id or str(ordinal + 1))
        rows["text"].append(sent.text)
        rows["tokens"].append(sent.forms)
        rows["upos"].append(sent.upos)
        rows["lemmas"].append(None if all(lem is None for lem in sent.lemmas) else sent.lemmas)
        if len(rows["id"]) == cfg.batch_size:
            yield pa.record_batch(rows, schema=_GOLD)
            rows = {k: [] for k in rows}
    if rows["id"]:
        yield pa.record_batch(rows, schema=_GOLD)


def read_input(path: str, cfg: CorpusOptions) -> tuple[Iterator[pa.RecordBatch], list]:
    """Raw batches of the input (columns id, text, + gold tokens/upos/lemmas for CoNLL-U, + carried
    columns) and the provenance inputs to record for it."""
    suffix = Path(path).suffix.lower() if path != "-" and Path(path).is_file() else ""  # else an artifact or dataset
    readers = {
        **dict.fromkeys(TEXT_SUFFIXES, _read_txt),
        **dict.fromkeys(JSONL_SUFFIXES, _read_jsonl),
        **dict.fromkeys(CONLLU_SUFFIXES, _read_conllu),
    }
    if suffix in readers:
        return readers[suffix](Path(path), cfg), [path]
    src = artifacts.open_source(path)
    return _read_table(src, cfg), [src]


def count_rows(path: str, cfg: CorpusOptions) -> int | None:
    """How many rows :func:`read_input` will yield (for a progress bar's total), counted without parsing: the
    non-blank lines of a text or JSON-lines file, the sentences of a CoNLL-U file, a Parquet file's or a
    dataset's row count; rows outside the shard are left out. None where it is not known before reading
    (stdin, an Arrow IPC stream)."""
    if path == "-":
        return None
    suffix = Path(path).suffix.lower() if Path(path).is_file() else ""
    if suffix in TEXT_SUFFIXES:  # sharded by line number, blank lines included
        return sum(1 for n, line in utf8_lines(path, bad="none") if line and line.strip() and cfg.in_shard(n - 1))
    if suffix in JSONL_SUFFIXES:  # sharded by the ordinal of the non-blank lines
        ordinals = sum(1 for _, line in utf8_lines(path, bad="none") if line and line.strip())
    elif suffix in CONLLU_SUFFIXES:  # sharded by sentence
        ordinals, inside = 0, False
        for _, line in utf8_lines(path, bad="none"):
            if not (line or "").strip():
                inside = False
            elif not line.startswith("#") and not inside:
                ordinals, inside = ordinals + 1, True
    else:
        try:
            ordinals = artifacts.open_source(path).num_rows
        except (OSError, InputError, ValueError):
            return None  # read_input will say what is wrong with it
        if ordinals is None:
            return None
    return sum(1 for i in range(ordinals) if cfg.in_shard(i))


def is_text_file(path: str) -> bool:
    """Whether ``path`` is a file in one of the text formats ``tag`` reads (.txt, .jsonl, CoNLL-U)."""
    suffix = Path(path).suffix.lower() if path != "-" and Path(path).is_file() else ""
    return suffix in (*TEXT_SUFFIXES, *JSONL_SUFFIXES, *CONLLU_SUFFIXES)


@dataclass(frozen=True)
class _WholeFile:
    """Reading options for a whole text file (no shard), its texts in ``text_column``."""

    text_column: str
    batch_size: int = 8192
    retag: bool = False

    def in_shard(self, ordinal: int) -> bool:
        return True


_EMPTY_TEXT = pa.schema([("id", pa.string()), ("text", pa.string())])


def read_text_table(path: str, text_column: str = "text") -> pa.Table:
    """A text file (see :func:`is_text_file`) as one table of ``id`` and ``text`` (+ carried columns), read as
    ``tag`` reads it: one text per non-empty line of a .txt, a JSON object's ``text_column``, a CoNLL-U
    sentence. Eval sets and replay-train's dev sets are read this way."""
    batches = list(read_input(path, _WholeFile(text_column))[0])
    return pa.Table.from_batches(batches) if batches else _EMPTY_TEXT.empty_table()
