"""The teacher top-k cache format: per training block, the token ids, the teacher's top-k ids and
log-probs at temperature τ, and the log of the remaining (tail) mass. :func:`cache_batch` makes one record
batch of the ``teacher_cache`` artifact; :func:`load_teacher_cache` reads a cache back for a distill run
(a file, or a folder of shards written by several processes, read in block order) and refuses one made from
other inputs; :func:`cache_teacher` names the teacher folder whose tokenizer made a cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from cstool.base.errors import CstoolError, InputError
from cstool.io import artifacts
from cstool.models import hf


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
    if not Path(path).exists():
        raise InputError(
            f"teacher cache {path} does not exist",
            "build it with: cstool teacher-cache DATA --teacher MODEL -o CACHE.parquet",
        )
    src = artifacts.open_source(path)
    artifacts.require_columns(src.schema, "teacher_cache", stage="distill --teacher-cache")
    prov = src.provenance or {}
    opts = prov.get("options", {})
    hint = (
        "rebuild it with: cstool teacher-cache DATA --teacher MODEL -o CACHE.parquet with the same DATA, "
        "--block-size, --temperature and --text-column"
    )
    problems = []
    if prov.get("stage") != "teacher-cache":
        raise InputError(f"{path} was not made by cstool teacher-cache", hint)
    if opts.get("teacher_fingerprint") != fingerprint:
        problems.append(f"it was built with teacher {opts.get('teacher')} whose tokenizer differs from the student's")
    if opts.get("block_size") != block_size:
        problems.append(f"its block size is {opts.get('block_size')}, this run uses {block_size}")
    if opts.get("temperature") != temperature:
        problems.append(f"its temperature is {opts.get('temperature')}, this run uses {temperature}")
    if opts.get("text_column") != text_column:
        problems.append(f"it was built from column {opts.get('text_column')!r}, this run uses {text_column!r}")
    cached_hashes = [r.get("sha256") for r in prov.get("inputs", [])]
    data_hashes = [r.get("sha256") for s in data_sources for r in s.input_records()]
    if cached_hashes != data_hashes:
        problems.append("it was built from other data files than the ones given")
    if problems:
        raise InputError(f"teacher cache {path} does not match this run: " + "; ".join(problems), hint)
    table = src.read_all().sort_by("block")  # a folder of shards (one per process) reads back in block order
    n = table.num_rows
    blocks = table.column("block").to_numpy()
    if not np.array_equal(blocks, np.arange(len(ids))):
        raise InputError(
            f"teacher cache {path} holds blocks {_ranges(blocks)}; this run has blocks 0…{len(ids) - 1}, "
            "each needed once (a shard is missing or repeated, or the cache is from other data)",
            hint,
        )
    cached_ids = _flat(table, "input_ids").reshape(n, block_size)
    if cached_ids.shape != ids.shape or not np.array_equal(cached_ids.astype(np.int64), ids):
        raise InputError(f"teacher cache {path} holds other token ids than this run's blocks", hint)
    k = len(_flat(table, "topk_ids")) // (n * block_size)
    return {
        "topk_ids": _flat(table, "topk_ids").reshape(n, block_size, k),
        "topk_logprobs": _flat(table, "topk_logprobs").reshape(n, block_size, k),
        "tail_logprob": _flat(table, "tail_logprob").reshape(n, block_size),
    }


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
