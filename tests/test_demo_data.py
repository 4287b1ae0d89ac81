"""The embedded demo corpus (examples/demo/data): parses, is parallel, has valid trees and a covering lexicon."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cstool.io.conllu import read_conllu
from cstool.text.lexicon import UPOS_TAGS

DATA = Path(__file__).resolve().parents[1] / "examples" / "demo" / "data"
LANGS = ("en", "hi", "mr")
SPLITS = ("train", "dev")
UPOS = set(UPOS_TAGS)
OPEN = {"NOUN", "VERB", "ADJ", "ADV", "PROPN"}


def _sentences(lang: str, split: str):
    return list(read_conllu(DATA / f"{lang}.{split}.conllu"))


def _rows(lang: str, split: str) -> list[list[list[str]]]:
    """Raw word lines (10 columns) per sentence, for the checks read_conllu does not keep (HEAD, DEPREL)."""
    out, cur = [], []
    for line in (DATA / f"{lang}.{split}.conllu").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if cur:
                out.append(cur)
            cur = []
        elif not line.startswith("#"):
            cur.append(line.split("\t"))
    if cur:
        out.append(cur)
    return out


@pytest.mark.parametrize("lang", LANGS)
def test_counts(lang):
    train, dev = _sentences(lang, "train"), _sentences(lang, "dev")
    assert len(train) + len(dev) >= 450
    assert len(dev) >= 45
    assert 0.07 <= len(dev) / (len(train) + len(dev)) <= 0.15


@pytest.mark.parametrize("split", SPLITS)
def test_parallel(split):
    ids = {lang: [s.sent_id for s in _sentences(lang, split)] for lang in LANGS}
    assert ids["en"] == ids["hi"] == ids["mr"]
    assert ids["en"] == [f"demo-{split}-{k}" for k in range(1, len(ids["en"]) + 1)]


@pytest.mark.parametrize("lang", LANGS)
def test_distinct_sentences(lang):
    texts = [s.text for split in SPLITS for s in _sentences(lang, split)]
    assert len(texts) == len(set(texts))


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("split", SPLITS)
def test_txt_matches_text_comments(lang, split):
    lines = (DATA / f"{lang}.{split}.txt").read_text(encoding="utf-8").splitlines()
    assert lines == [s.text for s in _sentences(lang, split)]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("split", SPLITS)
def test_tokens_rebuild_text(lang, split):
    for s in _sentences(lang, split):
        rebuilt = "".join(f + ("" if "SpaceAfter=No" in m else " ") for f, m in zip(s.forms, s.misc)).strip()
        assert rebuilt == s.text, s.sent_id


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("split", SPLITS)
def test_upos_lemmas_and_trees(lang, split):
    for sent in _rows(lang, split):
        n = len(sent)
        assert [int(r[0]) for r in sent] == list(range(1, n + 1))
        heads = [int(r[6]) for r in sent]
        assert all(r[3] in UPOS for r in sent), sent
        assert all(r[2] not in ("", "_") for r in sent), sent
        assert all(0 <= h <= n for h in heads), sent
        roots = [i for i, h in enumerate(heads) if h == 0]
        assert len(roots) == 1 and sent[roots[0]][7] == "root", sent
        assert all((r[7] == "root") == (h == 0) for r, h in zip(sent, heads)), sent
        for i in range(n):  # no cycles: every word reaches the root
            seen, j = set(), i
            while heads[j] != 0:
                assert j not in seen, sent
                seen.add(j)
                j = heads[j] - 1
        assert sent[-1][3] == "PUNCT" and "SpaceAfter=No" in sent[-2][9]


@pytest.mark.parametrize("lang", ("hi", "mr"))
def test_lexicon_covers_open_class_words(lang):
    with open(DATA / f"lexicon.{lang}-en.tsv", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        assert next(reader) == ["source", "target", "upos"]
        rows = list(reader)
    assert all(len(r) == 3 and r[0] and r[1] and r[2] in UPOS for r in rows)
    entries = {(r[0], r[2]) for r in rows}
    missing = {
        (form, upos)
        for split in SPLITS
        for s in _sentences(lang, split)
        for form, upos in zip(s.forms, s.upos)
        if upos in OPEN and (form, upos) not in entries
    }
    assert not missing, sorted(missing)[:10]


def test_hindi_and_marathi_are_devanagari():
    for lang in ("hi", "mr"):
        for s in _sentences(lang, "train"):
            for form, upos in zip(s.forms, s.upos):
                if upos != "PUNCT":
                    assert all("\u0900" <= ch <= "\u097f" for ch in form), (lang, s.sent_id, form)
