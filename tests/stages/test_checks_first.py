"""Check before the run folder exists: every limit that can be known before training or scoring (positions,
vocabularies, columns) is checked first, so a run that cannot finish exits 2 without creating its output."""

from __future__ import annotations

import shutil

import pytest

from .conftest import assert_user_error, invoke


@pytest.fixture(scope="module")
def models(inputs, tmp_path_factory) -> dict:
    """A GPT-2 of 16 positions with the tiny LM's tokenizer, and the tiny LM with a tokenizer larger than its
    embedding table."""
    import torch
    from tokenizers import Tokenizer, pre_tokenizers, trainers
    from tokenizers import models as tok_models
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("limits")
    tok = AutoTokenizer.from_pretrained(inputs["lm"])
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(tok),
        n_positions=16,
        n_embd=32,
        n_layer=1,
        n_head=2,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(root / "gpt2-16")
    tok.save_pretrained(root / "gpt2-16")
    shutil.copytree(inputs["lm"], root / "big-tok")
    big = Tokenizer(tok_models.BPE())
    big.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    big.train_from_iterator(
        [f"word{i} token{i * 7} thing{i * 13}" for i in range(2000)],
        trainer=trainers.BpeTrainer(
            vocab_size=900,
            special_tokens=["<pad>", "<s>", "</s>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    PreTrainedTokenizerFast(tokenizer_object=big, bos_token="<s>", eos_token="</s>", pad_token="<pad>").save_pretrained(
        root / "big-tok"
    )
    return {"short": root / "gpt2-16", "big_tok": root / "big-tok"}


TASKS = ["--task", "en={tagged}", "--task", "hi={tagged}", "--steps-per-task", "1", "--device", "cpu"]
CASES = {
    "replay-train positions": (
        ["replay-train", "--base", "{short}", *TASKS, "-o", "{OUT}"],
        "--max-length 128 is larger than the base's 16 positions",
    ),
    "replay-train KD teacher positions": (
        ["replay-train", "--base", "{lm}", "--kd-teacher", "{short}", "--strategy", "replay", *TASKS, "-o", "{OUT}"],
        "--max-length 128 is larger than the KD teacher's 16 positions",
    ),
    "replay-train vocabulary": (
        ["replay-train", "--base", "{big_tok}", *TASKS, "-o", "{OUT}"],
        "they do not belong together",
    ),
    "replay-train column": (
        ["replay-train", "--base", "{lm}", *TASKS, "--cs", "pos", "-o", "{OUT}"],
        "has no column 'text_cs'",
    ),
    "distill positions": (
        ["distill", "{tagged}", "--student", "{short}", "--block-size", "32", "-o", "{OUT}"],
        "--block-size 32 is larger than the student's 16 positions",
    ),
    "distill teacher positions": (
        ["distill", "{tagged}", "--teacher", "{short}", "--student", "{lm}", "--block-size", "32", "-o", "{OUT}"],
        "--block-size 32 is larger than the teacher's 16 positions",
    ),
    "distill vocabulary": (
        ["distill", "{tagged}", "--student", "{big_tok}", "--block-size", "16", "-o", "{OUT}"],
        "they do not belong together",
    ),
    "teacher-cache positions": (
        ["teacher-cache", "{tagged}", "--teacher", "{short}", "--block-size", "32", "-o", "{OUT}.parquet"],
        "--block-size 32 is larger than the teacher's 16 positions",
    ),
    "teacher-cache vocabulary": (
        ["teacher-cache", "{tagged}", "--teacher", "{big_tok}", "--block-size", "16", "-o", "{OUT}.parquet"],
        "they do not belong together",
    ),
    "eval vocabulary": (
        ["eval", "--model", "{big_tok}", "--data", "x={tagged}", "-o", "{OUT}.parquet"],
        "they do not belong together",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_run_that_cannot_finish_creates_nothing(case, inputs, models, tmp_path):
    argv, said = CASES[case]
    values = {**{k: str(v) for k, v in {**inputs, **models}.items()}, "OUT": str(tmp_path / "out")}
    code, output = invoke(*[a.format(**values) for a in argv])
    assert_user_error(code, output, said)
    assert list(tmp_path.iterdir()) == []
