"""distill and replay-train on one GPU at SmolLM2-135M's shape: tokens/s and peak memory, float32 against bfloat16.

    .venv/bin/python bench/gpu.py                                 # one CUDA GPU; about 2–4 minutes
    OMP_NUM_THREADS=1 .venv/bin/python bench/gpu.py --smoke       # a tiny model on the CPU: the script runs

The model is SmolLM2-135M's configuration (30 layers, hidden 576, 9 heads / 3 KV heads, MLP 1536, tied
49,152-wide embeddings: 134.5 M parameters) with random weights (throughput does not depend on what it knows),
saved once; the text is the demo corpus (English, Hindi, Marathi) with a 700-piece tokenizer from cstool
train-tokenizer (the model's table keeps SmolLM2's 49,152 rows, so the LM head costs what it does in SmolLM2).

* distill: the 135 M model as the student (and, for KD, as the teacher too, run on the fly), --block-size 512,
  --batch-size 16; tokens/s is the median of train_metrics' tokens_per_s over the log intervals after the first
  (warm-up excluded).
* replay-train: LoRA r=8 (naive, and replay-adapter) on the 135 M base, en → hi with --train-first, texts of
  8 demo sentences each, --max-length 256, --batch-size 16; tokens/s = examples trained × mean tokens per
  example (after --max-length) / replay-train's train_seconds (time inside Trainer.train).
* peak memory: torch.cuda.max_memory_allocated over each run (reset before it).

Every run goes through the stage functions (the Trainer), one after another in this process.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO / "examples" / "demo" / "data"
SMOLLM2_135M = dict(  # SmolLM2-135M's config.json, random weights
    hidden_size=576,
    intermediate_size=1536,
    num_hidden_layers=30,
    num_attention_heads=9,
    num_key_value_heads=3,
    vocab_size=49152,
    max_position_embeddings=2048,
    rope_theta=100000.0,
    rms_norm_eps=1e-5,
    tie_word_embeddings=True,
)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)


def _texts(work: Path, per_row: int) -> dict[str, str]:
    """One Parquet per demo language: rows of ``per_row`` consecutive sentences."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = {}
    for lang in ("en", "hi", "mr"):
        lines = [x for x in (DATA / f"{lang}.train.txt").read_text(encoding="utf-8").splitlines() if x.strip()]
        rows = [" ".join(lines[i : i + per_row]) for i in range(0, len(lines), per_row)]
        path = work / f"{lang}.parquet"
        pq.write_table(pa.table({"id": [str(i) for i in range(len(rows))], "text": rows}), path)
        out[lang] = str(path)
    return out


def _base(work: Path, texts: dict[str, str], smoke: bool, positions: int) -> tuple[Path, int]:
    """The model folder (tokenizer + random weights) and its number of parameters."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from cstool.stages import train_tokenizer
    from cstool.stages.train_tokenizer import TrainTokenizerConfig

    base = work / "base"
    train_tokenizer.run(TrainTokenizerConfig(vocab_size=700), data=list(texts.values()), output=base)
    tok = AutoTokenizer.from_pretrained(base)
    fields = {**SMOLLM2_135M, "max_position_embeddings": positions}
    if smoke:
        fields.update(TINY, vocab_size=len(tok))
    config = LlamaConfig(
        **fields, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(base)
    return base, model.num_parameters()


class Peak:
    """Peak GPU memory over a block (None on the CPU)."""

    def __init__(self, cuda: bool):
        self.cuda, self.gib = cuda, None

    def __enter__(self):
        import torch

        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc):
        import torch

        if self.cuda:
            torch.cuda.synchronize()
            self.gib = torch.cuda.max_memory_allocated() / 2**30
        gc.collect()


def bench_distill(work: Path, base: Path, texts: dict, a) -> list[dict]:
    import pyarrow.parquet as pq

    from cstool.stages import distill
    from cstool.stages.distill import DistillConfig

    rows = []
    variants = [
        ("LM (α = 1)", "float32", False, False),
        ("LM (α = 1)", "bfloat16", False, False),
        ("KD, teacher on the fly", "float32", True, False),
        ("KD, teacher on the fly", "bfloat16", True, False),
        ("KD, teacher on the fly, checkpointing", "bfloat16", True, True),
    ]
    for i, (what, dtype, kd, ckpt) in enumerate(variants):
        out = work / f"distill-{i}"
        config = DistillConfig(
            student=str(base),
            teacher=str(base) if kd else None,
            alpha=0.5 if kd else None,
            block_size=a.block_size,
            batch_size=a.batch_size,
            max_steps=a.steps,
            log_every=a.log_every,
            save_steps=10 * a.steps,
            lr=1e-4,
            device=a.device,
            dtype=dtype,
            gradient_checkpointing=ckpt,
        )
        with Peak(a.device == "cuda") as peak:
            distill.run(config, data=list(texts.values()), output=out)
        speeds = pq.read_table(out / "train_metrics.parquet").column("tokens_per_s").to_pylist()
        rows.append(
            dict(
                stage="distill",
                what=what,
                dtype=dtype,
                tokens_per_s=statistics.median(speeds[1:] or speeds),
                peak_gib=peak.gib,
            )
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_replay(work: Path, base: Path, texts: dict, a) -> list[dict]:
    import pyarrow.parquet as pq
    from transformers import AutoTokenizer

    from cstool.stages import replay_train
    from cstool.stages.replay_train import ReplayConfig

    tok = AutoTokenizer.from_pretrained(base)
    lengths = [
        min(len(ids), a.max_length)
        for lang in ("en", "hi")
        for ids in tok(pq.read_table(texts[lang]).column("text").to_pylist())["input_ids"]
    ]
    per_example = sum(lengths) / len(lengths)
    rows = []
    for i, (strategy, dtype) in enumerate(
        [("naive", "float32"), ("naive", "bfloat16"), ("replay-adapter", "float32"), ("replay-adapter", "bfloat16")]
    ):
        out = work / f"replay-{i}"
        config = ReplayConfig(
            strategy=strategy,
            train_first=True,
            steps_per_task=a.steps,
            batch_size=a.batch_size,
            max_length=a.max_length,
            buffer_per_task=50,
            device=a.device,
            dtype=dtype,
        )
        tasks = [("en", texts["en"]), ("hi", texts["hi"])]
        with Peak(a.device == "cuda") as peak:
            replay_train.run(base=str(base), tasks=tasks, devs=[], output=out, config=config)
        done = json.loads((out / "done.json").read_text())
        examples = sum(n for fed in done["examples"].values() for n in fed.values())
        rows.append(
            dict(
                stage="replay-train",
                what=f"LoRA, {strategy}",
                dtype=dtype,
                tokens_per_s=examples * per_example / done["train_seconds"],
                peak_gib=peak.gib,
            )
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="A tiny model on the CPU, a few steps: the script runs.")
    ap.add_argument("--steps", type=int, default=30, help="Optimizer steps per run (replay-train: per task).")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--block-size", type=int, default=512, help="distill's tokens per block.")
    ap.add_argument("--max-length", type=int, default=256, help="replay-train's tokens per example.")
    ap.add_argument("--out", type=Path, default=None, help="Also write the rows as JSON here.")
    a = ap.parse_args()
    import torch

    if a.smoke:
        a.device, a.steps, a.batch_size, a.block_size, a.max_length, a.log_every = "cpu", 4, 4, 64, 64, 1
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 1))
    else:
        if not torch.cuda.is_available():
            sys.exit("bench/gpu.py needs a CUDA GPU (or --smoke for a tiny CPU run)")
        a.device, a.log_every = "cuda", 5
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="cstool-bench-gpu-"))
    texts = _texts(work, per_row=8)
    base, params = _base(work, texts, a.smoke, positions=max(a.block_size, a.max_length))
    rows = bench_distill(work, base, texts, a) + bench_replay(work, base, texts, a)
    device = torch.cuda.get_device_name() if a.device == "cuda" else "CPU (smoke)"
    print(f"\n{device}, torch {torch.__version__}, model {params / 1e6:.1f} M parameters, {a.steps} steps per run, "
          f"batch {a.batch_size}, distill blocks of {a.block_size}, replay-train examples ≤ {a.max_length} tokens; "
          f"{time.perf_counter() - started:.0f} s in all\n")  # fmt: skip
    print("| stage | what | dtype | tokens/s | peak GiB |\n|---|---|---|---|---|")
    for r in rows:
        peak = f"{r['peak_gib']:.2f}" if r["peak_gib"] is not None else "–"
        print(f"| {r['stage']} | {r['what']} | {r['dtype']} | {r['tokens_per_s']:,.0f} | {peak} |")
    if a.out:
        a.out.write_text(json.dumps({"device": device, "parameters": params, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
