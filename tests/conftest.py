"""Shared fixtures: real components built once per test run (a Stanza tagger, a tiny causal LM).

Stage-specific fixtures live in the stage's own test module. Data from ../shared is used when present;
tests that need it skip cleanly when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # lm-evaluation-harness tasks load their datasets offline
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
SHARED_DATA = Path(os.environ.get("CSTOOL_SHARED_DATA", REPO.parent / "shared" / "data"))
TINY_CONLLU = TESTS / "data" / "tiny_en.conllu"


def shared_file(relative: str) -> Path:
    """A file under ../shared/data, or skip the test when it is absent."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"shared data {path} not present")
    return path


def byte_bpe(texts, vocab_size: int, specials=("<pad>", "<s>", "</s>")):
    """A byte-level BPE tokenizer trained on ``texts`` as a ``PreTrainedTokenizerFast`` (<s>, </s>, <pad>)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(specials),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")


def tiny_llama_config(tok, **overrides):
    """A 2-layer, hidden-32 Llama config for ``tok`` (its size and special ids); ``overrides`` change fields."""
    from transformers import LlamaConfig

    fields = dict(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=128,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    return LlamaConfig(**{**fields, **overrides})


@pytest.fixture(scope="session")
def tagger(tmp_path_factory) -> dict:
    """A real Stanza POS tagger trained offline once per run.

    On the Marathi UFAL treebank when ../shared has it, else on the project's tiny English fixture.
    Returns {"path", "lang", "train", "dev", "accuracy"}.
    """
    from cstool.stages import train_tagger
    from cstool.stages.train_tagger import TrainTaggerConfig

    mr_train = SHARED_DATA / "ud" / "mr_ufal-ud-train.conllu"
    mr_dev = SHARED_DATA / "ud" / "mr_ufal-ud-dev.conllu"
    if mr_train.is_file() and mr_dev.is_file():
        lang, train, dev, steps = "mr", mr_train, mr_dev, 300
    else:
        lang, train, dev, steps = "en", TINY_CONLLU, None, 150
    out = tmp_path_factory.mktemp("tagger") / f"{lang}_tagger.pt"
    result = train_tagger.run(
        TrainTaggerConfig(lang=lang, max_steps=steps, eval_interval=50), train=train, dev=dev, output=out
    )
    return {"path": out, "lang": lang, "train": train, "dev": dev, "accuracy": result.dev_upos_accuracy}


TINY_CORPUS = [
    "the cat sits on the mat .",
    "a dog runs in the park .",
    "मैं घर जाता हूँ ।",
    "वह किताब पढ़ती है ।",
    "मी घरी जातो .",
    "ती पुस्तक वाचते .",
] * 20


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    """A tiny Llama (2 layers, hidden 32) with a byte-level BPE tokenizer, saved with save_pretrained.

    Weights are random (seeded); stages that need a model that knows something train it themselves.
    """
    import torch
    from transformers import LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny_lm")
    hf_tok = byte_bpe(TINY_CORPUS, 400)
    hf_tok.save_pretrained(out)
    torch.manual_seed(0)
    config = tiny_llama_config(hf_tok)
    LlamaForCausalLM(config).save_pretrained(out)
    return out
