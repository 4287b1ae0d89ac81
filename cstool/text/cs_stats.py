"""Code-switching statistics: CMI, switch points, per-UPOS shares, Jensen-Shannon divergence, and the
per-UPOS switch profile of a natural code-switched treebank.

* CMI (Code-Mixing Index) of a sentence = 100·(1 − max_lang_tokens / (n − u)), where u counts
  language-neutral tokens (UPOS PUNCT/NUM/SYM that were not switched; in a treebank, tokens whose language
  id is neither of the pair) and n all tokens; 0 when n = u. A multi-word replacement counts as its words.
* Switch points: positions where two consecutive language-bearing tokens (neutral ones skipped) differ in
  language.
* JS divergence: base 2, so it lies in [0, 1]; between switched-UPOS distributions (share of all switched
  tokens that carry each UPOS).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from cstool.base.errors import InputError
from cstool.io.artifacts import SWITCH_STATS
from cstool.io.conllu import read_conllu
from cstool.text.lexicon import UPOS_TAGS

BUCKETS = (*UPOS_TAGS, "other")  # per-UPOS counters; "other" holds tags outside UD's 17
NEUTRAL_UPOS = ("PUNCT", "NUM", "SYM")
# Column-10 labels of code-switched treebanks that are not languages (HIENCS: univ, ne = named entity, acro).
NON_LANGUAGE_IDS = frozenset({"univ", "ne", "acro", "mixed", "other", "und", "rest", "fw", "unk", "x"})
_LANG_ID = re.compile(r"[A-Za-z]{2,8}")


def cmi_and_switch_points(
    lang: np.ndarray, weight: np.ndarray, row: np.ndarray, n_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row CMI and switch points from per-token language codes.

    ``lang``: 0 = matrix language, 1 = other language, -1 = neutral; ``weight``: how many output tokens each
    input token became (0 for the inner tokens of a replaced phrase); ``row``: each token's row.
    """
    w = weight.astype(np.float64)
    total = np.bincount(row, weights=w, minlength=n_rows)
    neutral = np.bincount(row, weights=w * (lang < 0), minlength=n_rows)
    other = np.bincount(row, weights=w * (lang == 1), minlength=n_rows)
    bearing = total - neutral
    matrix = bearing - other
    with np.errstate(invalid="ignore", divide="ignore"):
        cmi = np.where(bearing > 0, 100.0 * (1.0 - np.maximum(matrix, other) / bearing), 0.0)
    keep = (lang >= 0) & (weight > 0)
    lk, rk = lang[keep], row[keep]
    change = (lk[1:] != lk[:-1]) & (rk[1:] == rk[:-1])
    points = (
        np.bincount(rk[1:], weights=change, minlength=n_rows).astype(np.int32)
        if len(rk) > 1
        else np.zeros(n_rows, np.int32)
    )
    return cmi, points


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2) between two count or probability vectors."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return 0.5 * kl(p) + 0.5 * kl(q)


@dataclass
class EpochStats:
    """Counters of one output variant (one curriculum epoch), accumulated batch by batch."""

    epoch: int
    ratio: float
    tokens: np.ndarray = field(default_factory=lambda: np.zeros(len(BUCKETS), np.int64))
    covered: np.ndarray = field(default_factory=lambda: np.zeros(len(BUCKETS), np.int64))
    eligible: np.ndarray = field(default_factory=lambda: np.zeros(len(BUCKETS), np.int64))
    switched: np.ndarray = field(default_factory=lambda: np.zeros(len(BUCKETS), np.int64))
    sentences: int = 0
    cmi_sum: float = 0.0
    switch_points_sum: int = 0

    def add(
        self,
        upos: np.ndarray,
        covered: np.ndarray,
        eligible: np.ndarray,
        switched: np.ndarray,
        cmi: np.ndarray,
        points: np.ndarray,
    ) -> None:
        n = len(BUCKETS)
        self.tokens += np.bincount(upos, minlength=n)
        self.covered += np.bincount(upos[covered], minlength=n)
        self.eligible += np.bincount(upos[eligible], minlength=n)
        self.switched += np.bincount(upos[switched], minlength=n)
        self.sentences += len(cmi)
        self.cmi_sum += float(cmi.sum())
        self.switch_points_sum += int(points.sum())

    @property
    def mean_cmi(self) -> float:
        return self.cmi_sum / self.sentences if self.sentences else 0.0

    @property
    def mean_switch_points(self) -> float:
        return self.switch_points_sum / self.sentences if self.sentences else 0.0


def stats_table(epochs: list[EpochStats], natural: np.ndarray | None) -> pa.Table:
    """The ``switch_stats`` artifact: one row per (epoch, UPOS seen), then one ALL row per epoch."""
    rows: list[dict] = []
    nat = natural / natural.sum() if natural is not None and natural.sum() > 0 else None
    for st in epochs:
        total_sw = st.switched.sum()
        for i, tag in enumerate(BUCKETS):
            if st.tokens[i] == 0 and (nat is None or nat[i] == 0):
                continue
            rows.append(
                {
                    "cs_epoch": st.epoch,
                    "cs_ratio": st.ratio,
                    "upos": tag,
                    "tokens": int(st.tokens[i]),
                    "covered": int(st.covered[i]),
                    "eligible": int(st.eligible[i]),
                    "switched": int(st.switched[i]),
                    "coverage": float(st.covered[i] / st.tokens[i]) if st.tokens[i] else None,
                    "switched_share": float(st.switched[i] / st.tokens[i]) if st.tokens[i] else None,
                    "switched_dist": float(st.switched[i] / total_sw) if total_sw else None,
                    "natural_dist": float(nat[i]) if nat is not None else None,
                }
            )
        tok = int(st.tokens.sum())
        rows.append(
            {
                "cs_epoch": st.epoch,
                "cs_ratio": st.ratio,
                "upos": "ALL",
                "tokens": tok,
                "covered": int(st.covered.sum()),
                "eligible": int(st.eligible.sum()),
                "switched": int(total_sw),
                "coverage": float(st.covered.sum() / tok) if tok else None,
                "switched_share": float(total_sw / tok) if tok else None,
                "switched_dist": 1.0 if total_sw else None,
                "natural_dist": 1.0 if nat is not None else None,
                "sentences": st.sentences,
                "mean_cmi": st.mean_cmi,
                "mean_switch_points": st.mean_switch_points,
                "js_divergence": js_divergence(st.switched, natural) if natural is not None and total_sw else None,
            }
        )
    return pa.Table.from_pylist(rows, schema=SWITCH_STATS)


# ---------------------------------------------------------------------------------------------------------
# Natural profile


@dataclass(frozen=True)
class NaturalProfile:
    """Per-UPOS switch behaviour of a natural code-switched treebank (matrix → other language)."""

    path: str
    source_lang: str
    target_lang: str
    sentences: int  # matrix-language sentences used
    rates: dict[str, float]  # per UPOS: share of its tokens in the other language
    weights: dict[str, float]  # every UPOS: rates scaled so the largest over the chosen UPOS is 1 (0 if unseen)
    switched: np.ndarray = field(repr=False)  # other-language tokens per bucket (for JS divergence)
    mean_cmi: float = 0.0
    mean_switch_points: float = 0.0

    def record(self) -> dict:
        """What goes into provenance."""
        return {
            "path": self.path,
            "source_lang": self.source_lang,
            "target_lang": self.target_lang,
            "sentences": self.sentences,
            "rates": self.rates,
            "weights": self.weights,
            "mean_cmi": self.mean_cmi,
        }


def _lang_id(misc: str) -> str | None:
    """The language id of column 10: a bare label (HIENCS: ``en``, ``hi``, ``univ``) or ``Lang=xx``."""
    value = misc.strip()
    if "=" in value:
        pairs = dict(p.split("=", 1) for p in value.split("|") if "=" in p)
        value = pairs.get("Lang") or pairs.get("lang") or pairs.get("LangID") or ""
    return value.lower() if _LANG_ID.fullmatch(value) else None


def fit_profile(path: str | Path, *, target_lang: str, pos: tuple[str, ...]) -> NaturalProfile:
    """Fit per-UPOS switch weights from a CoNLL-U treebank whose column 10 holds per-token language ids.

    The source (matrix) language is the most frequent id other than ``target_lang`` and the non-language
    labels; only sentences where it outnumbers ``target_lang`` are used. rate[UPOS] = target-language tokens
    / (source + target tokens) of that UPOS; weights = rates divided by the largest rate among ``pos``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"profile {path} does not exist", "give --profile a CoNLL-U file with language ids in column 10"
        )
    sentences = []
    counts: dict[str, int] = {}
    for sent in read_conllu(path):
        ids = [_lang_id(m) for m in sent.misc]
        sentences.append((sent.upos, ids))
        for i in ids:
            if i:
                counts[i] = counts.get(i, 0) + 1
    target = target_lang.lower()
    langs = {k: v for k, v in counts.items() if k not in NON_LANGUAGE_IDS and k != target}
    if not langs or target not in counts:
        found = ", ".join(sorted(counts)) or "none"
        raise InputError(
            f"profile {path} has no per-token language ids for {target} and a matrix language in column 10 "
            f"(found: {found})",
            "give a code-switched treebank such as qhe_hiencs-ud-train.conllu, or check --target-lang",
        )
    source = max(sorted(langs), key=langs.get)
    index = {t: i for i, t in enumerate(BUCKETS)}
    src_n = np.zeros(len(BUCKETS), np.int64)
    tgt_n = np.zeros(len(BUCKETS), np.int64)
    langs_all, weights_all, rows_all = [], [], []
    used = 0
    for upos, ids in sentences:
        n_src, n_tgt = ids.count(source), ids.count(target)
        if n_src <= n_tgt:
            continue
        for tag, lid in zip(upos, ids):
            b = index.get(tag, len(BUCKETS) - 1)
            if lid == source:
                src_n[b] += 1
            elif lid == target:
                tgt_n[b] += 1
            langs_all.append(0 if lid == source else 1 if lid == target else -1)
            rows_all.append(used)
        weights_all += [1] * len(ids)
        used += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(src_n + tgt_n > 0, tgt_n / np.maximum(src_n + tgt_n, 1), 0.0)
    top = max((rate[index[p]] for p in pos), default=0.0)
    if used == 0 or top <= 0:
        raise InputError(
            f"profile {path}: no {target} tokens with UPOS {','.join(pos)} in {source}-matrix sentences",
            "choose --pos tags that switch in this treebank, or another profile",
        )
    cmi, points = cmi_and_switch_points(np.array(langs_all), np.array(weights_all), np.array(rows_all), used)
    return NaturalProfile(
        path=str(path),
        source_lang=source,
        target_lang=target,
        sentences=used,
        rates={t: round(float(rate[i]), 6) for i, t in enumerate(BUCKETS) if src_n[i] + tgt_n[i] > 0},
        weights={t: round(float(rate[i] / top), 6) for i, t in enumerate(UPOS_TAGS)},
        switched=tgt_n,
        mean_cmi=float(cmi.mean()),
        mean_switch_points=float(points.mean()),
    )
