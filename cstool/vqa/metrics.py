"""VQA answer normalisation and accuracy (docs/method.md, section eval).

Accuracy of one prediction against its reference answers:

* one reference: exact match after normalisation (1.0 or 0.0);
* ``n ≥ 2`` references (VQAv2 has 10 annotators): the official VQA formula
  ``acc = mean over the n leave-one-out subsets S of min(1, #{r in S : r == prediction} / 3)``,
  so with 10 references and ``m`` matches: m=0 → 0, 1 → 0.3, 2 → 0.6, 3 → 0.9, ≥4 → 1.0.

Normalisation (:func:`normalize_answer`) is language-aware and applied to the prediction and to every
reference: Unicode NFC, case-fold, any Unicode decimal digit (Devanagari ``०``–``९``, Bengali, …) → ASCII,
punctuation of every script removed (including the danda ``।`` and double danda ``॥``; a ``.`` between
digits is kept and a ``,`` between digits dropped, so ``3.5`` and ``1,000`` survive), whitespace collapsed.
English answers (``lang="en"``) also get the official VQA rules: articles dropped and number words
zero–ten written as digits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from cstool.errors import InputError

_EN_NUMBERS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
_EN_ARTICLES = {"a", "an", "the"}
_APOSTROPHES = {"'", "’", "‘", "ʼ"}
_DIGIT_SEP = re.compile(r"(?<=\d)([.,])(?=\d)")


def _ascii_digits(text: str) -> str:
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def normalize_answer(text: str, lang: str | None = None) -> str:
    """Normalise an answer for comparison (see the module docstring for the rules)."""
    text = unicodedata.normalize("NFC", text).casefold()
    text = _ascii_digits(text)
    # Protect separators inside numbers: keep "3.5", turn "1,000" into "1000".
    text = _DIGIT_SEP.sub(lambda m: "\0" if m.group(1) == "." else "", text)
    out = []
    for ch in text:
        if ch in _APOSTROPHES:
            continue  # "don't" → "dont", like the official evaluation's contraction handling
        out.append(" " if unicodedata.category(ch).startswith("P") else ch)
    words = "".join(out).replace("\0", ".").split()
    if lang is not None and lang.split("_")[0].split("-")[0].lower() == "en":
        words = [_EN_NUMBERS.get(w, w) for w in words if w not in _EN_ARTICLES]
    return " ".join(words)


def vqa_accuracy(prediction: str, references: Sequence[str], lang: str | None = None) -> float:
    """Accuracy of ``prediction`` against ``references`` (formula in the module docstring)."""
    refs = [normalize_answer(r, lang) for r in references if r is not None]
    if not refs:
        raise InputError("a VQA prediction has no reference answers", "give every row a non-empty answers list")
    pred = normalize_answer(prediction or "", lang)
    if len(refs) == 1:
        return float(pred == refs[0])
    matches = sum(r == pred for r in refs)
    # Leaving out a matching reference leaves matches-1 matches; leaving out another leaves matches.
    total = matches * min(1.0, (matches - 1) / 3) + (len(refs) - matches) * min(1.0, matches / 3)
    return total / len(refs)


def vqa_scores(
    predictions: Sequence[str | None],
    references: Sequence[Sequence[str] | None],
    langs: Sequence[str | None] | None = None,
    *,
    ids: Sequence[str] | None = None,
) -> list[float]:
    """Per-example accuracy. Every example needs at least one reference; the error names those without."""
    if len(predictions) != len(references):
        raise InputError(
            f"{len(predictions)} predictions but {len(references)} reference lists",
            "give one answers list per prediction",
        )
    missing = [i for i, refs in enumerate(references) if not refs or all(r is None for r in refs)]
    if missing:
        names = [ids[i] if ids is not None else str(i) for i in missing[:5]]
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise InputError(
            f"{len(missing)} VQA examples have no reference answers (ids {', '.join(names)}{more})",
            "every row needs a non-empty 'answers' list; drop unanswered questions before eval",
        )
    langs = langs if langs is not None else [None] * len(predictions)
    return [vqa_accuracy(p or "", r, lang) for p, r, lang in zip(predictions, references, langs, strict=True)]
