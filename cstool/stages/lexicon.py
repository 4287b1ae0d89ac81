"""lexicon: parallel tagged text and dictionary files → the bilingual lexicon ``switch --lexicon`` reads.

* Parallel text: two tagged artifacts (``cstool tag``), paired by ``id`` (or by row); aligned with NLTK's
  IBM models in both directions and symmetrised; entries kept when UPOS agree and above the count and
  probability thresholds (:mod:`cstool.text.induction`).
* Dictionaries: TSV (``source, target[, upos]``) or MUSE pairs, filtered (identical strings, numbers,
  punctuation, proper nouns); entries without UPOS take each side's most frequent tag in the parallel text
  when both sides agree.
* Output: TSV (``source, target, upos, score, count, origin``) or Parquet; ``--coverage`` reports the
  lexicon's coverage per UPOS of a tagged corpus, as ``switch`` looks tokens up.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from cstool.base import specs
from cstool.base.errors import ConfigError, InputError
from cstool.base.fields import option
from cstool.io import artifacts, atomic
from cstool.text import induction
from cstool.text.induction import Entry, Sentence
from cstool.text.lexicon import read_entries

PAIR_BY = ("id", "row")
COLUMNS = ("source", "target", "upos", "score", "count", "origin")

LEXICON = artifacts.register_schema(
    "lexicon",
    pa.schema(
        [
            pa.field("source", pa.string(), nullable=False),
            pa.field("target", pa.string(), nullable=False),
            pa.field("upos", pa.string()),
            pa.field("score", pa.float64()),  # translation probability of induced entries
            pa.field("count", pa.int64()),  # aligned occurrences of induced entries
            pa.field("origin", pa.string()),  # "parallel", a dictionary's file name, or several joined by "+"
        ]
    ),
    "cstool lexicon --source SRC.parquet --target TGT.parquet -o LEX.parquet",
)
LEXICON_COVERAGE = artifacts.register_schema(
    "lexicon_coverage",
    pa.schema(
        [
            pa.field("upos", pa.string(), nullable=False),  # a UPOS tag, "other", or "ALL"
            pa.field("tokens", pa.int64()),
            pa.field("covered", pa.int64()),
            pa.field("coverage", pa.float64()),
        ]
    ),
    "cstool lexicon ... --coverage CORPUS --coverage-out COVERAGE.parquet",
)


@dataclass(frozen=True)
class LexiconConfig:
    """Options of ``cstool lexicon`` (the CLI flags, same names)."""

    pair_by: str = option("id", "Pair source and target rows by id or by row order.")
    model: str = option("ibm2", "Alignment model: ibm1 or ibm2 (NLTK).")
    iterations: int = option(5, "EM iterations of the alignment model, per direction.")
    symmetrise: str = option("grow-diag-final-and", "intersection or grow-diag-final-and.")
    min_count: int = option(2, "Keep an induced pair aligned at least this often.")
    min_prob: float = option(0.1, "Keep an induced pair with p(target | source, UPOS) at least this.")
    max_senses: int = option(3, "Most targets kept per (source, UPOS), best first.")
    keep_proper: bool = option(False, "Keep proper nouns (PROPN) from both parallel text and dictionaries.")
    strict_pos: bool = option(False, "Coverage counts only entries with the token's UPOS (as switch --strict-pos).")
    skip_bad_lines: bool = option(False, "Count and skip malformed dictionary lines.")
    shard: str = option(
        "0/1",
        "i/n: induce from the sentence pairs whose source row ordinal is i modulo n (0-based i); shards' lexicons "
        "merge with --dictionary.",
    )

    def __post_init__(self) -> None:
        problems = []
        for name, allowed in (
            ("pair_by", PAIR_BY),
            ("model", induction.MODELS),
            ("symmetrise", induction.SYMMETRISATIONS),
        ):
            if getattr(self, name) not in allowed:
                problems.append(
                    f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        for name in ("iterations", "min_count", "max_senses"):
            if getattr(self, name) < 1:
                problems.append(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.min_prob <= 1.0:
            problems.append(f"--min-prob must lie in [0, 1], got {self.min_prob}")
        if specs.parse_shard(self.shard) is None:
            problems.append(f"--shard must be i/n with 0 <= i < n <= {specs.MAX_SHARDS}, got {self.shard!r}")
        ConfigError.collect(problems, "see cstool lexicon --help")


@dataclass
class LexiconResult:
    entries: list[Entry]
    pairs: int = 0  # sentence pairs aligned
    links: int = 0  # symmetrised links
    dropped: Counter = field(default_factory=Counter)  # reason → links / pairs / dictionary entries removed
    coverage: dict[str, list] | None = None

    def tables(self) -> list[tuple[str, list[str], list[list]]]:
        """(title, columns, rows) of the tables people read: entries per origin, what the filters removed, and
        the coverage per UPOS (when asked for)."""
        by_origin = Counter(e.origin for e in self.entries)
        entries = [[origin, n] for origin, n in sorted(by_origin.items())] + [["ALL", len(self.entries)]]
        tables = [("lexicon entries", ["origin", "entries"], entries)]
        if self.dropped:
            tables.append(("removed", ["filter", "removed"], [[k, v] for k, v in sorted(self.dropped.items())]))
        if self.coverage is not None:
            cov = self.coverage
            rows = [
                [u, n, c, f"{100 * r:.1f} %"]
                for u, n, c, r in zip(*(cov[k] for k in ("upos", "tokens", "covered", "coverage")))
            ]
            tables.append(("coverage", ["UPOS", "tokens", "covered", "coverage"], rows))
        return tables


# ---------------------------------------------------------------------------------------------------------
# Setup: reading and pairing


def read_side(spec: str, side: str) -> tuple[list[str], list[Sentence]]:
    """(ids, sentences) of a tagged artifact; a side with no rows is an error."""
    src = artifacts.open_source(spec)
    artifacts.require_columns(src.schema, "tagged", stage="lexicon", columns=["id", "tokens", "upos"])
    ids: list[str] = []
    sents: list[Sentence] = []
    for batch in src.iter_batches():
        cols = batch.to_pydict()
        lemmas = cols.get("lemmas") or [None] * batch.num_rows
        for rid, toks, upos, lem in zip(cols["id"], cols["tokens"], cols["upos"], lemmas):
            if toks is None or upos is None or len(toks) != len(upos):
                raise InputError(
                    f"{spec}: row {rid!r} has no tokens or a UPOS list of another length", "re-tag it with cstool tag"
                )
            ids.append(rid)
            sents.append(induction.sentence(toks, upos, lem if lem is not None and len(lem) == len(toks) else None))
    if not sents:
        raise InputError(f"{side} side {spec} has no rows", "give a tagged artifact with sentences")
    return ids, sents


def pair_sides(
    src: tuple[list[str], list[Sentence]],
    tgt: tuple[list[str], list[Sentence]],
    *,
    pair_by: str,
    shard: tuple[int, int] = (0, 1),
) -> list[tuple[Sentence, Sentence]]:
    """Sentence pairs by id (every id once on each side, the same ids) or by row (the same row count); of them,
    those whose source row ordinal is in ``shard``."""
    (sid, ss), (tid, ts) = src, tgt
    if pair_by == "row":
        if len(ss) != len(ts):
            raise InputError(
                f"source has {len(ss)} rows and target {len(ts)}; rows do not pair up", "give parallel artifacts"
            )
        pairs = list(zip(ss, ts))
    else:
        for name, ids in (("source", sid), ("target", tid)):
            dup = next((i for i, c in Counter(ids).items() if c > 1), None)
            if dup is not None:
                raise InputError(f"{name} has id {dup!r} more than once", "ids must be unique, or use --pair-by row")
        only_s, only_t = sorted(set(sid) - set(tid)), sorted(set(tid) - set(sid))
        if only_s or only_t:
            first = (only_s or only_t)[0]
            raise InputError(
                f"ids do not pair up: {len(only_s)} source ids lack a target, {len(only_t)} target ids lack a "
                f"source (first: {first!r})",
                "give both sides of the same parallel text, or use --pair-by row",
            )
        by_id = dict(zip(tid, ts))
        pairs = [(s, by_id[i]) for i, s in zip(sid, ss)]
    pairs = [p for k, p in enumerate(pairs) if specs.in_shard(k, shard)]
    if not pairs:
        raise InputError(
            f"shard {shard[0]}/{shard[1]} holds no sentence pair ({len(ss)} source rows)", "give fewer shards"
        )
    pairs = [(s, t) for s, t in pairs if s.words and t.words]
    if not pairs:
        raise InputError("no sentence pair has words on both sides", "give non-empty parallel artifacts")
    return pairs


# ---------------------------------------------------------------------------------------------------------
# Main work


def induce_from(pairs: list[tuple[Sentence, Sentence]], config: LexiconConfig, result: LexiconResult) -> list[Entry]:
    links = induction.align(pairs, model=config.model, iterations=config.iterations, symmetrise=config.symmetrise)
    result.pairs, result.links = len(pairs), sum(len(ls) for ls in links)
    counts, dropped = induction.count_links(pairs, links, keep_proper=config.keep_proper)
    entries, removed = induction.induce(
        counts, min_count=config.min_count, min_prob=config.min_prob, max_senses=config.max_senses
    )
    result.dropped.update({f"links {k}": v for k, v in dropped.items()})
    result.dropped.update({f"pairs {k}": v for k, v in removed.items()})
    return entries


def dictionary_entries(
    path: str, config: LexiconConfig, upos_of: tuple[dict, dict] | None, result: LexiconResult
) -> list[Entry]:
    """Filtered entries of one dictionary file; entries without UPOS take the parallel text's when it agrees."""
    raw, _, _ = read_entries(path, skip_bad_lines=config.skip_bad_lines)
    name = Path(path).name
    kept = []
    for source, target, upos in raw:
        if upos is None and upos_of is not None:
            su, tu = upos_of[0].get(source.lower()), upos_of[1].get(target.lower())
            upos = su if su is not None and su == tu else None
        reason = induction.filter_reason(source, target, upos, keep_proper=config.keep_proper)
        if reason:
            result.dropped[f"{name} {reason}"] += 1
        else:
            kept.append(Entry(source, target, upos, None, None, name))
    return kept


def merge(groups: list[list[Entry]]) -> list[Entry]:
    """One entry per (source, target, UPOS): the first group's score and count, every origin joined by +."""
    merged: dict[tuple, Entry] = {}
    for entries in groups:
        for e in entries:
            key = (e.source, e.target, e.upos)
            old = merged.get(key)
            if old is None:
                merged[key] = e
            elif e.origin not in old.origin.split("+"):
                merged[key] = Entry(old.source, old.target, old.upos, old.score, old.count, f"{old.origin}+{e.origin}")
    return list(merged.values())


def run(
    config: LexiconConfig,
    *,
    source: str | None = None,
    target: str | None = None,
    dictionaries: list[str] = (),
    output: str,
    coverage: str | None = None,
    coverage_output: str | None = None,
) -> LexiconResult:
    """Build the lexicon, then write it (and the coverage artifact); nothing is written on an error."""
    if (source is None) != (target is None):
        raise ConfigError("--source and --target go together", "give both sides of the parallel text")
    if source is None and not dictionaries:
        raise ConfigError("nothing to build from", "give --source and --target, or --dictionary FILE")
    ins = [p for p in (source, target, coverage, *dictionaries) if p]
    for p in (output, coverage_output):
        if p and any(Path(p).resolve() == Path(i).resolve() for i in ins if i != "-"):
            raise ConfigError(f"output {p} is also an input", "choose another output path")
    result = LexiconResult(entries=[])
    groups: list[list[Entry]] = []
    upos_of = None
    if source is not None:
        src, tgt = read_side(source, "source"), read_side(target, "target")
        pairs = pair_sides(src, tgt, pair_by=config.pair_by, shard=specs.parse_shard(config.shard))
        groups.append(induce_from(pairs, config, result))
        upos_of = tuple(
            induction.guess_upos((w, u) for s in side[1] for w, u in zip(s.words, s.upos)) for side in (src, tgt)
        )
    for path in dictionaries:
        groups.append(dictionary_entries(path, config, upos_of, result))
    result.entries = merge(groups)
    if not result.entries:
        raise InputError("the lexicon would be empty", "lower --min-count / --min-prob, or give more parallel text")
    if coverage:
        cov = artifacts.open_source(coverage)
        artifacts.require_columns(cov.schema, "tagged", stage="lexicon --coverage", columns=["tokens", "upos"])
        lex = induction.as_lexicon(result.entries, output)
        result.coverage = induction.coverage_counts(lex, cov.iter_batches(), strict_pos=config.strict_pos)
    inputs = [p for p in ins if p != "-"]
    provenance = artifacts.make_provenance("lexicon", options=config, inputs=inputs)
    write_lexicon(output, result.entries, provenance)
    if result.coverage is not None:
        cov_path = coverage_output or str(Path(output).with_suffix("")) + ".coverage.parquet"
        table = pa.table(result.coverage, schema=LEXICON_COVERAGE)
        artifacts.write_table(cov_path, table, kind="lexicon_coverage", provenance=provenance)
    return result


# ---------------------------------------------------------------------------------------------------------
# Writing


def _cell(value) -> str:
    return "" if value is None else str(value)


def write_lexicon(path: str, entries: list[Entry], provenance: dict) -> None:
    """TSV (header ``source target upos score count origin``; read by ``switch --lexicon``) or Parquet/Arrow."""
    entries = sorted(entries, key=lambda e: (e.source, e.upos or "", -(e.score or 0.0), e.target))
    if path.endswith((".parquet", *artifacts.IPC_SUFFIXES)):
        table = pa.table({c: [getattr(e, c) for e in entries] for c in COLUMNS}, schema=LEXICON)
        artifacts.write_table(path, table, kind="lexicon", provenance=provenance)
        return
    lines = ["\t".join(COLUMNS)] + ["\t".join(_cell(getattr(e, c)) for c in COLUMNS) for e in entries]
    atomic.write_text(path, "\n".join(lines) + "\n")
    artifacts.write_sidecar(path, provenance)
