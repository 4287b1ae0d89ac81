"""teacher-cache: run a teacher once over a corpus and keep, per token, its top-k log-probs plus the tail mass.

The corpus is packed exactly as ``cstool distill`` packs it (same tokenizer, same ``block_size``), so row i
of the cache is training block i; ``distill --teacher-cache`` then trains with no teacher in memory. The
provenance records the teacher, its vocabulary fingerprint, block size, temperature and input hashes, and
``distill`` refuses a cache that does not match its own inputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from cstool import artifacts
from cstool.errors import ConfigError, InputError, at_least


@dataclass(frozen=True)
class TeacherCacheConfig:
    teacher: str
    top_k: int = 32
    temperature: float = 2.0
    block_size: int = 256
    text_column: str = "text"
    batch_size: int = 8
    device: str = "auto"
    allow_download: bool = False

    def __post_init__(self) -> None:
        problems = at_least(self, 1, "top_k", "batch_size") + at_least(self, 2, "block_size")
        if not self.temperature > 0:
            problems.append(f"--temperature must be positive, got {self.temperature}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            problems.append(f"--device must be auto, cpu or cuda, got {self.device!r}")
        ConfigError.collect(problems, "see cstool teacher-cache --help")


def resolve_device(device: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def build_teacher_cache(data: list[str], output: str, *, config: TeacherCacheConfig) -> dict[str, Any]:
    """Write the cache artifact to ``output`` (atomic). Returns blocks, tokens, bytes and bytes/token."""
    import torch

    from cstool import models
    from cstool.kd import teacher_topk
    from cstool.stages.distill import check_positions, require_model_dir
    from cstool.training import pack_texts, read_texts

    require_model_dir(config.teacher, "teacher")
    artifacts.check_writable(output)
    texts, sources = read_texts(data, config.text_column)
    tokenizer = models.load_tokenizer(config.teacher, allow_download=config.allow_download)
    device = resolve_device(config.device)
    teacher = models.load_causal_lm(config.teacher, allow_download=config.allow_download, device=device).eval()
    check_positions(teacher, config.block_size, "teacher")
    ids, lengths = pack_texts(texts, tokenizer, config.block_size)
    vocab = len(tokenizer)
    k = min(config.top_k, vocab)
    prov = artifacts.make_provenance(
        "teacher-cache",
        options={
            **artifacts.jsonable(config),
            "teacher_fingerprint": models.tokenizer_fingerprint(tokenizer),
            "vocab_size": vocab,
            "top_k_used": k,
        },
        inputs=sources,
    )
    L = config.block_size
    with artifacts.ArtifactWriter(output, artifacts.TEACHER_CACHE, kind="teacher_cache", provenance=prov) as w:
        for start in range(0, len(ids), config.batch_size):
            x = torch.from_numpy(ids[start : start + config.batch_size]).to(device)
            n = torch.from_numpy(lengths[start : start + config.batch_size]).to(device)
            attn = (torch.arange(L, device=device).unsqueeze(0) < n.unsqueeze(1)).long()
            with torch.no_grad():
                logits = teacher(input_ids=x, attention_mask=attn).logits[..., :vocab]
            top_ids, top_lp, tail = teacher_topk(logits, k, temperature=config.temperature)
            b = x.shape[0]
            w.write(
                pa.record_batch(
                    [
                        pa.array(np.arange(start, start + b), pa.int64()),
                        pa.array(lengths[start : start + b].astype(np.int32), pa.int32()),
                        _lists(x.cpu().numpy().astype(np.int32), pa.int32()),
                        _lists(top_ids.cpu().numpy().astype(np.int32).reshape(b, -1), pa.int32()),
                        _lists(top_lp.cpu().numpy().astype(np.float16).reshape(b, -1), pa.float16()),
                        _lists(tail.cpu().numpy().astype(np.float32), pa.float32()),
                    ],
                    schema=artifacts.TEACHER_CACHE,
                )
            )
    tokens = int(lengths.sum())
    size = os.path.getsize(output) if output != "-" else None
    return {
        "blocks": len(ids),
        "tokens": tokens,
        "top_k": k,
        "bytes": size,
        "bytes_per_token": size / tokens if size else None,
    }


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
        raise InputError(f"teacher cache {path} does not exist", "build it with: cstool teacher-cache DATA --teacher MODEL -o CACHE.parquet")
    src = artifacts.open_source(path)
    artifacts.require_columns(src.schema, "teacher_cache", stage="distill --teacher-cache")
    prov = src.provenance or {}
    opts = prov.get("options", {})
    hint = "rebuild it with: cstool teacher-cache DATA --teacher MODEL -o CACHE.parquet with the same DATA, --block-size, --temperature and --text-column"
    problems = []
    if prov.get("stage") != "teacher-cache":
        raise InputError(f"{path} was not made by cstool teacher-cache", hint)
    if opts.get("teacher_fingerprint") != fingerprint:
        problems.append(
            f"it was built with teacher {opts.get('teacher')} whose tokenizer differs from the student's"
        )
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
    table = src.read_all()
    n = table.num_rows
    cached_ids = _flat(table, "input_ids").reshape(n, block_size)
    if cached_ids.shape != ids.shape or not np.array_equal(cached_ids.astype(np.int64), ids):
        raise InputError(f"teacher cache {path} holds other token ids than this run's blocks", hint)
    k = len(_flat(table, "topk_ids")) // (n * block_size)
    return {
        "topk_ids": _flat(table, "topk_ids").reshape(n, block_size, k),
        "topk_logprobs": _flat(table, "topk_logprobs").reshape(n, block_size, k),
        "tail_logprob": _flat(table, "tail_logprob").reshape(n, block_size),
    }


def _flat(table: pa.Table, column: str) -> np.ndarray:
    return table.column(column).combine_chunks().flatten().to_numpy(zero_copy_only=False)
