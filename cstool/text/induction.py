"""Bilingual lexicon induction from parallel tagged sentences, dictionary filters and lexicon coverage.

Word alignment is NLTK's IBM models (``nltk.translate``, Apache-2.0): IBM Model 1 or 2 trained by EM in
both directions (source→target and target→source), each direction's Viterbi alignment symmetrised by
intersection or grow-diag-final-and (``nltk.translate.gdfa``, Koehn 2005). From the symmetrised links an
entry (source word, target word, UPOS) is counted when both tokens carry the same UPOS; a NOUN↔PROPN link
is a proper noun and is dropped, as are PROPN↔PROPN links unless asked for. Each entry is scored with the
lexical translation probability of the symmetrised links, ``p(t | s, UPOS) = c(s, t, UPOS) / c(s, UPOS)``
(Moses' lexical table), and kept above a count and a probability threshold.

:class:`Aligner` trains the models on a sample of pairs and then aligns pairs one at a time with their
tables frozen, so a corpus streams through it (:mod:`cstool.stages.lexicon`).

Words are the lemma where the tagger gave one, else the lower-cased form.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cstool.text.lexicon import UPOS_TAGS, Lexicon

SYMMETRISATIONS = ("intersection", "grow-diag-final-and")
MODELS = ("ibm1", "ibm2")
PROPER = "PROPN"


@dataclass(frozen=True)
class Sentence:
    """One tagged sentence: alignment words (lemma, else lower-cased form) and their UPOS."""

    words: tuple[str, ...]
    upos: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    source: str
    target: str
    upos: str | None
    score: float | None  # translation probability (induced entries); None for dictionary entries
    count: int | None  # aligned occurrences (induced entries)
    origin: str


def sentence(tokens: Sequence[str], upos: Sequence[str], lemmas: Sequence[str | None] | None) -> Sentence:
    """The alignment view of a tagged row: lemma where present, else the lower-cased token."""
    words = [
        (lemma if lemma not in (None, "", "_") else tok).lower()
        for tok, lemma in zip(tokens, lemmas if lemmas is not None else [None] * len(tokens))
    ]
    return Sentence(tuple(words), tuple(upos))


class _Frozen(dict):
    """A trained NLTK table read without growing: a missing key gives the value the table's ``defaultdict``
    would have made, without storing it (aligning unseen words or sentence lengths adds nothing)."""

    __slots__ = ("missing",)

    def __missing__(self, key):
        return self.missing


def _freeze(table):
    if not isinstance(table, defaultdict):
        return table
    out = _Frozen()
    out.missing = _freeze(table.default_factory())
    while table:  # moved entry by entry: the two copies never coexist
        key, value = table.popitem()
        out[key] = _freeze(value)
    return out


def _train(pairs: Iterable[tuple[tuple[str, ...], tuple[str, ...]]], model: str, iterations: int):
    """An IBM model of p(first | second) trained by EM on the pairs, its tables frozen (read-only)."""
    from nltk.translate import AlignedSent, IBMModel1, IBMModel2

    bitext = [AlignedSent(list(a), list(b)) for a, b in pairs]
    trained = (IBMModel1 if model == "ibm1" else IBMModel2)(bitext, iterations)
    trained.translation_table = _freeze(trained.translation_table)
    trained.alignment_table = _freeze(trained.alignment_table)
    return trained


def _viterbi(trained, first: Sequence[str], second: Sequence[str]) -> set[tuple[int, int]]:
    """Viterbi links (i in first, j in second) of a trained model of p(first | second)."""
    from nltk.translate import AlignedSent

    pair = AlignedSent(list(first), list(second))
    trained.align(pair)
    return {(i, j) for i, j in pair.alignment if j is not None}


class Aligner:
    """IBM models of both directions trained on a sample of sentence pairs, then aligning any pair, one at a
    time: memory is the sample's and the translation tables', whatever the number of pairs aligned. Pairs of
    the sample get the links NLTK's training gives them (the same tables, the same Viterbi search)."""

    def __init__(
        self,
        sample: Iterable[tuple[Sentence, Sentence]],
        *,
        model: str = "ibm2",
        iterations: int = 5,
        symmetrise: str = "grow-diag-final-and",
    ):
        sample = [(s.words, t.words) for s, t in sample]
        # p(target | source): links (target i, source j); p(source | target): links (source i, target j)
        self._t_given_s = _train(((t, s) for s, t in sample), model, iterations)
        self._s_given_t = _train(sample, model, iterations)
        self.symmetrise = symmetrise

    def links(self, source: Sentence, target: Sentence) -> set[tuple[int, int]]:
        """Symmetrised word links (source index, target index) of one sentence pair."""
        from nltk.translate.gdfa import grow_diag_final_and

        s, t = source.words, target.words
        fwd = {(j, i) for i, j in _viterbi(self._t_given_s, t, s)}  # as (source, target)
        bwd = _viterbi(self._s_given_t, s, t)
        if self.symmetrise == "intersection":
            return fwd & bwd
        e2f = " ".join(f"{i}-{j}" for i, j in sorted(fwd))
        f2e = " ".join(f"{i}-{j}" for i, j in sorted(bwd))  # both as source-target, as gdfa intersects them
        return set(grow_diag_final_and(len(s), len(t), e2f, f2e)) if e2f or f2e else set()


def align(
    pairs: Sequence[tuple[Sentence, Sentence]], *, model: str = "ibm2", iterations: int = 5, symmetrise: str
) -> list[set[tuple[int, int]]]:
    """Symmetrised word links (source index, target index) of each sentence pair, trained on all of them."""
    aligner = Aligner(pairs, model=model, iterations=iterations, symmetrise=symmetrise)
    return [aligner.links(s, t) for s, t in pairs]


def add_links(
    counts: Counter, dropped: Counter, s: Sentence, t: Sentence, links: Iterable[tuple[int, int]], *, keep_proper: bool
) -> None:
    """Add one pair's links to c(s, t, UPOS) (links whose UPOS agree) and to the drops by reason."""
    for i, j in links:
        su, tu = s.upos[i], t.upos[j]
        if {su, tu} == {"NOUN", PROPER}:
            dropped["noun-propn"] += 1
        elif su != tu:
            dropped["upos-mismatch"] += 1
        elif su == PROPER and not keep_proper:
            dropped["proper-noun"] += 1
        elif su in ("PUNCT", "SYM", "NUM", "X"):
            dropped[f"upos-{su.lower()}"] += 1
        else:
            counts[(s.words[i], t.words[j], su)] += 1


def count_links(
    pairs: Sequence[tuple[Sentence, Sentence]], links: Sequence[set[tuple[int, int]]], *, keep_proper: bool
) -> tuple[Counter, Counter]:
    """(c(s, t, UPOS) over links whose UPOS agree, drops by reason)."""
    counts: Counter = Counter()
    dropped: Counter = Counter()
    for (s, t), ls in zip(pairs, links):
        add_links(counts, dropped, s, t, ls, keep_proper=keep_proper)
    return counts, dropped


def induce(
    counts: Counter, *, min_count: int, min_prob: float, max_senses: int, origin: str = "parallel"
) -> tuple[list[Entry], Counter]:
    """Entries above the thresholds, best first per (source, UPOS); also what each threshold removed."""
    totals: Counter = Counter()
    for (s, _, u), c in counts.items():
        totals[(s, u)] += c
    by_source: dict[tuple[str, str], list[Entry]] = {}
    removed: Counter = Counter()
    for (s, t, u), c in counts.items():
        p = c / totals[(s, u)]
        if c < min_count:
            removed["min-count"] += 1
        elif p < min_prob:
            removed["min-prob"] += 1
        else:
            by_source.setdefault((s, u), []).append(Entry(s, t, u, round(p, 6), c, origin))
    entries = []
    for key in sorted(by_source):
        senses = sorted(by_source[key], key=lambda e: (-e.score, -e.count, e.target))
        removed["max-senses"] += max(0, len(senses) - max_senses)
        entries += senses[:max_senses]
    return entries, removed


# ---------------------------------------------------------------------------------------------------------
# Dictionary filters


def _all_in(text: str, categories: str) -> bool:
    chars = [ch for ch in text if not ch.isspace()]
    return bool(chars) and all(unicodedata.category(ch)[0] in categories for ch in chars)


def filter_reason(source: str, target: str, upos: str | None, *, keep_proper: bool) -> str | None:
    """Why a dictionary entry is dropped (identical, number, punctuation, proper-noun), or None to keep it."""
    if source.lower() == target.lower():
        return "identical"
    if _all_in(source, "N") or _all_in(target, "N"):
        return "number"
    if _all_in(source, "PS") or _all_in(target, "PS"):
        return "punctuation"
    if upos == PROPER and not keep_proper:
        return "proper-noun"
    return None


def tally_upos(counts: dict[str, Counter], words: Iterable[str], upos: Iterable[str]) -> None:
    """Add a sentence's (word, UPOS) to per-word UPOS counts (vocabulary-sized, for :func:`most_frequent_upos`)."""
    for w, u in zip(words, upos):
        c = counts.get(w)
        if c is None:
            counts[w] = c = Counter()
        c[u] += 1


def most_frequent_upos(counts: dict[str, Counter]) -> dict[str, str]:
    """Most frequent UPOS of each word, ties broken by tag order."""
    return {w: min(c, key=lambda u: (-c[u], u)) for w, c in counts.items()}


def guess_upos(words: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Most frequent UPOS of each (lower-cased) word in a tagged corpus, ties broken by tag order."""
    counts: dict[str, Counter] = {}
    for w, u in words:
        tally_upos(counts, (w,), (u,))
    return most_frequent_upos(counts)


# ---------------------------------------------------------------------------------------------------------
# Coverage


def as_lexicon(entries: Sequence[Entry], name: str = "lexicon") -> Lexicon:
    """A :class:`Lexicon` over entries (one per (source, target, UPOS)), for switch's lookup."""
    seen = dict.fromkeys((e.source, e.target, e.upos) for e in entries)
    return Lexicon(name, list(seen), duplicates=0, bad_lines=0)


def coverage_counts(lexicon: Lexicon, batches: Iterable[pa.RecordBatch], *, strict_pos: bool) -> dict[str, list]:
    """Tokens and covered tokens per UPOS (as ``switch`` looks them up), streamed batch by batch."""
    tags = list(UPOS_TAGS) + ["other"]
    tokens = np.zeros(len(tags), dtype=np.int64)
    covered = np.zeros(len(tags), dtype=np.int64)
    for batch in batches:
        forms = pc.list_flatten(batch.column("tokens"))
        upos = pc.list_flatten(batch.column("upos"))
        lemmas = None
        if "lemmas" in batch.schema.names and batch.column("lemmas").null_count < batch.num_rows:
            lemmas = pc.list_flatten(pc.fill_null(batch.column("lemmas"), pa.scalar([], batch.column("lemmas").type)))
            if len(lemmas) != len(forms):
                lemmas = None
        found = lexicon.lookup(forms, pc.utf8_lower(forms), upos, lemmas, strict_pos=strict_pos)
        bucket = pc.fill_null(pc.index_in(upos, value_set=pa.array(UPOS_TAGS)), len(UPOS_TAGS)).to_numpy()
        tokens += np.bincount(bucket, minlength=len(tags))
        covered += np.bincount(bucket[found >= 0], minlength=len(tags))
    rows = [(t, int(n), int(c)) for t, n, c in zip(tags, tokens, covered) if n]
    rows.append(("ALL", int(tokens.sum()), int(covered.sum())))
    return {
        "upos": [r[0] for r in rows],
        "tokens": [r[1] for r in rows],
        "covered": [r[2] for r in rows],
        "coverage": [r[2] / r[1] if r[1] else 0.0 for r in rows],
    }
