"""Tokenizer fertility: how many tokens a tokenizer spends on a set of texts (``cstool eval``'s
``tokens_per_word`` and ``bytes_per_token``).

* ``tokens_per_word``  = Σ tokens / Σ words, words being the whitespace-separated pieces of each text
  (``str.split()``), so scripts without spaces between words (Chinese, Thai) read high;
* ``bytes_per_token``  = Σ UTF-8 bytes / Σ tokens.

Tokens are those of each text without special tokens, the ones ``score_lm`` predicts. Bits per byte, not
these, is the measure of quality that compares across tokenizers; fertility says what each costs.
"""

from __future__ import annotations

from collections.abc import Sequence


def fertility(texts: Sequence[str], tokens: Sequence[int]) -> dict[str, float]:
    """``tokens_per_word`` and ``bytes_per_token`` of ``texts`` given each text's token count.

    A ratio whose denominator is 0 (no words, no tokens) is NaN.
    """
    n_tokens = sum(tokens)
    n_words = sum(len(t.split()) for t in texts)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    nan = float("nan")
    return {
        "tokens_per_word": n_tokens / n_words if n_words else nan,
        "bytes_per_token": n_bytes / n_tokens if n_tokens else nan,
    }


def token_counts(tokenizer, texts: Sequence[str]) -> list[int]:
    """Tokens per text without special tokens."""
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [len(row) for row in ids]


def tokenizer_fertility(tokenizer, texts: Sequence[str]) -> dict[str, float]:
    """:func:`fertility` of ``tokenizer`` on ``texts``."""
    return fertility(texts, token_counts(tokenizer, texts))
