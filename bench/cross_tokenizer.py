"""Benchmark cross-tokenizer distillation on tiny sizes: held-out bits per byte and fertility of students of
equal parameter count, on English + Hindi.

    OMP_NUM_THREADS=1 .venv/bin/python bench/cross_tokenizer.py [--steps 150] [--teacher-steps 300]

Text: UD English PUD + Hindi PUD from ../shared/data (the last 100 sentences of each held out). The teacher
uses a byte-level BPE tokenizer trained on English only (an English-centric LLM tokenizer in miniature);
students have the same spec and vocabulary size, and are distilled (a) with the teacher's tokenizer and
forward KL, (b) with their own unigram tokenizer (cstool train-tokenizer on en + hi) and each
cross-tokenizer loss, (c) with (b)'s tokenizer and CE only. Every run goes through cstool's stages.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("CSTOOL_SHARED_DATA", REPO.parent / "shared" / "data")) / "ud"


def _sentences(name: str) -> list[str]:
    from cstool.conllu import read_conllu

    path = SHARED / name
    if not path.is_file():
        sys.exit(f"{path} not present")
    return [s.text for s in read_conllu(path)]


def _bpe(texts: list[str], vocab_size: int, out: Path) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    fast.save_pretrained(out)
    return str(out)


def main() -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from cstool.lm.fertility import fertility
    from cstool.lm.scoring import score_lm
    from cstool.stages.distill import DistillConfig, distill
    from cstool.stages.train_tokenizer import TrainTokenizerConfig, train_tokenizer

    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--teacher-steps", type=int, default=300)
    ap.add_argument("--vocab-size", type=int, default=1000)
    ap.add_argument("--student-spec", default="llama:layers=2,hidden=64,heads=4,positions=256")
    ap.add_argument("--teacher-spec", default="llama:layers=2,hidden=128,heads=4,positions=512")
    args = ap.parse_args()
    en, hi = _sentences("en_pud-ud-test.conllu"), _sentences("hi_pud-ud-test.conllu")
    train, held = en[:-100] + hi[:-100], {"en": en[-100:], "hi": hi[-100:]}
    tmp = Path(tempfile.mkdtemp(prefix="bench-tok-"))
    data = tmp / "train.parquet"
    pq.write_table(pa.table({"text": train}), data)
    teacher_tok = _bpe(en[:-100], args.vocab_size, tmp / "teacher_tok")
    own_tok = tmp / "own_tok"
    train_tokenizer([str(data)], own_tok, config=TrainTokenizerConfig(vocab_size=args.vocab_size))
    common = dict(block_size=128, batch_size=8, lr=3e-3, log_every=50, device="cpu", seed=0)
    t0 = time.perf_counter()
    distill(
        [str(data)],
        tmp / "teacher",
        config=DistillConfig(
            student_config=args.teacher_spec, tokenizer=teacher_tok, max_steps=args.teacher_steps, **common
        ),
    )
    print(f"teacher trained in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    variants = {
        "teacher": None,
        "a: teacher tok, fkl": dict(tokenizer=teacher_tok, teacher=str(tmp / "teacher")),
        "b: own tok, uld": dict(tokenizer=str(own_tok), teacher=str(tmp / "teacher"), cross_tokenizer="uld"),
        "b: own tok, spans": dict(tokenizer=str(own_tok), teacher=str(tmp / "teacher"), cross_tokenizer="spans"),
        "c: own tok, CE only": dict(tokenizer=str(own_tok)),
    }
    rows = []
    for name, options in variants.items():
        out = tmp / "teacher" if options is None else tmp / name.split(":")[0] / name.replace(" ", "_")
        seconds = 0.0
        if options is not None:
            t0 = time.perf_counter()
            distill(
                [str(data)],
                out,
                config=DistillConfig(student_config=args.student_spec, max_steps=args.steps, **common, **options),
            )
            seconds = time.perf_counter() - t0
        model, tok = AutoModelForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out)
        row = [name, f"{model.num_parameters():,}", f"{seconds:.0f}"]
        for texts in held.values():
            score = score_lm(model, tok, texts)
            fert = fertility(texts, score.tokens)
            row += [f"{score.bpb:.3f}", f"{fert['tokens_per_word']:.2f}"]
        rows.append(row)
    header = ["student", "params", "train s", "en bpb", "en tok/word", "hi bpb", "hi tok/word"]
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(row))


if __name__ == "__main__":
    main()
