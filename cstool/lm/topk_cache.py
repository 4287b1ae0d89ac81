"""The teacher top-k cache format: per training block, the token ids, the teacher's top-k ids and
log-probs at temperature τ, and the log of the remaining (tail) mass. :func:`cache_batch` makes one record
batch of the ``teacher_cache`` artifact; :func:`load_teacher_cache` reads a cache back for a distill run
(a file, or a folder of shards written by several processes, read in block order) and refuses one made from
other inputs; :func:`cache_teacher` names the teacher folder whose tokenizer made a cache.

A cache for ``distill --cross-tokenizer uld|spans`` (``teacher-cache --student-tokenizer S_TOK``, artifact
kind ``cross_teacher_cache``) is made on the rows those losses train on (:func:`cstool.lm.cross_tokenizer.
cross_blocks`: student chunks, each tokenised by the teacher too). Both losses compare only the teacher's
sorted probabilities, so per teacher position it keeps the k largest log-probs at τ in decreasing order (no
ids), the log tail mass, the teacher's token id and its byte end in the chunk's text (what ``spans`` pairs
on), and per row the teacher tokens of each chunk: :func:`load_cross_teacher_cache` rebuilds the training
rows from the student's tokenizer and the cache alone, with no teacher model or tokenizer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from cstool.base.errors import CstoolError, InputError
from cstool.io import artifacts
from cstool.models import hf

CROSS_TEACHER_CACHE = artifacts.register_schema(
    "cross_teacher_cache",
    pa.schema(
        [
            pa.field("block", pa.int64(), nullable=False),
            pa.field("length", pa.int32(), nullable=False),  # student tokens in the row
            pa.field("input_ids", pa.list_(pa.int32())),  # the student's ids, block_size of them
            pa.field("teacher_ids", pa.list_(pa.int32())),  # the teacher's ids, teacher_length of them
            pa.field("teacher_ends", pa.list_(pa.int32())),  # byte end of each in its chunk's text (BOS: 0)
            pa.field("teacher_segments", pa.list_(pa.int32())),  # teacher tokens of each chunk of the row
            pa.field("sorted_logprobs", pa.list_(pa.float32())),  # teacher_length·k, decreasing per position
            pa.field("tail_logprob", pa.list_(pa.float32())),  # teacher_length: log mass outside the top k
        ]
    ),
    "cstool teacher-cache DATA --teacher MODEL --student-tokenizer S_TOK -o CACHE.parquet",
)


def cache_batch(
    start: int, lengths: np.ndarray, ids: np.ndarray, top_ids: np.ndarray, top_lp: np.ndarray, tail: np.ndarray
) -> pa.RecordBatch:
    """Blocks ``start … start+B-1``: ``lengths [B]``, ``ids [B, L]``, ``top_ids/top_lp [B, L, K]``, ``tail [B, L]``."""
    b = ids.shape[0]
    return pa.record_batch(
        [
            pa.array(np.arange(start, start + b), pa.int64()),
            pa.array(lengths.astype(np.int32), pa.int32()),
            _lists(ids.astype(np.int32), pa.int32()),
            _lists(top_ids.astype(np.int32).reshape(b, -1), pa.int32()),
            _lists(top_lp.astype(np.float16).reshape(b, -1), pa.float16()),
            _lists(tail.astype(np.float32), pa.float32()),
        ],
        schema=artifacts.TEACHER_CACHE,
    )


def _lists(values: np.ndarray, type_: pa.DataType) -> pa.Array:
    """Rows of a 2-D array as an Arrow list column, without copying row by row."""
    rows, width = values.shape
    offsets = pa.array(np.arange(0, (rows + 1) * width, width, dtype=np.int32), pa.int32())
    return pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1), type_))


def load_teacher_cache(
    path: str,
    *,
    ids: np.ndarray,
    fingerprint: str,
    block_size: int,
    temperature: float,
    data_sources: list[artifacts.Source],
    text_column: str,
) -> dict[str, np.ndarray]:
    """Read a cache made for exactly these training blocks; refuse one made from other inputs.

    Returns ``topk_ids [N, L, K]``, ``topk_logprobs [N, L, K]``, ``tail_logprob [N, L]``.
    """
    hint = (
        "rebuild it with: cstool teacher-cache DATA --teacher MODEL -o CACHE.parquet with the same DATA, "
        "--block-size, --temperature and --text-column"
    )
    src, opts = _open_cache(path, hint)
    if opts.get("student_fingerprint"):
        raise InputError(
            f"teacher cache {path} was made for distill --cross-tokenizer (teacher-cache --student-tokenizer)",
            "give --cross-tokenizer uld|spans with the student tokenizer it was made for, or rebuild it without "
            "--student-tokenizer",
        )
    artifacts.require_columns(src.schema, "teacher_cache", stage="distill --teacher-cache")
    problems = []
    if opts.get("teacher_fingerprint") != fingerprint:
        problems.append(f"it was built with teacher {opts.get('teacher')} whose tokenizer differs from the student's")
    problems += _input_problems(opts, src.provenance, block_size, temperature, data_sources, text_column)
    if problems:
        raise InputError(f"teacher cache {path} does not match this run: " + "; ".join(problems), hint)
    table = src.read_all().sort_by("block")  # a folder of shards (one per process) reads back in block order
    n = table.num_rows
    _check_blocks(path, table, len(ids), hint)
    cached_ids = _flat(table, "input_ids").reshape(n, block_size)
    if cached_ids.shape != ids.shape or not np.array_equal(cached_ids.astype(np.int64), ids):
        raise InputError(f"teacher cache {path} holds other token ids than this run's blocks", hint)
    k = len(_flat(table, "topk_ids")) // (n * block_size)
    return {
        "topk_ids": _flat(table, "topk_ids").reshape(n, block_size, k),
        "topk_logprobs": _flat(table, "topk_logprobs").reshape(n, block_size, k),
        "tail_logprob": _flat(table, "tail_logprob").reshape(n, block_size),
    }


def _open_cache(path: str, hint: str) -> tuple[artifacts.Source, dict]:
    """The cache artifact and the options it was made with; refuse a missing file or another stage's output."""
    if not Path(path).exists():
        raise InputError(
            f"teacher cache {path} does not exist",
            "build it with: cstool teacher-cache DATA --teacher MODEL -o CACHE.parquet",
        )
    src = artifacts.open_source(path)
    prov = src.provenance or {}
    if prov.get("stage") != "teacher-cache":
        raise InputError(f"{path} was not made by cstool teacher-cache", hint)
    return src, prov.get("options", {})


def _input_problems(
    opts: dict,
    prov: dict | None,
    block_size: int,
    temperature: float,
    data_sources: list[artifacts.Source],
    text_column: str,
) -> list[str]:
    """How the block size, temperature, text column and data files of a cache differ from this run's."""
    problems = []
    if opts.get("block_size") != block_size:
        problems.append(f"its block size is {opts.get('block_size')}, this run uses {block_size}")
    if opts.get("temperature") != temperature:
        problems.append(f"its temperature is {opts.get('temperature')}, this run uses {temperature}")
    if opts.get("text_column") != text_column:
        problems.append(f"it was built from column {opts.get('text_column')!r}, this run uses {text_column!r}")
    cached_hashes = [r.get("sha256") for r in (prov or {}).get("inputs", [])]
    data_hashes = [r.get("sha256") for s in data_sources for r in s.input_records()]
    if cached_hashes != data_hashes:
        problems.append("it was built from other data files than the ones given")
    return problems


def _check_blocks(path: str, table: pa.Table, expected: int, hint: str) -> None:
    """Refuse a cache whose rows are not blocks 0 … expected − 1, each once."""
    blocks = table.column("block").to_numpy()
    if not np.array_equal(blocks, np.arange(expected)):
        raise InputError(
            f"teacher cache {path} holds blocks {_ranges(blocks)}; this run has blocks 0…{expected - 1}, "
            "each needed once (a shard is missing or repeated, or the cache is from other data)",
            hint,
        )


def cross_provenance(student_tok, teacher_tok, teacher) -> dict:
    """The options a cross-tokenizer cache records beyond teacher-cache's own: what rebuilds its rows."""
    from cstool.lm.cross_tokenizer import max_positions, pad_id

    return {
        "student_fingerprint": hf.tokenizer_fingerprint(student_tok),
        "teacher_positions": max_positions(teacher),
        "teacher_pad_id": pad_id(teacher_tok),
        "teacher_vocab": int(teacher.config.vocab_size),  # the width of the distributions ULD sorts
    }


def cross_cache_batch(
    blocks: dict[str, np.ndarray], start: int, end: int, teacher, *, k: int, temperature: float, device
) -> pa.RecordBatch:
    """Run ``teacher`` on rows ``start … end−1`` of :func:`cstool.lm.cross_tokenizer.cross_blocks` (as
    ``distill --cross-tokenizer`` does) and make their record batch of the cross-tokenizer cache."""
    import torch

    from cstool.lm.kd import teacher_topk

    t_ids = torch.from_numpy(blocks["teacher_ids"][start:end]).to(device)
    n = blocks["teacher_length"][start:end]
    attn = torch.arange(t_ids.shape[1], device=device).unsqueeze(0) < torch.from_numpy(n).to(device).unsqueeze(1)
    with torch.no_grad():
        logits = teacher(input_ids=t_ids, attention_mask=attn.long()).logits
    _, top_lp, tail = teacher_topk(logits, k, temperature=temperature)
    top_lp, tail = top_lp.float().cpu().numpy(), tail.float().cpu().numpy()
    rows = range(start, end)
    segments = [blocks["teacher_segments"][r][blocks["teacher_segments"][r] > 0] for r in rows]
    return pa.record_batch(
        [
            pa.array(np.arange(start, end), pa.int64()),
            pa.array(blocks["length"][start:end].astype(np.int32), pa.int32()),
            _lists(blocks["input_ids"][start:end].astype(np.int32), pa.int32()),
            _ragged([blocks["teacher_ids"][r, : n[r - start]] for r in rows], pa.int32()),
            _ragged([blocks["teacher_ends"][r, : n[r - start]] for r in rows], pa.int32()),
            _ragged(segments, pa.int32()),
            _ragged([top_lp[r - start, : n[r - start]].reshape(-1) for r in rows], pa.float32()),
            _ragged([tail[r - start, : n[r - start]] for r in rows], pa.float32()),
        ],
        schema=CROSS_TEACHER_CACHE,
    )


def _ragged(rows: list[np.ndarray], type_: pa.DataType) -> pa.Array:
    """1-D arrays of different lengths as an Arrow list column."""
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    offsets[1:] = np.cumsum([len(r) for r in rows])
    values = np.concatenate(rows) if rows else np.zeros(0)
    return pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()), pa.array(values.astype(type_.to_pandas_dtype()), type_)
    )


def load_cross_teacher_cache(
    path: str,
    *,
    texts: list[str],
    student_tok,
    kind: str,
    block_size: int,
    temperature: float,
    data_sources: list[artifacts.Source],
    text_column: str,
) -> dict[str, np.ndarray]:
    """The training rows of ``distill --cross-tokenizer kind`` rebuilt from the student's tokenizer and a
    cross-tokenizer cache made for exactly this text, student tokenizer, block size and temperature; refuse
    any other.

    Returns the arrays of :func:`cstool.lm.cross_tokenizer.pack_cross` plus ``teacher_sorted_logprobs
    [N, W, K]``, ``teacher_tail_logprob [N, W]`` (−inf on padding) and ``teacher_vocab [N]`` (the width of
    the teacher's distributions, the same in every row).
    """
    from cstool.lm.cross_tokenizer import pack_cross, pad_id, student_chunks

    hint = (
        "rebuild it with: cstool teacher-cache DATA --teacher MODEL --student-tokenizer S_TOK -o CACHE.parquet "
        "with the same DATA, student tokenizer, --block-size, --temperature and --text-column"
    )
    src, opts = _open_cache(path, hint)
    if not opts.get("student_fingerprint"):
        raise InputError(
            f"teacher cache {path} was made for same-vocabulary KD and holds no teacher tokens for --cross-tokenizer",
            hint,
        )
    artifacts.require_columns(src.schema, "cross_teacher_cache", stage="distill --teacher-cache --cross-tokenizer")
    problems = []
    if opts.get("student_fingerprint") != hf.tokenizer_fingerprint(student_tok):
        problems.append(
            f"it was made for student tokenizer {opts.get('student_tokenizer')}, whose vocabulary differs from "
            "this run's"
        )
    problems += _input_problems(opts, src.provenance, block_size, temperature, data_sources, text_column)
    if problems:
        raise InputError(f"teacher cache {path} does not match this run: " + "; ".join(problems), hint)
    table = src.read_all().sort_by("block")
    _check_blocks(path, table, table.num_rows, hint)
    chunks = student_chunks(texts, student_tok, block_size)
    t_ids, t_ends, t_seg = (table.column(c).to_pylist() for c in ("teacher_ids", "teacher_ends", "teacher_segments"))
    segments = []
    for ids_row, ends_row, seg_row in zip(t_ids, t_ends, t_seg, strict=True):
        at = 0
        for n in seg_row:
            segments.append((ids_row[at : at + n], ends_row[at : at + n]))
            at += n
    if len(segments) != len(chunks):
        raise InputError(
            f"teacher cache {path} holds {len(segments)} chunks of text, this run's text and tokenizer make "
            f"{len(chunks)}",
            hint,
        )
    blocks = pack_cross(
        chunks, segments, block_size, opts["teacher_positions"], kind, pad_id(student_tok), opts["teacher_pad_id"]
    )
    n_rows = table.num_rows
    cached_ids = _flat(table, "input_ids").reshape(n_rows, block_size)
    if blocks["input_ids"].shape != cached_ids.shape or not np.array_equal(blocks["input_ids"], cached_ids):
        raise InputError(f"teacher cache {path} holds other student token ids than this run's rows", hint)
    k = opts["top_k_used"]
    width = blocks["teacher_ids"].shape[1]
    valid = np.arange(width)[None, :] < blocks["teacher_length"][:, None]  # row-major: the cache's order
    sorted_lp = np.full((n_rows, width, k), -np.inf, dtype=np.float32)
    tail = np.full((n_rows, width), -np.inf, dtype=np.float32)
    sorted_lp[valid] = _flat(table, "sorted_logprobs").reshape(-1, k)
    tail[valid] = _flat(table, "tail_logprob")
    vocab = np.full(n_rows, opts["teacher_vocab"], dtype=np.int64)
    return {**blocks, "teacher_sorted_logprobs": sorted_lp, "teacher_tail_logprob": tail, "teacher_vocab": vocab}


def cache_teacher(cache_path: str | None) -> str:
    """The teacher folder a cache's provenance names (its tokenizer made the cache's token ids)."""
    prov = None
    if cache_path and Path(cache_path).exists():  # a cache file, or a folder of shards from several processes
        try:
            prov = artifacts.open_source(cache_path).provenance
        except CstoolError:
            prov = None
    teacher = ((prov or {}).get("options") or {}).get("teacher")
    if not teacher:
        raise InputError(
            f"cannot tell which tokenizer made {cache_path}", "give --tokenizer DIR (the teacher's folder)"
        )
    hf.require_model_dir(teacher, "teacher (named by the cache)")
    return teacher


def _ranges(blocks: np.ndarray) -> str:
    """``[0, 1, 2, 5, 6]`` → ``"0…2, 5…6"`` (the first few runs)."""
    runs, start = [], 0
    for i in range(1, len(blocks) + 1):
        if i == len(blocks) or blocks[i] != blocks[i - 1] + 1:
            runs.append(f"{blocks[start]}…{blocks[i - 1]}" if i - 1 > start else f"{blocks[start]}")
            start = i
    return ", ".join(runs[:4]) + (", …" if len(runs) > 4 else "")


def _flat(table: pa.Table, column: str) -> np.ndarray:
    return table.column(column).combine_chunks().flatten().to_numpy(zero_copy_only=False)
