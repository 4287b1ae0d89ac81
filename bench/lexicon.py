"""Measure `cstool lexicon` on the Hindi–English PUD pair (1000 parallel sentences, gold UPOS and lemmas).

    OMP_NUM_THREADS=1 .venv/bin/python bench/lexicon.py [--model ibm2] [--symmetrise grow-diag-final-and]
        [--min-count 2] [--min-prob 0.1] [--held-out 200]

1. Induce a Hindi→English lexicon from all 1000 sentence pairs (tagged from the treebanks' gold columns).
2. Precision against ../shared/data/lexicons/hi-en.wiktionary.tsv on the source words both lexicons
   contain: per word (some induced target is a Wiktionary target of that word) and per entry (the induced
   (source, target) pair is in Wiktionary); targets compared lower-cased.
3. Coverage of Hindi PUD tokens per UPOS, looked up as `switch` does (form, lower-cased form, lemma; with
   UPOS first, then without): Wiktionary alone, induced alone, and their union (`cstool lexicon ...
   --dictionary hi-en.wiktionary.tsv`, which also filters the dictionary). The induced lexicon's coverage of
   the text it was induced from is in-sample, so it is also given held-out: induced from the first
   1000 - --held-out pairs, coverage on the last --held-out Hindi sentences.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"

import pyarrow.parquet as pq  # noqa: E402

from cstool.stages import tag  # noqa: E402
from cstool.stages.lexicon import LexiconConfig, run  # noqa: E402
from cstool.stages.tag import TagConfig  # noqa: E402
from cstool.text import induction  # noqa: E402
from cstool.text.induction import Entry  # noqa: E402
from cstool.text.lexicon import read_entries  # noqa: E402


def targets_by_source(entries) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for e in entries:
        out.setdefault(e.source, set()).add(e.target.lower())
    return out


def precision(induced: list[Entry], gold: list[Entry]) -> dict[str, float]:
    ind, ref = targets_by_source(induced), targets_by_source(gold)
    shared = [s for s in ind if s in ref]
    word_hits = sum(bool(ind[s] & ref[s]) for s in shared)
    pairs = [(s, t) for s in shared for t in ind[s]]
    pair_hits = sum(t in ref[s] for s, t in pairs)
    return {
        "shared source words": len(shared),
        "word precision": word_hits / max(1, len(shared)),
        "induced pairs on them": len(pairs),
        "pair precision": pair_hits / max(1, len(pairs)),
    }


def coverage(entries: list[Entry], corpus: Path) -> dict[str, tuple[int, float]]:
    lex = induction.as_lexicon(entries)
    cov = induction.coverage_counts(lex, pq.ParquetFile(corpus).iter_batches(), strict_pos=False)
    return {u: (n, c) for u, n, c in zip(cov["upos"], cov["tokens"], cov["coverage"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="ibm2")
    ap.add_argument("--symmetrise", default="grow-diag-final-and")
    ap.add_argument("--min-count", type=int, default=2)
    ap.add_argument("--min-prob", type=float, default=0.1)
    ap.add_argument("--held-out", type=int, default=200)
    args = ap.parse_args()
    config = LexiconConfig(
        model=args.model, symmetrise=args.symmetrise, min_count=args.min_count, min_prob=args.min_prob
    )
    wiki_path = SHARED / "lexicons" / "hi-en.wiktionary.tsv"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for lang in ("hi", "en"):
            tag.run(
                TagConfig(lang=lang),
                input=str(SHARED / "ud" / f"{lang}_pud-ud-test.conllu"),
                output=str(tmp / f"{lang}.parquet"),
                quiet=True,
            )
        hi, en = tmp / "hi.parquet", tmp / "en.parquet"
        start = time.perf_counter()
        induced = run(config, source=str(hi), target=str(en), output=str(tmp / "induced.tsv")).entries
        seconds = time.perf_counter() - start
        union = run(
            config, source=str(hi), target=str(en), dictionaries=[str(wiki_path)], output=str(tmp / "union.tsv")
        )
        wiki = [Entry(s, t, u, None, None, "wiktionary") for s, t, u in read_entries(wiki_path)[0]]
        # held-out: induce from the first pairs, cover the rest
        n = pq.read_metadata(hi).num_rows
        train = n - args.held_out
        for name in ("hi", "en"):
            t = pq.read_table(tmp / f"{name}.parquet")
            pq.write_table(t.slice(0, train), tmp / f"{name}.train.parquet")
            pq.write_table(t.slice(train), tmp / f"{name}.test.parquet")
        held = run(
            config,
            source=str(tmp / "hi.train.parquet"),
            target=str(tmp / "en.train.parquet"),
            output=str(tmp / "held.tsv"),
        ).entries
        held_union = run(
            config,
            source=str(tmp / "hi.train.parquet"),
            target=str(tmp / "en.train.parquet"),
            dictionaries=[str(wiki_path)],
            output=str(tmp / "held-union.tsv"),
        ).entries

        print(
            f"induced {len(induced)} entries from {n} PUD pairs in {seconds:.1f} s ({config.model}, "
            f"{config.symmetrise}, min-count {config.min_count}, min-prob {config.min_prob}); "
            f"wiktionary {len(wiki)}; union {len(union.entries)}"
        )
        print(
            "dropped from the union:",
            ", ".join(f"{k} {v}" for k, v in sorted(union.dropped.items()) if "wiktionary" in k),
        )
        for k, v in precision(induced, wiki).items():
            print(f"{k:>24}: {v:.3f}" if isinstance(v, float) else f"{k:>24}: {v}")
        columns = {
            "wiktionary": coverage(wiki, hi),
            "induced": coverage(induced, hi),
            "union": coverage(union.entries, hi),
            "wiki (test)": coverage(wiki, tmp / "hi.test.parquet"),
            "induced (test)": coverage(held, tmp / "hi.test.parquet"),
            "union (test)": coverage(held_union, tmp / "hi.test.parquet"),
        }
        print(
            f"\ncoverage of Hindi PUD tokens per UPOS (all {n} sentences; 'test': the last {args.held_out}, "
            f"induced from the first {train})"
        )
        print("| UPOS | tokens | " + " | ".join(columns) + " |")
        print("|---|---:|" + "---:|" * len(columns))
        for upos, (tokens, _) in columns["wiktionary"].items():
            cells = " | ".join(f"{100 * col[upos][1]:.1f}" if upos in col else "-" for col in columns.values())
            print(f"| {upos} | {tokens} | {cells} |")


if __name__ == "__main__":
    main()
