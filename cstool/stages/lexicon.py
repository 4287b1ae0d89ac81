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

import collections
import itertools
from collections import Counter
from collections.abc import Iterator
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
    pair_window: int = option(
        10_000,
        "With --pair-by id, the most target rows read ahead of their source row (sides in different id orders).",
    )
    model: str = option("ibm2", "Alignment model: ibm1 or ibm2 (NLTK).")
    iterations: int = option(5, "EM iterations of the alignment model, per direction.")
    align_train_pairs: int = option(
        20_000,
        "Train the aligner on the first N sentence pairs, then align all pairs with it (memory bound).",
    )
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
        for name in ("iterations", "min_count", "max_senses", "align_train_pairs", "pair_window"):
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
# Setup: reading and pairing, streamed


def open_side(spec: str) -> artifacts.Source:
    src = artifacts.open_source(spec)
    artifacts.require_columns(src.schema, "tagged", stage="lexicon", columns=["id", "tokens", "upos"])
    return src


def iter_side(
    src: artifacts.Source, side: str, upos_counts: dict[str, Counter] | None = None
) -> Iterator[tuple[str, Sentence]]:
    """(id, sentence) of each row of a tagged artifact, batch by batch; a side with no rows is an error. With
    ``upos_counts``, every row's (word, UPOS) are tallied into it (for dictionary entries without UPOS)."""
    rows = 0
    for batch in src.iter_batches():
        cols = batch.to_pydict()
        lemmas = cols.get("lemmas") or [None] * batch.num_rows
        for rid, toks, upos, lem in zip(cols["id"], cols["tokens"], cols["upos"], lemmas):
            if toks is None or upos is None or len(toks) != len(upos):
                raise InputError(
                    f"{src.spec}: row {rid!r} has no tokens or a UPOS list of another length",
                    "re-tag it with cstool tag",
                )
            sent = induction.sentence(toks, upos, lem if lem is not None and len(lem) == len(toks) else None)
            if upos_counts is not None:
                induction.tally_upos(upos_counts, sent.words, sent.upos)
            rows += 1
            yield rid, sent
    if not rows:
        raise InputError(f"{side} side {src.spec} has no rows", "give a tagged artifact with sentences")


def _started(rows: Iterator[tuple[str, Sentence]]) -> Iterator[tuple[str, Sentence]]:
    """The rows, the first read now: an empty side is reported before any pairing error."""
    first = next(rows)  # iter_side raises on a side with no rows
    return itertools.chain([first], rows)


def _by_row(src: Iterator, tgt: Iterator) -> Iterator[tuple[Sentence, Sentence]]:
    for rows, (s, t) in enumerate(itertools.zip_longest(src, tgt)):
        if s is None or t is None:
            ns = rows + (s is not None) + sum(1 for _ in src)
            nt = rows + (t is not None) + sum(1 for _ in tgt)
            raise InputError(f"source has {ns} rows and target {nt}; rows do not pair up", "give parallel artifacts")
        yield s[1], t[1]


def _by_id(src: Iterator, tgt: Iterator, window: int) -> Iterator[tuple[Sentence, Sentence]]:
    """Each source row with the target row of its id, in source order. Target rows read ahead of their
    source row wait in a buffer of at most ``window`` rows: sides in the same id order need none, sides in
    different orders as many as the rows' displacement."""
    pending: dict[str, Sentence] = {}
    hint = "give both sides of the same parallel text, or use --pair-by row"
    for k, (sid, s) in enumerate(src):
        t = pending.pop(sid, None)
        while t is None:
            row = next(tgt, None)
            if row is None:
                raise InputError(
                    f"ids do not pair up: source row {k} has id {sid!r}, which no target row left has (missing "
                    "from the target, or more than once in the source)",
                    hint,
                )
            tid, ts = row
            if tid == sid:
                t = ts
            elif tid in pending:
                raise InputError(f"target has id {tid!r} more than once", "ids must be unique, or use --pair-by row")
            else:
                pending[tid] = ts
                if len(pending) > window:
                    raise InputError(
                        f"ids do not pair up within --pair-window {window}: source row {k} has id {sid!r}, which "
                        f"is not among the next {window} target rows (missing from the target, or the sides are "
                        "in different id orders)",
                        "sort both sides by id, raise --pair-window, or use --pair-by row",
                    )
        yield s, t
    left = len(pending) + sum(1 for _ in tgt)
    if left:
        first = next(iter(pending), None)
        raise InputError(
            f"ids do not pair up: {left} target rows lack a source row"
            + (f" (first: {first!r}; missing from the source, or more than once in the target)" if first else ""),
            hint,
        )


def iter_pairs(
    source: str,
    target: str,
    *,
    pair_by: str,
    shard: tuple[int, int] = (0, 1),
    window: int = 10_000,
    upos_counts: tuple[dict, dict] | None = None,
) -> Iterator[tuple[Sentence, Sentence]]:
    """Sentence pairs by id (each source row with the target row of its id, see :func:`_by_id`) or by row (the
    same row count), streamed; of them, those whose source row ordinal is in ``shard`` and that have words on
    both sides. Rows that do not pair up are an error when reached; memory does not grow with the rows."""
    srcs = open_side(source), open_side(target)
    counts = upos_counts or (None, None)
    sides = [_started(iter_side(src, side, c)) for src, side, c in zip(srcs, ("source", "target"), counts)]
    paired = _by_row(*sides) if pair_by == "row" else _by_id(*sides, window)
    rows = in_shard = kept = 0
    for k, (s, t) in enumerate(paired):
        rows = k + 1
        if not specs.in_shard(k, shard):
            continue
        in_shard += 1
        if s.words and t.words:
            kept += 1
            yield s, t
    if not in_shard:
        raise InputError(
            f"shard {shard[0]}/{shard[1]} holds no sentence pair ({rows} source rows)", "give fewer shards"
        )
    if not kept:
        raise InputError("no sentence pair has words on both sides", "give non-empty parallel artifacts")


# ---------------------------------------------------------------------------------------------------------
# Main work


def induce_from(
    pairs: Iterator[tuple[Sentence, Sentence]], config: LexiconConfig, result: LexiconResult
) -> list[Entry]:
    """Train the aligner on the first --align-train-pairs pairs, then align every pair one at a time and count
    its links: memory is the sample's and the vocabulary-sized tables', not the corpus's."""
    sample = collections.deque(itertools.islice(pairs, config.align_train_pairs))
    aligner = induction.Aligner(sample, model=config.model, iterations=config.iterations, symmetrise=config.symmetrise)
    counts: Counter = Counter()
    dropped: Counter = Counter()

    def every_pair() -> Iterator[tuple[Sentence, Sentence]]:
        while sample:  # the sample is let go of as it is aligned
            yield sample.popleft()
        yield from pairs

    for s, t in every_pair():
        links = aligner.links(s, t)
        result.pairs += 1
        result.links += len(links)
        induction.add_links(counts, dropped, s, t, links, keep_proper=config.keep_proper)
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
        upos_counts = ({}, {}) if dictionaries else None  # only dictionary entries without UPOS need them
        pairs = iter_pairs(
            source,
            target,
            pair_by=config.pair_by,
            shard=specs.parse_shard(config.shard),
            window=config.pair_window,
            upos_counts=upos_counts,
        )
        groups.append(induce_from(pairs, config, result))
        if upos_counts is not None:
            upos_of = tuple(induction.most_frequent_upos(c) for c in upos_counts)
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
