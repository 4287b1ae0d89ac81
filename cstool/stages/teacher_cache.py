"""teacher-cache: run a teacher once over a corpus and keep, per token, its top-k log-probs plus the tail mass.

The corpus is packed exactly as ``cstool distill`` packs it (same tokenizer, same ``block_size``), so row i
of the cache is training block i (with ``--student-tokenizer``, the rows of ``distill --cross-tokenizer``:
see :mod:`cstool.lm.topk_cache`); ``distill --teacher-cache`` then trains with no teacher in memory. The
provenance records the teacher, its vocabulary fingerprint, block size, temperature and input hashes, and
``distill`` refuses a cache that does not match its own inputs.

Under ``torchrun --nproc_per_node N`` (or ``accelerate launch``) each process runs the teacher on its own
contiguous slice of the blocks and writes it as one Parquet shard, ``part-RRRRR-of-NNNNN.parquet``; ``-o``
is then a folder, which appears only when every shard is complete, and reads back (``distill --teacher-cache
FOLDER``, any artifact reader) as one cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cstool.base import devices, ranks
from cstool.base.errors import ConfigError, at_least
from cstool.base.fields import device_option, offline_option, option
from cstool.io import artifacts, atomic, locks, paths
from cstool.lm.topk_cache import cache_batch
from cstool.models import hf

__all__ = ["TeacherCacheConfig", "TeacherCacheResult", "run"]


@dataclass(frozen=True)
class TeacherCacheConfig:
    teacher: str = option(help="Teacher model folder, or a Hugging Face Hub id OWNER/NAME.")
    top_k: int = option(32, "Teacher log-probs kept per token.", low=1, high=2**20)
    temperature: float = option(2.0, "τ the cache is made for (distill must use the same).", low=0.01, high=100)
    block_size: int = option(256, "Tokens per block (distill must use the same).", low=2, high=2**20)
    text_column: str = option("text", "Text column of DATA.")
    student_tokenizer: str | None = option(
        None,
        "Make the cache for distill --cross-tokenizer uld|spans with this student tokenizer folder: the teacher's "
        "sorted top-k probabilities at its own positions of the student's chunks (serves both losses).",
    )
    batch_size: int = option(8, "Blocks per teacher forward pass.", low=1, high=2**16)
    device: str = device_option()
    dtype: str = option("float32", "float32, bfloat16 or float16 (GPU only): the teacher's weights and compute.")
    offline: bool = offline_option()

    def __post_init__(self) -> None:
        problems = at_least(self, 1, "top_k", "batch_size") + at_least(self, 2, "block_size")
        if not self.temperature > 0:
            problems.append(f"--temperature must be positive, got {self.temperature}")
        if problem := devices.device_problem(self.device):
            problems.append(problem)
        if problem := devices.dtype_problem(self.dtype):
            problems.append(problem)
        ConfigError.collect(problems, "see cstool teacher-cache --help")


@dataclass(frozen=True)
class TeacherCacheResult:
    output: str  # the cache artifact (a folder of shards under a launcher), or - for stdout
    blocks: int
    tokens: int
    top_k: int  # log-probs kept per token (at most the vocabulary)
    bytes: int | None  # size written (None on stdout)
    bytes_per_token: float | None

    def table(self) -> tuple[list[str], list[list]]:
        """The console's table: header and its one row."""
        header = ["blocks", "tokens", "top-k", "bytes", "bytes/token"]
        return header, [[self.blocks, self.tokens, self.top_k, self.bytes, self.bytes_per_token]]


@locks.locks_output("teacher-cache", "output")
def run(config: TeacherCacheConfig, *, data: list[str], output: str) -> TeacherCacheResult:
    """Write the cache artifact to ``output`` (atomic; a folder of one shard per process under a launcher)."""
    from cstool.lm.blocks import pack_texts, read_texts
    from cstool.lm.scoring import check_model_tokenizer

    world = ranks.world_size()
    if world > 1 and output == "-":
        raise ConfigError(
            f"under {world} processes the cache is a folder of {world} shards and cannot go to stdout",
            "give -o CACHE_DIR; distill --teacher-cache CACHE_DIR reads the folder as one cache",
        )
    paths.check_outputs(
        {"-o": output},
        {"DATA": data, "--teacher": config.teacher, "--student-tokenizer": config.student_tokenizer},
        folders=("-o",) if world > 1 else (),
    )
    hf.require_model_dir(config.teacher, "teacher")
    hf.require_model_dir(config.student_tokenizer, "student tokenizer")
    device = ranks.local_device(devices.resolve_device(config.device))
    dtype = devices.torch_dtype(config.dtype, device)
    texts, sources = read_texts(data, config.text_column)
    tokenizer = hf.load_tokenizer(config.teacher, offline=config.offline)
    teacher = hf.load_causal_lm(config.teacher, offline=config.offline, device=device, dtype=dtype).eval()
    check_model_tokenizer(teacher, tokenizer)
    cross, extra = None, {}
    if config.student_tokenizer:  # the rows distill --cross-tokenizer trains on; --block-size is the student's
        from cstool.lm.cross_tokenizer import cross_blocks, max_positions
        from cstool.lm.topk_cache import cross_provenance

        student_tok = hf.load_tokenizer(config.student_tokenizer, offline=config.offline)
        cross = cross_blocks(texts, student_tok, tokenizer, config.block_size, max_positions(teacher), "spans")
        ids, lengths, extra = cross["input_ids"], cross["length"], cross_provenance(student_tok, tokenizer, teacher)
    else:
        hf.check_positions(teacher, config.block_size, "teacher")
        ids, lengths = pack_texts(texts, tokenizer, config.block_size)
    vocab = len(tokenizer)
    k = min(config.top_k, teacher.config.vocab_size if cross is not None else vocab)  # the logits ULD compares
    prov = artifacts.make_provenance(
        "teacher-cache",
        options={
            **artifacts.jsonable(config),
            "teacher_fingerprint": hf.tokenizer_fingerprint(tokenizer),
            "vocab_size": vocab,
            "top_k_used": k,
            "teacher_dtype": str(next(teacher.parameters()).dtype),
            **extra,
        },
        inputs=sources,
    )
    if world == 1:
        _write_blocks(output, teacher, ids, lengths, range(len(ids)), k, config, prov, device, cross)
        size = os.path.getsize(output) if output != "-" else None
    else:  # every process has checked its inputs; each writes its shard into process 0's temporary folder
        ranks.barrier(device)
        tmp = ranks.broadcast(str(atomic.temp_path(output)) if ranks.is_main() else None, device)
        Path(tmp).mkdir(parents=True, exist_ok=True)
        shard = Path(tmp) / f"part-{ranks.rank():05d}-of-{world:05d}.parquet"
        _write_blocks(shard, teacher, ids, lengths, ranks.shard(len(ids)), k, config, prov, device, cross)
        ranks.barrier(device)
        if ranks.is_main():
            atomic.commit(tmp, output)
        ranks.barrier(device)
        size = sum(p.stat().st_size for p in Path(output).glob("*.parquet"))
    tokens = int(lengths.sum()) if cross is None else int(cross["teacher_length"].sum())  # positions stored
    return TeacherCacheResult(
        output=output,
        blocks=len(ids),
        tokens=tokens,
        top_k=k,
        bytes=size,
        bytes_per_token=size / tokens if size else None,
    )


def _write_blocks(
    output: str | os.PathLike,
    teacher: Any,
    ids: Any,
    lengths: Any,
    blocks: range,
    k: int,
    config: TeacherCacheConfig,
    prov: dict,
    device: str,
    cross: dict | None = None,
) -> None:
    """Run the teacher over ``blocks`` (contiguous) and write their rows to the artifact ``output``; with
    ``cross`` (the rows of :func:`cstool.lm.cross_tokenizer.cross_blocks`), a cross-tokenizer cache."""
    import torch

    from cstool.lm.kd import teacher_topk
    from cstool.lm.topk_cache import CROSS_TEACHER_CACHE, cross_cache_batch

    L, vocab = config.block_size, prov["options"]["vocab_size"]
    schema, kind = (
        (artifacts.TEACHER_CACHE, "teacher_cache") if cross is None else (CROSS_TEACHER_CACHE, "cross_teacher_cache")
    )
    with artifacts.ArtifactWriter(output, schema, kind=kind, provenance=prov) as w:
        for start in range(blocks.start, blocks.stop, config.batch_size):
            end = min(start + config.batch_size, blocks.stop)
            if cross is not None:
                temperature = config.temperature
                w.write(cross_cache_batch(cross, start, end, teacher, k=k, temperature=temperature, device=device))
                continue
            x = torch.from_numpy(ids[start:end]).to(device)
            n = torch.from_numpy(lengths[start:end]).to(device)
            attn = (torch.arange(L, device=device).unsqueeze(0) < n.unsqueeze(1)).long()
            with torch.no_grad():
                logits = teacher(input_ids=x, attention_mask=attn).logits[..., :vocab]
            top_ids, top_lp, tail = teacher_topk(logits, k, temperature=config.temperature)
            w.write(
                cache_batch(
                    start,
                    lengths[start:end],
                    x.cpu().numpy(),
                    top_ids.cpu().numpy(),
                    top_lp.cpu().numpy(),
                    tail.cpu().numpy(),
                )
            )
