"""`cstool distill` (no teacher: plain causal-LM training) against the plain `transformers.Trainer` script a user
would write instead, as whole processes.

    OMP_NUM_THREADS=1 .venv/bin/python bench/train_vs_trainer.py [--steps 200] [--repeats 3]
    OMP_NUM_THREADS=1 .venv/bin/python bench/train_vs_trainer.py --layers 6 --hidden 384 --heads 6 --steps 60
    python bench/train_vs_trainer.py --device cuda --layers 12 --hidden 768 --heads 12 --block-size 512

Both sides get the same text artifact (UD Hindi PUD + Marathi UFAL + English PUD/EWT dev and test from
../shared/data, or --data PARQUET), the same tokenizer (a 4,000-piece one from `cstool train-tokenizer`), the same
model config (`config.json` of the spec below, built by cstool), the same packed blocks (texts tokenised, EOS
appended, concatenated, cut into --block-size; cstool also keeps the last partial block, padded), batch, steps,
learning rate, seed and threads. The Trainer script (written out below, see TRAINER_SCRIPT) is the ten lines a
user would write: read the texts, tokenise and pack them, build the model from the config, `Trainer(...).train()`,
`save_pretrained`. cstool is `python -m cstool distill DATA -o OUT --tokenizer TOK --student-config SPEC ...` with
its defaults otherwise (checkpoint every 200 steps, log every 10, metrics table, provenance). Each measurement is
the wall time of a fresh process (imports included); the two sides alternate, best of --repeats. Printed:
both times, the time inside `Trainer.train` of each, the minor page faults of each process, and the ratio trainer
time / cstool time (goal ≥ 1.0). cstool fixes glibc's allocator thresholds before training (cstool/base/hostmem.py);
--same-allocator gives the plain script the same settings, so that the ratio shows cstool's own cost alone.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("CSTOOL_SHARED_DATA", REPO.parent / "shared" / "data")) / "ud"
DEFAULT_DATA = [
    "hi_pud-ud-test.conllu",
    "mr_ufal-ud-train.conllu",
    "en_pud-ud-test.conllu",
    "en_ewt-ud-dev.conllu",
    "en_ewt-ud-test.conllu",
]

# The plain script: what a user writes with transformers alone. argv: data tok config out block batch steps lr
# seed device. It prints the time inside trainer.train() as JSON on its last line.
TRAINER_SCRIPT = """\
import json, sys, time
import pyarrow.parquet as pq
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments
data, tok_dir, cfg_dir, out, block, batch, steps, lr, seed, device = sys.argv[1:]
block, batch, steps, lr, seed = int(block), int(batch), int(steps), float(lr), int(seed)
tok = AutoTokenizer.from_pretrained(tok_dir)
texts = [t for t in pq.read_table(data, columns=["text"]).column("text").to_pylist() if t and t.strip()]
stream = [i for ids in tok(texts)["input_ids"] for i in ids + [tok.eos_token_id]]
blocks = [{"input_ids": stream[i : i + block], "labels": stream[i : i + block]}
          for i in range(0, len(stream) - block + 1, block)]
model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(cfg_dir))
args = TrainingArguments(out, per_device_train_batch_size=batch, max_steps=steps, learning_rate=lr, seed=seed,
                         logging_steps=10, report_to=[], use_cpu=device == "cpu", disable_tqdm=True)
trainer = Trainer(model=model, args=args, train_dataset=blocks)
started = time.perf_counter()
trainer.train()
train_s = time.perf_counter() - started
model.save_pretrained(out)
tok.save_pretrained(out)
print(json.dumps({"train_s": train_s}))
"""


def _text_artifact(args, tmp: Path) -> str:
    from distill import ud_text_parquet  # bench/distill.py, beside this script

    return args.data or ud_text_parquet(DEFAULT_DATA, tmp)


def _run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, str, int]:
    """Wall seconds, stdout and minor page faults of a child process."""
    faults = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return wall, proc.stdout, resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt - faults


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data")
    ap.add_argument("--vocab-size", type=int, default=4000)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--block-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--keep", help="keep the work folder here (default: a temporary folder)")
    ap.add_argument(
        "--same-allocator",
        action="store_true",
        help="give the plain script the host allocator settings cstool applies (cstool/base/hostmem.py), through "
        "glibc's MALLOC_*_ variables: what is left is cstool's own cost",
    )
    args = ap.parse_args()

    from cstool.base.console import set_quiet
    from cstool.models import hf
    from cstool.stages import train_tokenizer
    from cstool.stages.train_tokenizer import TrainTokenizerConfig

    set_quiet(True)
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-train-"))
    tmp.mkdir(parents=True, exist_ok=True)
    data = _text_artifact(args, tmp)
    tok_dir = tmp / "tok"
    if not (tok_dir / "tokenizer.json").exists():
        train_tokenizer.run(TrainTokenizerConfig(vocab_size=args.vocab_size), data=[data], output=tok_dir)
    tok = hf.load_tokenizer(tok_dir)
    spec = f"llama:layers={args.layers},hidden={args.hidden},heads={args.heads},positions={args.block_size}"
    special = {k: getattr(tok, k) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    hf.build_causal_lm(spec, vocab_size=len(tok), special_ids=special, seed=0).config.save_pretrained(tmp / "cfg")
    script = tmp / "plain_trainer.py"
    script.write_text(TRAINER_SCRIPT, encoding="utf-8")

    py = sys.executable
    common = [str(args.block_size), str(args.batch_size), str(args.steps), str(args.lr), "0", args.device]
    from cstool.base import hostmem

    plain_env = (
        {
            "MALLOC_MMAP_THRESHOLD_": str(hostmem.MMAP_THRESHOLD),
            "MALLOC_TRIM_THRESHOLD_": str(hostmem.TRIM_THRESHOLD),
            "MALLOC_TOP_PAD_": str(hostmem.TOP_PAD),
        }
        if args.same_allocator
        else {}
    )
    best: dict[str, tuple[float, float, int]] = {}
    runs: dict[str, list[float]] = {}
    for r in range(args.repeats):
        for side in ("trainer", "cstool") if r % 2 == 0 else ("cstool", "trainer"):
            out = tmp / f"{side}-{r}"
            if side == "trainer":
                cmd = [py, str(script), data, str(tok_dir), str(tmp / "cfg"), str(out), *common]
                wall, stdout, faults = _run(cmd, plain_env)
                inside = json.loads(stdout.strip().splitlines()[-1])["train_s"]
            else:
                cmd = [py, "-m", "cstool", "--quiet", "distill", data, "-o", str(out), "--tokenizer", str(tok_dir)]
                cmd += ["--student-config", spec, "--block-size", str(args.block_size)]
                cmd += ["--batch-size", str(args.batch_size), "--max-steps", str(args.steps), "--lr", str(args.lr)]
                cmd += ["--seed", "0", "--device", args.device]
                wall, _, faults = _run(cmd)
                inside = json.loads((out / "done.json").read_text())["seconds"]
            runs.setdefault(side, []).append(wall)
            if side not in best or wall < best[side][0]:
                best[side] = (wall, inside, faults)

    import torch

    card = (
        torch.cuda.get_device_name(0)
        if args.device.startswith("cuda")
        else f"CPU, {os.environ['OMP_NUM_THREADS']} thread(s)"
    )
    print(
        f"device: {card}; llama {args.layers}×{args.hidden}, vocab {len(tok)}, {args.steps} steps of "
        f"{args.batch_size}×{args.block_size} tokens; whole processes, alternating, best of {args.repeats}"
        + ("; the plain script with cstool's allocator settings" if args.same_allocator else "")
    )
    print(f"{'side':<34}{'process s':>10}{'in train() s':>14}{'outside s':>11}{'minor faults':>14}")
    for side, label in (("trainer", "plain transformers.Trainer script"), ("cstool", "cstool distill")):
        wall, inside, faults = best[side]
        print(f"{label:<34}{wall:>10.2f}{inside:>14.2f}{wall - inside:>11.2f}{faults:>14,}")
    print("every run (process s): " + "; ".join(f"{k} {', '.join(f'{w:.1f}' for w in v)}" for k, v in runs.items()))
    print(f"ratio trainer / cstool (process):  {best['trainer'][0] / best['cstool'][0]:.3f}  (goal ≥ 1.0)")
    print(f"ratio trainer / cstool (train()):  {best['trainer'][1] / best['cstool'][1]:.3f}")


if __name__ == "__main__":
    main()
