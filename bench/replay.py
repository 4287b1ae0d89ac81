"""Per-step training time of replay, replay-adapter and its variants against plain LoRA fine-tuning (naive).

    OMP_NUM_THREADS=1 .venv/bin/python bench/replay.py [--steps 80] [--repeats 2] [--variants naive,replay-adapter]
    python bench/replay.py --device cuda --hidden 384 --layers 6

Same tiny Llama base (default 4 layers, hidden 128; --layers/--hidden), same batch size and examples,
same en → hi → mr task
sequence (the demo corpus), --train-first so all three tasks are trained. Time is what replay-train spends
inside Trainer.train (data layout, model loading and evaluation excluded), divided by the optimizer steps;
strategies alternate and the best of --repeats is kept. Goal: replay and replay-adapter ≤ 1.05× naive.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO / "examples" / "demo" / "data"
VARIANTS = {  # label → ReplayConfig options
    "naive": dict(strategy="naive"),
    "replay": dict(strategy="replay"),
    "replay-adapter": dict(strategy="replay-adapter"),
    "replay-adapter/merge": dict(strategy="replay-adapter", composition="merge"),
    "replay-adapter/keep": dict(strategy="replay-adapter", composition="keep"),
    "replay-adapter/concurrent": dict(strategy="replay-adapter", replay_schedule="concurrent"),
    "replay-adapter/merge+concurrent": dict(
        strategy="replay-adapter", composition="merge", replay_schedule="concurrent"
    ),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated labels (naive is always run)")
    args = ap.parse_args()
    chosen = ["naive", *(v for v in args.variants.split(",") if v and v != "naive")]
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown:
        sys.exit(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")

    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from cstool.base.devices import set_threads
    from cstool.stages import replay_train, train_tokenizer
    from cstool.stages.replay_train import ReplayConfig
    from cstool.stages.train_tokenizer import TrainTokenizerConfig

    if args.device == "cpu":
        set_threads(1)
    work = Path(tempfile.mkdtemp(prefix="cstool-bench-replay-"))
    tasks = []
    for lang in ("en", "hi", "mr"):
        lines = [l for l in (DATA / f"{lang}.train.txt").read_text(encoding="utf-8").splitlines() if l.strip()]
        pq.write_table(pa.table({"id": [str(i) for i in range(len(lines))], "text": lines}), work / f"{lang}.parquet")
        tasks.append((lang, str(work / f"{lang}.parquet")))
    base = work / "base"
    train_tokenizer.run(TrainTokenizerConfig(vocab_size=500), data=[t[1] for t in tasks], output=base)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    torch.manual_seed(0)
    LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tok),
            hidden_size=args.hidden,
            intermediate_size=2 * args.hidden,
            num_hidden_layers=args.layers,
            num_attention_heads=4,
            max_position_embeddings=128,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        )
    ).save_pretrained(base)
    best: dict[str, float] = {}
    for r in range(args.repeats):
        for name in chosen:
            options = VARIANTS[name]
            out = work / f"{name}-{r}"
            config = ReplayConfig(
                **options,
                train_first=True,
                steps_per_task=args.steps,
                batch_size=args.batch_size,
                max_length=64,
                replay_ratio=0.25,
                buffer_per_task=100,
                device=args.device,
            )
            replay_train.run(base=str(base), tasks=tasks, devs=[], output=out, config=config)
            done = json.loads((out / "done.json").read_text())
            per_step = done["train_seconds"] / sum(done["steps"].values())
            best[name] = min(best.get(name, float("inf")), per_step)
    print(
        f"Llama {args.layers}x{args.hidden}, batch {args.batch_size}, {args.steps} steps per task × 3 tasks, "
        f"best of {args.repeats}"
    )
    for name, t in best.items():
        print(f"{name:28s} {1000 * t:7.1f} ms/step   ratio to naive {t / best['naive']:.3f}")
    print("goal: replay and replay-adapter <= 1.05x naive")


if __name__ == "__main__":
    main()
