"""teacher-cache: run a teacher once over a corpus and keep, per token, its top-k log-probs plus the tail mass.

The corpus is packed exactly as ``cstool distill`` packs it (same tokenizer, same ``block_size``), so row i
of the cache is training block i; ``distill --teacher-cache`` then trains with no teacher in memory. The
provenance records the teacher, its vocabulary fingerprint, block size, temperature and input hashes, and
``distill`` refuses a cache that does not match its own inputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cstool import artifacts
from cstool.errors import ConfigError, at_least
from cstool.lm.topk_cache import cache_batch, load_teacher_cache

__all__ = ["TeacherCacheConfig", "build_teacher_cache", "load_teacher_cache"]


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
    from cstool.lm.kd import teacher_topk
    from cstool.lm.training import pack_texts, read_texts

    models.require_model_dir(config.teacher, "teacher")
    artifacts.check_writable(output)
    texts, sources = read_texts(data, config.text_column)
    tokenizer = models.load_tokenizer(config.teacher, allow_download=config.allow_download)
    device = resolve_device(config.device)
    teacher = models.load_causal_lm(config.teacher, allow_download=config.allow_download, device=device).eval()
    models.check_positions(teacher, config.block_size, "teacher")
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
            w.write(
                cache_batch(
                    start,
                    lengths[start : start + x.shape[0]],
                    x.cpu().numpy(),
                    top_ids.cpu().numpy(),
                    top_lp.cpu().numpy(),
                    tail.cpu().numpy(),
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
