"""Builders of probe sets (:mod:`cstool.lm.probes`) from CoNLL-U treebanks.

* :func:`parallel_table`: a translation probe's rows (id, source, target) from two treebanks of the same
  sentences (e.g. the PUD treebanks, parallel by ``sent_id``), joined on ``sent_id``.
* :func:`cloze_table`: choice items (id, context, choices, label): in each sentence with enough left
  context, one word of a content UPOS is held out; the context is the words before it, the choices are
  that word and ``distractors`` other word forms of the same UPOS from the treebank, the gold at a random
  place. Every draw comes from a generator keyed by (seed, "probe-cloze", sent_id).

``python -m cstool.lm.probe_sets SRC.conllu [TGT.conllu] OUT_DIR [--shard i/n]`` writes ``translation.parquet``
(SRC → TGT, when TGT is given) and ``cloze.SRC.parquet`` (and ``cloze.TGT.parquet``) named by the treebanks' file
names up to the first '_'. ``--shard i/n`` keeps the sentences whose 0-based ordinal in their treebank is i modulo
n, as ``cstool tag --shard`` does (a translation row when its target sentence is in the target's shard), so a
probe can be built from the sentences a benchmark holds out.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from cstool.base.errors import InputError
from cstool.io.conllu import read_conllu

CLOZE_UPOS = ("NOUN", "VERB", "ADJ")


def _sentences(conllu: str | Path, shard: tuple[int, int] | None) -> list:
    from cstool.base import specs

    return [s for i, s in enumerate(read_conllu(conllu)) if shard is None or specs.in_shard(i, shard)]


def parallel_table(source: str | Path, target: str | Path, *, shard: tuple[int, int] | None = None) -> pa.Table:
    """Rows (id, source, target) of the sentences both treebanks hold, joined on sent_id, in source order; with
    ``shard`` only the target sentences of that shard (see the module docstring)."""
    tgt = {s.sent_id: s.text for s in _sentences(target, shard) if s.sent_id}
    rows = [(s.sent_id, s.text, tgt[s.sent_id]) for s in read_conllu(source) if s.sent_id in tgt]
    if len(rows) < 2:
        raise InputError(
            f"{source} and {target} share {len(rows)} sent_id(s)", "give two treebanks of the same sentences"
        )
    ids, src, dst = zip(*rows, strict=True)
    return pa.table({"id": list(ids), "source": list(src), "target": list(dst)})


def cloze_table(
    conllu: str | Path,
    *,
    distractors: int = 3,
    seed: int = 0,
    upos: Sequence[str] = CLOZE_UPOS,
    min_context: int = 3,
    shard: tuple[int, int] | None = None,
) -> pa.Table:
    """Choice items of held-out words against same-UPOS distractors (see the module docstring); with ``shard``
    only that shard's sentences, which are also the only source of distractors."""
    from cstool.text.keyed_random import keyed_rng

    sents = _sentences(conllu, shard)
    vocab: dict[str, list[str]] = {
        u: sorted({f for s in sents for f, p in zip(s.forms, s.upos) if p == u}) for u in upos
    }
    rows = []
    for i, s in enumerate(sents):
        sid = s.sent_id or str(i)
        places = [j for j in range(min_context, len(s.forms)) if s.upos[j] in vocab]
        if not places:
            continue
        rng = keyed_rng(seed, "probe-cloze", sid)
        j = places[int(rng.integers(len(places)))]
        gold, pool = s.forms[j], [f for f in vocab[s.upos[j]] if f != s.forms[j]]
        if len(pool) < distractors:
            continue
        choices = [pool[k] for k in rng.choice(len(pool), size=distractors, replace=False)]
        label = int(rng.integers(distractors + 1))
        choices.insert(label, gold)
        rows.append((sid, " ".join(s.forms[:j]), choices, label))
    if not rows:
        raise InputError(f"{conllu} gives no cloze item", f"it needs sentences with a {'/'.join(upos)} word")
    ids, ctx, choices, labels = zip(*rows, strict=True)
    return pa.table(
        {
            "id": list(ids),
            "context": list(ctx),
            "choices": pa.array(list(choices), pa.list_(pa.string())),
            "label": pa.array(list(labels), pa.int64()),
        }
    )


def main(argv: Sequence[str]) -> None:
    import argparse

    from cstool.base import specs
    from cstool.io import artifacts

    parser = argparse.ArgumentParser(prog="python -m cstool.lm.probe_sets")
    parser.add_argument("treebanks", nargs="+", help="SRC.conllu [TGT.conllu]")
    parser.add_argument("out", help="output folder")
    parser.add_argument("--shard", help="i/n: only the sentences whose ordinal is i modulo n")
    args = parser.parse_args(list(argv))
    if len(args.treebanks) > 2:
        parser.error("give one treebank (cloze only) or two of the same sentences (translation and cloze)")
    shard = specs.parse_shard(args.shard) if args.shard else None
    if args.shard and shard is None:
        parser.error(f"--shard must be i/n with 0 <= i < n, got {args.shard!r}")
    banks, out = [Path(t) for t in args.treebanks], Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    options = {"treebanks": [str(t) for t in banks], "shard": args.shard}
    made = artifacts.make_provenance("probe-sets", options=options, inputs=banks)
    if len(banks) == 2:
        table = parallel_table(*banks, shard=shard)
        artifacts.write_table(out / "translation.parquet", table, kind="probe", provenance=made)
    for tb in banks:
        lang = tb.name.split("_")[0]
        table = cloze_table(tb, shard=shard)
        artifacts.write_table(out / f"cloze.{lang}.parquet", table, kind="probe", provenance=made)


if __name__ == "__main__":
    main(sys.argv[1:])
