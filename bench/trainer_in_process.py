"""cstool's KDTrainer (plain LM, its block dataset and collator) against `transformers.Trainer` on Python-list
blocks with the default collator, in ONE process: same model config, seed, batch, steps and thread; each side
built afresh per run, alternating, best of N. It separates the trainer's own cost from what a whole process adds
(bench/train_vs_trainer.py compares whole processes).

    OMP_NUM_THREADS=1 .venv/bin/python bench/trainer_in_process.py [--steps 30 --repeats 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForCausalLM, LlamaConfig, Trainer, TrainingArguments
from transformers.utils import logging as hf_logging

from cstool.lm.blocks import BlockDataset
from cstool.lm.training import KDTrainer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--block-size", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(1)
    hf_logging.set_verbosity_error()
    cfg = LlamaConfig(
        vocab_size=4000,
        hidden_size=args.hidden,
        intermediate_size=4 * args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=args.block_size,
    )
    n = args.batch_size * args.steps
    ids = np.random.default_rng(0).integers(0, cfg.vocab_size, size=(n, args.block_size)).astype(np.int64)
    lengths = np.full(n, args.block_size, dtype=np.int64)
    plain_blocks = [{"input_ids": r.tolist(), "labels": r.tolist()} for r in ids]

    def run(side: str, out: Path) -> float:
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(cfg)
        targs = TrainingArguments(
            str(out), per_device_train_batch_size=args.batch_size, max_steps=args.steps, learning_rate=5e-4, seed=0,
            logging_steps=10, report_to=[], use_cpu=True, disable_tqdm=True, save_strategy="no",
            remove_unused_columns=side == "trainer",
        )  # fmt: skip
        if side == "trainer":
            trainer = Trainer(model=model, args=targs, train_dataset=plain_blocks)
        else:
            trainer = KDTrainer(model=model, args=targs, train_dataset=BlockDataset(ids, lengths, None))
        started = time.perf_counter()
        trainer.train()
        return time.perf_counter() - started

    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for side in ("trainer", "cstool") if r % 2 == 0 else ("cstool", "trainer"):
                s = run(side, Path(tmp) / f"{side}-{r}")
                print(f"  {side:8s} {s:7.2f} s", flush=True)
                best[side] = min(best.get(side, s), s)
    print(
        f"llama {args.layers}×{args.hidden}, {args.steps} steps of {args.batch_size}×{args.block_size}, 1 thread, "
        f"best of {args.repeats}: Trainer {best['trainer']:.2f} s, KDTrainer {best['cstool']:.2f} s; "
        f"ratio Trainer / KDTrainer {best['trainer'] / best['cstool']:.3f}"
    )


if __name__ == "__main__":
    main()
