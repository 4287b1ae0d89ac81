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

from cstool import artifacts, models, paths
from cstool.errors import ConfigError, at_least
from cstool.lm.topk_cache import cache_batch, load_teacher_cache
from cstool.options import option

__all__ = ["TeacherCacheConfig", "build_teacher_cache", "load_teacher_cache"]


@dataclass(frozen=True)
class TeacherCacheConfig:
    teacher: str = option(help="Teacher model folder.")
    top_k: int = option(32, "Teacher log-probs kept per token.")
    temperature: float = option(2.0, "τ the cache is made for (distill must use the same).")
    block_size: int = option(256, "Tokens per block (distill must use the same).")
    text_column: str = option("text", "Text column of DATA.")
    batch_size: int = option(8, "Blocks per teacher forward pass.")
    device: str = option("auto", "auto, cpu or cuda.")
    allow_download: bool = option(False, "Fetch the teacher from the Hugging Face Hub when it is not a local folder.")

    def __post_init__(self) -> None:
        problems = at_least(self, 1, "top_k", "batch_size") + at_least(self, 2, "block_size")
        if not self.temperature > 0:
            problems.append(f"--temperature must be positive, got {self.temperature}")
        if problem := models.device_problem(self.device):
            problems.append(problem)
        ConfigError.collect(problems, "see cstool teacher-cache --help")


def build_teacher_cache(data: list[str], output: str, *, config: TeacherCacheConfig) -> dict[str, Any]:
    """Write the cache artifact to ``output`` (atomic). Returns blocks, tokens, bytes and bytes/token."""
    import torch

    from cstool.lm.kd import teacher_topk
    from cstool.lm.scoring import check_model_tokenizer
    from cstool.lm.training import pack_texts, read_texts

    paths.check_outputs({"-o": output}, {"DATA": data, "--teacher": config.teacher})
    models.require_model_dir(config.teacher, "teacher")
    texts, sources = read_texts(data, config.text_column)
    tokenizer = models.load_tokenizer(config.teacher, allow_download=config.allow_download)
    device = models.resolve_device(config.device)
    teacher = models.load_causal_lm(config.teacher, allow_download=config.allow_download, device=device).eval()
    models.check_positions(teacher, config.block_size, "teacher")
    check_model_tokenizer(teacher, tokenizer)
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
