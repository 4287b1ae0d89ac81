"""Benchmark cross-tokenizer distillation on tiny sizes: held-out bits per byte and fertility of students of
equal parameter count, on English + Hindi.

    OMP_NUM_THREADS=1 .venv/bin/python bench/cross_tokenizer.py [--steps 150] [--teacher-steps 300]
    OMP_NUM_THREADS=1 .venv/bin/python bench/cross_tokenizer.py --teacher examples/real/out/smollm2 \
        --student-spec llama:layers=3,hidden=256,heads=4,tie_word_embeddings=true \
        --own-spec llama:layers=3,hidden=512,heads=8,intermediate=2304,tie_word_embeddings=true --vocab-size 4000

With ``--teacher`` (a real LLM's folder, e.g. SmolLM2-135M from ``cstool import-model``, what
``make bench-tokenizers`` runs) the teacher is not trained: (a) uses its tokenizer and ``--student-spec``, and
the own-tokenizer students use ``--own-spec`` (sized so the parameter counts match (a)'s, whose embedding of the
teacher's vocabulary is most of it).

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
    from cstool.io.conllu import read_conllu

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
    from cstool.stages import distill, train_tokenizer
    from cstool.stages.distill import DistillConfig
    from cstool.stages.train_tokenizer import TrainTokenizerConfig

    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--teacher-steps", type=int, default=300)
    ap.add_argument("--vocab-size", type=int, default=1000)
    ap.add_argument("--student-spec", default="llama:layers=2,hidden=64,heads=4,positions=256")
    ap.add_argument("--teacher-spec", default="llama:layers=2,hidden=128,heads=4,positions=512")
    ap.add_argument("--teacher", help="a trained teacher's folder (its tokenizer is (a)'s); default: train one")
    ap.add_argument("--own-spec", help="spec of the own-tokenizer students (default: --student-spec)")
    ap.add_argument("--block-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--out", help="keep the models here (default: a temporary folder)")
    args = ap.parse_args()
    en, hi = _sentences("en_pud-ud-test.conllu"), _sentences("hi_pud-ud-test.conllu")
    train, held = en[:-100] + hi[:-100], {"en": en[-100:], "hi": hi[-100:]}
    tmp = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench-tok-"))
    tmp.mkdir(parents=True, exist_ok=True)
    data = tmp / "train.parquet"
    pq.write_table(pa.table({"text": train}), data)
    own_tok = tmp / "own_tok"
    if not (own_tok / "tokenizer_config.json").is_file():
        train_tokenizer.run(TrainTokenizerConfig(vocab_size=args.vocab_size), data=[str(data)], output=own_tok)
    common = dict(
        block_size=args.block_size, batch_size=args.batch_size, lr=args.lr, log_every=50, device="cpu", seed=0
    )
    if args.teacher:
        teacher, teacher_tok = args.teacher, args.teacher
    else:
        teacher, teacher_tok = str(tmp / "teacher"), _bpe(en[:-100], args.vocab_size, tmp / "teacher_tok")
        t0 = time.perf_counter()
        distill.run(
            DistillConfig(
                student_config=args.teacher_spec, tokenizer=teacher_tok, max_steps=args.teacher_steps, **common
            ),
            data=[str(data)],
            output=tmp / "teacher",
        )
        print(f"teacher trained in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    own = dict(student_config=args.own_spec or args.student_spec, tokenizer=str(own_tok))
    variants = {
        "teacher": None,
        "a: teacher tok, fkl": dict(student_config=args.student_spec, tokenizer=teacher_tok, teacher=teacher),
        "b: own tok, uld": dict(**own, teacher=teacher, cross_tokenizer="uld"),
        "b: own tok, spans": dict(**own, teacher=teacher, cross_tokenizer="spans"),
        "c: own tok, CE only": own,
    }
    rows = []
    for name, options in variants.items():
        out = Path(teacher) if options is None else tmp / name.split(":")[0] / name.replace(" ", "_")
        seconds = 0.0
        if options is not None:
            t0 = time.perf_counter()
            distill.run(DistillConfig(max_steps=args.steps, **common, **options), data=[str(data)], output=out)
            seconds = time.perf_counter() - t0
        print(f"{name}: trained in {seconds:.0f}s", file=sys.stderr, flush=True)
        model, tok = AutoModelForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out)
        row = [name, f"{model.num_parameters():,}", f"{seconds:.0f}"]
        eval_seconds, eval_bytes = 0.0, 0
        for texts in held.values():
            t0 = time.perf_counter()
            score = score_lm(model, tok, texts)
            eval_seconds += time.perf_counter() - t0
            eval_bytes += sum(len(t.encode()) for t in texts)
            fert = fertility(texts, score.tokens)
            row += [f"{score.bpb:.3f}", f"{fert['tokens_per_word']:.2f}"]
        rows.append(row + [f"{eval_bytes / eval_seconds / 1000:.1f}"])
    header = ["student", "params", "train s", "en bpb", "en tok/word", "hi bpb", "hi tok/word", "eval kB/s"]
    print("| " + " | ".join(header) + " |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
