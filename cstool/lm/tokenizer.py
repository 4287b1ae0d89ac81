"""A sentencepiece unigram tokenizer for from-scratch teachers, loadable by ``AutoTokenizer``.

sentencepiece learns the pieces and their scores; the result is rebuilt as a ``tokenizers`` Unigram model
(same pieces, same scores, sentencepiece's own normalisation table, a Metaspace pre-tokenizer and
decoder, byte fallback) and saved as a ``PreTrainedTokenizerFast``. Its ids equal sentencepiece's, so no
slow tokenizer class (which would reinterpret the ``.model`` file) is involved. The ``.model`` file is
kept next to it (``spm.model``) by ``cstool train-tokenizer``, for reference.

Special tokens: ``<unk>`` 0, ``<s>`` 1, ``</s>`` 2, ``<pad>`` 3; ``<s>`` is prepended to every text.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cstool.base.errors import ConfigError, CstoolError
from cstool.base.fields import SEED, option

SPECIALS = {"unk": (0, "<unk>"), "bos": (1, "<s>"), "eos": (2, "</s>"), "pad": (3, "<pad>")}


@dataclass(frozen=True)
class SentencePieceOptions:
    """What sentencepiece is trained with (the options of train-tokenizer that shape the vocabulary)."""

    vocab_size: int = option(4000, "Pieces in the vocabulary.", low=8, high=2**20)
    character_coverage: float = option(0.9995, "Share of characters covered by pieces; rest via bytes.")
    byte_fallback: bool = option(
        True, "Spell characters outside the vocabulary as UTF-8 byte pieces (256 of them), not <unk>."
    )
    max_sentences: int = option(
        2_000_000,
        "Most texts sentencepiece trains on (a random sample of them when there are more).",
        low=1,
        high=10**9,
    )
    seed: int = option(1234, "Random seed.", **SEED)

    def __post_init__(self) -> None:
        problems = []
        if self.vocab_size < 8 + (256 if self.byte_fallback else 0):
            problems.append(
                f"--vocab-size must be at least {8 + (256 if self.byte_fallback else 0)}"
                f"{' with byte fallback (256 byte pieces)' if self.byte_fallback else ''}, got {self.vocab_size}"
            )
        if not 0.9 <= self.character_coverage <= 1.0:
            problems.append(f"--character-coverage must be in [0.9, 1], got {self.character_coverage}")
        if self.max_sentences < 1:
            problems.append(f"--max-sentences must be positive, got {self.max_sentences}")
        ConfigError.collect(problems, "see cstool train-tokenizer --help")


def train_sentencepiece(texts: Iterator[str], config: SentencePieceOptions) -> bytes:
    """Train a unigram sentencepiece model on ``texts``; return the serialized ``.model``."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.set_random_generator_seed(config.seed)
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=texts,
            model_writer=model,
            model_type="unigram",
            vocab_size=config.vocab_size,
            character_coverage=config.character_coverage,
            byte_fallback=config.byte_fallback,
            input_sentence_size=config.max_sentences,
            shuffle_input_sentence=True,
            seed_sentencepiece_size=1_000_000,
            **{f"{k}_id": i for k, (i, _) in SPECIALS.items()},
            **{f"{k}_piece": p for k, (_, p) in SPECIALS.items()},
            num_threads=int(os.environ.get("OMP_NUM_THREADS") or 1),
            minloglevel=2,
        )
    except RuntimeError as e:
        msg = str(e).splitlines()[-1] if str(e) else type(e).__name__
        if "too high" in msg:
            hint = "lower --vocab-size (a small corpus supports only so many pieces) or give more text"
        elif "required_chars" in msg:
            hint = "raise --vocab-size (every character needs a piece) or lower --character-coverage"
        else:
            hint = "check the input text"
        raise CstoolError(
            f"sentencepiece could not train a {config.vocab_size}-piece vocabulary: {msg}", hint
        ) from None
    return model.getvalue()


def fast_tokenizer_from_sentencepiece(model_bytes: bytes) -> Any:
    """A ``PreTrainedTokenizerFast`` (tokenizers Unigram) with the same ids as the sentencepiece model."""
    from sentencepiece import sentencepiece_model_pb2 as pb
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        normalizers,
        pre_tokenizers,
        processors,
    )
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    proto = pb.ModelProto()
    proto.ParseFromString(model_bytes)
    vocab = [(p.piece, p.score) for p in proto.pieces]
    byte_fallback = proto.trainer_spec.byte_fallback
    tok = Tokenizer(Unigram(vocab, unk_id=proto.trainer_spec.unk_id, byte_fallback=byte_fallback))
    norm = (
        [normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap)]
        if proto.normalizer_spec.precompiled_charsmap
        else []
    )
    if proto.normalizer_spec.remove_extra_whitespaces:
        norm += [normalizers.Strip(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok.normalizer = normalizers.Sequence(norm)
    prepend = "always" if proto.normalizer_spec.add_dummy_prefix else "never"
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=prepend, split=True)
    steps = [decoders.Replace("▁", " ")] + ([decoders.ByteFallback()] if byte_fallback else []) + [decoders.Fuse()]
    if proto.normalizer_spec.add_dummy_prefix:
        steps.append(decoders.Strip(content=" ", left=1, right=0))
    tok.decoder = decoders.Sequence(steps)
    bos = SPECIALS["bos"][1]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, SPECIALS["bos"][0])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token=SPECIALS["unk"][1],
        bos_token=bos,
        eos_token=SPECIALS["eos"][1],
        pad_token=SPECIALS["pad"][1],
        add_bos_token=True,
        add_eos_token=False,
    )
