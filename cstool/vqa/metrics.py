"""VQA answer normalisation and accuracy (docs/method.md, section eval).

Accuracy of one prediction against its reference answers:

* one reference: exact match after normalisation (1.0 or 0.0);
* ``n ≥ 2`` references (VQAv2 has 10 annotators): the official VQA formula
  ``acc = mean over the n leave-one-out subsets S of min(1, #{r in S : r == prediction} / 3)``,
  so with 10 references and ``m`` matches: m=0 → 0, 1 → 0.3, 2 → 0.6, 3 → 0.9, ≥4 → 1.0.

Two normalisations (``normalization=``):

``multilingual`` (the default; :func:`normalize_answer`), language-aware and applied to the prediction and to
every reference: Unicode NFC, case-fold, any Unicode decimal digit (Devanagari ``०``–``९``, Bengali, …) → ASCII,
a ``.`` before a digit kept (``3.5``, ``.5``) and a ``,`` between digits dropped (``1,000`` → ``1000``),
apostrophes removed (``don't`` → ``dont``), punctuation of every script (Unicode category P, including the danda
``।`` and double danda ``॥``) and the official script's ASCII symbols `` ` + = < > `` → space, whitespace
collapsed. English answers (``lang="en"``) also drop articles and write number words zero–ten as digits.

``official`` (:func:`official_answers`): the official VQA evaluation script (vqaEval.py), quirks included, for
English: answers are stripped; only when the stripped references are not all identical are the prediction and
the references normalised, by its ``processPunctuation`` (its punctuation list, its ``commaStrip`` and
``periodStrip`` regular expressions) and ``processDigitArticle`` (lower-case, number words, articles, its
contraction list); the comparison is exact. So against ten identical ``yes``, ``Yes`` and ``yes.`` score 0.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from cstool.base.errors import InputError

NORMALIZATIONS = ("multilingual", "official")

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
# Symbols (Unicode S*) that the official script removes as punctuation.
_OFFICIAL_SYMBOLS = {"`", "+", "=", "<", ">"}
# Separators inside numbers: a "." before a digit (3.5, .5) is kept, a "," between digits dropped (1,000).
_NUMBER_SEP = re.compile(r"\.(?=\d)|(?<=\d),(?=\d)")


def _ascii_digits(text: str) -> str:
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def normalize_answer(text: str, lang: str | None = None) -> str:
    """Normalise an answer for comparison, ``multilingual`` rules (see the module docstring)."""
    text = unicodedata.normalize("NFC", text).casefold()
    text = _ascii_digits(text)
    text = _NUMBER_SEP.sub(lambda m: "\0" if m.group() == "." else "", text)
    out = []
    for ch in text:
        if ch in _APOSTROPHES:
            continue  # "don't" → "dont"
        punct = unicodedata.category(ch).startswith("P") or ch in _OFFICIAL_SYMBOLS
        out.append(" " if punct else ch)
    words = "".join(out).replace("\0", ".").split()
    if lang is not None and lang.split("_")[0].split("-")[0].lower() == "en":
        words = [_EN_NUMBERS.get(w, w) for w in words if w not in _EN_ARTICLES]
    return " ".join(words)


# ---------------------------------------------------------------------------------------------------------
# The official VQA evaluation script's normalisation (vqaEval.py), rule for rule

_CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "couldn'tve": "couldn't've", "couldnt've": "couldn't've", "didnt": "didn't", "doesnt": "doesn't", "dont": "don't",
    "hadnt": "hadn't", "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd", "howll": "how'll",
    "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm", "Ive": "I've", "isnt": "isn't", "itd": "it'd",
    "itd've": "it'd've", "it'dve": "it'd've", "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've", "mustnt": "mustn't",
    "mustve": "must've", "neednt": "needn't", "notve": "not've", "oclock": "o'clock", "oughtnt": "oughtn't",
    "ow's'at": "'ow's'at", "'ows'at": "'ow's'at", "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've",
    "she'dve": "she'd've", "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've", "somebodyll": "somebody'll",
    "somebodys": "somebody's", "someoned": "someone'd", "someoned've": "someone'd've", "someone'dve": "someone'd've",
    "someonell": "someone'll", "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's", "thered": "there'd",
    "thered've": "there'd've", "there'dve": "there'd've", "therere": "there're", "theres": "there's", "theyd": "they'd",
    "theyd've": "they'd've", "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've", "weve": "we've", "werent": "weren't",
    "whatll": "what'll", "whatre": "what're", "whats": "what's", "whatve": "what've", "whens": "when's",
    "whered": "where'd", "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're",
    "whys": "why's", "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've", "youd": "you'd",
    "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll", "youre": "you're", "youve": "you've",
}  # fmt: skip
_PUNCT = [";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"]
# As written in the script: "(?!<=\d)" is a look-ahead (not a look-behind), so every "." not followed by a
# digit is removed.
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_STRIP = re.compile(r"(\d)(\,)(\d)")


def official_punctuation(text: str) -> str:
    """vqaEval.py's ``processPunctuation``: a listed character next to a space, or any of them when the answer
    has a comma between digits, is deleted, otherwise replaced by a space; then every "." not before a digit
    is deleted (at most 32 of them: the script passes ``re.UNICODE`` as ``sub``'s count)."""
    out = text
    for p in _PUNCT:
        if (p + " " in text or " " + p in text) or _COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_STRIP.sub("", out, count=int(re.UNICODE))  # the script's sub(..., outText, re.UNICODE)


def official_digit_article(text: str) -> str:
    """vqaEval.py's ``processDigitArticle``: lower-case, number words → digits, articles dropped, contractions
    written with their apostrophe (``dont`` → ``don't``)."""
    words = [_EN_NUMBERS.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in _EN_ARTICLES]
    return " ".join(_CONTRACTIONS.get(w, w) for w in words)


def _official_strip(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def official_answers(prediction: str, references: Sequence[str]) -> tuple[str, list[str]]:
    """(prediction, references) as vqaEval.py compares them: stripped; normalised only when the stripped
    references are not all identical."""
    pred = _official_strip(prediction)
    refs = [_official_strip(r) for r in references]
    if len(set(refs)) > 1:
        refs = [official_digit_article(official_punctuation(r)) for r in refs]
        pred = official_digit_article(official_punctuation(pred))
    return pred, refs


# ---------------------------------------------------------------------------------------------------------
# Accuracy


def check_normalization(normalization: str) -> str | None:
    """A problem message when ``normalization`` is not one of :data:`NORMALIZATIONS`, else None."""
    if normalization not in NORMALIZATIONS:
        return f"--vqa-normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}"
    return None


def vqa_accuracy(
    prediction: str, references: Sequence[str], lang: str | None = None, normalization: str = "multilingual"
) -> float:
    """Accuracy of ``prediction`` against ``references`` (formula and normalisations in the module docstring;
    ``official`` ignores ``lang``)."""
    if problem := check_normalization(normalization):
        raise InputError(problem, f"choose one of {', '.join(NORMALIZATIONS)}")
    refs = [r for r in references if r is not None]
    if not refs:
        raise InputError("a VQA prediction has no reference answers", "give every row a non-empty answers list")
    if normalization == "official":
        pred, refs = official_answers(prediction or "", refs)
    else:
        refs = [normalize_answer(r, lang) for r in refs]
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
    normalization: str = "multilingual",
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
    return [
        vqa_accuracy(p or "", r, lang, normalization) for p, r, lang in zip(predictions, references, langs, strict=True)
    ]
