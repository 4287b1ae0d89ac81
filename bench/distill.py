"""Benchmark `cstool distill`: step time of KD from a top-k cache vs a CE-only step, and of on-the-fly KD vs
teacher forward + student step. Also the cache's bytes/token.

    OMP_NUM_THREADS=1 .venv/bin/python bench/distill.py [--device cpu] [--steps 40] [--repeats 2]
    python bench/distill.py --device cuda --teacher-spec llama:layers=8,hidden=512,heads=8 \
        --student-spec llama:layers=4,hidden=256,heads=4 --block-size 256 --batch-size 16 --steps 60

Text: UD Hindi PUD + Marathi UFAL + English PUD from ../shared/data when present (or --data PARQUET...).
A sentencepiece tokenizer (--vocab-size) is trained on it with cstool train-tokenizer; the teacher is a
randomly initialised model from --teacher-spec (timing does not depend on what it knows). Every variant
runs through `cstool.stages.distill.run` (the Trainer) on the same blocks, batch and student; the step
time is taken from train_metrics' tokens/s, median over log intervals after the first (warm-up), best of
--repeats, variants alternating.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("CSTOOL_SHARED_DATA", REPO.parent / "shared" / "data")) / "ud"
DEFAULT_DATA = ["hi_pud-ud-test.conllu", "mr_ufal-ud-train.conllu", "en_pud-ud-test.conllu"]


def ud_text_parquet(names: list[str], tmp: Path) -> str:
    """The sentences of these UD files under ../shared/data/ud as a Parquet file with a 'text' column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cstool.io.conllu import read_conllu

    missing = [n for n in names if not (SHARED / n).is_file()]
    if missing:
        sys.exit(f"UD files {missing} not under {SHARED}; give --data PARQUET with a 'text' column")
    texts = [s.text for n in names for s in read_conllu(SHARED / n)]
    path = tmp / "text.parquet"
    pq.write_table(pa.table({"text": texts}), path)
    return str(path)


def _text_artifact(args, tmp: Path) -> list[str]:
    return args.data or [ud_text_parquet(DEFAULT_DATA, tmp)]


def _step_time(out: Path, tokens_per_step: int) -> float:
    import pyarrow.parquet as pq

    tps = pq.read_table(out / "train_metrics.parquet").column("tokens_per_s").to_pylist()[1:]
    return tokens_per_step / statistics.median(tps)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data", nargs="*")
    ap.add_argument("--vocab-size", type=int, default=4000)
    ap.add_argument("--teacher-spec", default="llama:layers=4,hidden=256,heads=4")
    ap.add_argument("--student-spec", default="llama:layers=2,hidden=128,heads=4")
    ap.add_argument("--block-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--top-k", type=int, default=32)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    import torch

    from cstool.base.console import set_quiet
    from cstool.base.devices import set_threads
    from cstool.models import hf
    from cstool.stages import distill, teacher_cache, train_tokenizer
    from cstool.stages.distill import DistillConfig
    from cstool.stages.teacher_cache import TeacherCacheConfig
    from cstool.stages.train_tokenizer import TrainTokenizerConfig

    set_threads(None)
    set_quiet(True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-distill-"))
    data = _text_artifact(args, tmp)
    train_tokenizer.run(TrainTokenizerConfig(vocab_size=args.vocab_size), data=data, output=tmp / "tok")
    tok = hf.load_tokenizer(tmp / "tok")
    special = {k: getattr(tok, k) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    teacher = hf.build_causal_lm(
        args.teacher_spec + f",positions={args.block_size}", vocab_size=len(tok), special_ids=special, seed=0
    )
    teacher.save_pretrained(tmp / "teacher")
    tok.save_pretrained(tmp / "teacher")

    t0 = time.perf_counter()
    cache_path = tmp / "cache.parquet"
    info = teacher_cache.run(
        TeacherCacheConfig(
            teacher=str(tmp / "teacher"),
            top_k=args.top_k,
            block_size=args.block_size,
            device=args.device,
            batch_size=args.batch_size,
        ),
        data=data,
        output=str(cache_path),
    )
    cache_s = time.perf_counter() - t0

    common = dict(
        student_config=args.student_spec + f",positions={args.block_size}",
        block_size=args.block_size,
        batch_size=args.batch_size,
        max_steps=args.steps,
        log_every=max(1, args.steps // 8),
        save_steps=10**9,
        device=args.device,
        seed=0,
    )
    variants = {
        "ce": dict(tokenizer=str(tmp / "tok")),
        "kd_cache": dict(teacher_cache=str(cache_path), alpha=0.5),
        "kd_teacher": dict(teacher=str(tmp / "teacher"), alpha=0.5),
    }
    tokens_per_step = args.batch_size * args.block_size
    best: dict[str, float] = {}
    for r in range(args.repeats):
        for name, extra in variants.items():
            out = tmp / f"{name}-{r}"
            distill.run(DistillConfig(**common, **extra), data=data, output=out)
            best[name] = min(best.get(name, float("inf")), _step_time(out, tokens_per_step))

    # teacher forward alone, on the same batch shape
    device = torch.device("cuda" if args.device in ("cuda", "auto") and torch.cuda.is_available() else "cpu")
    t_model = hf.load_causal_lm(tmp / "teacher", device=str(device)).eval()
    x = torch.randint(4, len(tok), (args.batch_size, args.block_size), device=device)
    times = []
    with torch.no_grad():
        for _ in range(12):
            if device.type == "cuda":
                torch.cuda.synchronize()
            s = time.perf_counter()
            t_model(input_ids=x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - s)
    t_fwd = statistics.median(times[2:])

    card = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    print(
        f"device: {card}; teacher {args.teacher_spec}, student {args.student_spec}, vocab {len(tok)}, "
        f"batch {args.batch_size}×{args.block_size} tokens, {args.steps} steps, best of {args.repeats}"
    )
    print(f"{'variant':<34}{'ms/step':>10}{'tokens/s':>12}")
    for name, label in (
        ("ce", "CE-only student step"),
        ("kd_cache", f"KD from top-{args.top_k} cache"),
        ("kd_teacher", "KD with teacher on the fly"),
    ):
        print(f"{label:<34}{1000 * best[name]:>10.1f}{tokens_per_step / best[name]:>12.0f}")
    print(f"{'teacher forward alone':<34}{1000 * t_fwd:>10.1f}")
    print(f"ratio KD-cache / CE step:                  {best['kd_cache'] / best['ce']:.3f}  (target ≤ 1.15)")
    print(f"ratio KD-on-the-fly / (teacher fwd + CE):  {best['kd_teacher'] / (t_fwd + best['ce']):.3f}  (target ≈ 1)")
    print(
        f"cache: {info.blocks} blocks, {info.tokens} tokens, top-{info.top_k}, "
        f"{info.bytes_per_token:.1f} bytes/token, built in {cache_s:.1f} s"
    )


if __name__ == "__main__":
    main()
