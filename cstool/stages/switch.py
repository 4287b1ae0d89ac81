"""switch: tagged sentences → code-switched variants, with a token-level record of what was switched.

Strategies (see docs/method.md, "switch"):
* ``pos`` — a unit (a token, or a lexicon phrase) is *eligible* when its UPOS is chosen (``pos``; a phrase
  takes its last token's UPOS) and the lexicon has it; it switches with probability
  ``min(1, ratio × weight[UPOS])``.
* ``random`` — POS-blind: every unit the lexicon has may switch, all with one probability per row,
  ``q = E_pos / L``, where ``E_pos`` = Σ over the row's pos-eligible units of (tokens × their ``pos``
  probability) and ``L`` = tokens in the row's lexicon units. The expected number of switched tokens then
  equals ``pos``'s in every row (q ≤ 1 always, since eligible units are lexicon units), so the strategies
  are compared at matched switch counts while rows stay independent of each other.
* ``none`` — passthrough (``tokens_cs`` = ``tokens``).
A row is touched at all with probability ``sentence_rate`` (same gate for every strategy).

Randomness is counter-based: a 64-bit key per (seed, stage, row id, epoch) is mixed with each token's
index through splitmix64, giving per-token uniforms for the switch decision and the choice among senses.
No generator state is shared between rows, so output does not depend on batch size, shards or the order
of other rows, and a whole batch is drawn with a few numpy operations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from cstool.base import langcodes, specs
from cstool.base.console import is_quiet, warn
from cstool.base.errors import ConfigError, InputError
from cstool.base.fields import SEED, option
from cstool.io import artifacts, atomic, paths
from cstool.text.cs_stats import EpochStats, NaturalProfile, fit_profile, stats_table
from cstool.text.lexicon import UPOS_TAGS, Lexicon, dominant_script, load_lexicon, script_counts
from cstool.text.switching import switch_batch

STRATEGIES = ("pos", "random", "none")
DEFAULT_POS = ("NOUN", "ADJ", "VERB", "ADV")
REQUIRED = ("id", "tokens", "upos")
MIN_SCRIPT_SHARE = 0.1  # below this share of input words in the lexicon's source script, the lexicon is refused
BATCH_ROWS = 8192  # rows switched at a time by run (memory stays flat: one batch in flight)
_CURRICULUM = re.compile(r"(linear):([^:]+):([^:]+):(\d+)|(const):([^:]+):(\d+)|(list):(.+)")


MAX_EPOCHS = 1000


def parse_curriculum(spec: str) -> tuple[float, ...]:
    """Ratios per epoch: ``linear:START:END:EPOCHS`` (evenly spaced, both ends included),
    ``const:RATIO:EPOCHS`` or ``list:R0,R1,...``. Raises ValueError with the reason."""
    m = _CURRICULUM.fullmatch(spec.strip())
    if not m:
        raise ValueError("expected linear:START:END:EPOCHS, const:RATIO:EPOCHS or list:R0,R1,...")
    counts = [int(g) for g in (m.group(4), m.group(7)) if g is not None]
    if any(n > MAX_EPOCHS for n in counts) or m.group(9) and m.group(9).count(",") >= MAX_EPOCHS:
        raise ValueError(f"a schedule has at most {MAX_EPOCHS} epochs (each is one more variant of every row)")
    if m.group(1):
        start, end, n = float(m.group(2)), float(m.group(3)), int(m.group(4))
        ratios = [start] if n == 1 else [start + (end - start) * e / (n - 1) for e in range(n)]
    elif m.group(5):
        ratios = [float(m.group(6))] * int(m.group(7))
    else:
        ratios = [float(r) for r in m.group(9).split(",")]
    if not ratios:
        raise ValueError("the schedule has no epochs")
    if any(not 0.0 <= r <= 1.0 for r in ratios):  # also refuses nan
        raise ValueError("every ratio must lie in [0, 1]")
    return tuple(round(r, 12) for r in ratios)


def _tags(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(t.strip().upper() for t in items if t.strip())


@dataclass(frozen=True)
class SwitchConfig:
    """Options of ``cstool switch`` (the CLI flags, same names). ``curriculum`` overrides ``ratio``.

    With a ``profile`` and no ``pos``, every UPOS may switch and the fitted weights decide how often, so the
    generated switched-UPOS distribution can follow the natural one (function words included).
    """

    strategy: str = option("pos", "pos (the method), random (POS-blind, matched count) or none.")
    pos: str | tuple[str, ...] | None = option(
        None, "UPOS that may switch under pos [default: NOUN,ADJ,VERB,ADV; all with --profile]."
    )
    ratio: float = option(0.3, "Token-level switch probability (times the UPOS weight).")
    sentence_rate: float = option(1.0, "Share of sentences touched at all.")
    weights: str | Mapping[str, float] | None = option(None, "UPOS weights, e.g. NOUN=1,ADJ=0.8 (others 1).")
    profile: str | None = option(None, "Fit UPOS weights from a code-switched CoNLL-U (language id in column 10).")
    target_lang: str = option("en", "Language the lexicon translates into.")
    strict_pos: bool = option(False, "Only lexicon entries with the token's UPOS.")
    curriculum: str | None = option(None, "Ratio per epoch, one variant each: linear:0.5:0.0:3, const:R:N, list:R,R.")
    seed: int = option(1234, "Random seed.", **SEED)
    shard: str = option("0/1", "i/n: process rows whose ordinal is i modulo n (0-based i).")
    skip_bad_lines: bool = option(False, "Count and skip malformed lexicon lines.")
    allow_empty: bool = option(
        False,
        "Write the output (with a warning) even when nothing was switched, no token is in the lexicon, or the "
        "lexicon's source side is in another script than the input.",
    )
    ratios: tuple[float, ...] = field(init=False)
    shard_index: int = field(init=False, repr=False, compare=False)
    shard_count: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = []
        set_ = lambda k, v: object.__setattr__(self, k, v)
        if self.strategy not in STRATEGIES:
            problems.append(f"--strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        pos = _tags(self.pos) if self.pos is not None else UPOS_TAGS if self.profile else DEFAULT_POS
        bad = [t for t in pos if t not in UPOS_TAGS]
        if bad or not pos:
            problems.append(
                f"--pos: unknown UPOS {', '.join(bad) or '(none given)'}; choose from {' '.join(UPOS_TAGS)}"
            )
        set_("pos", pos)
        for name in ("ratio", "sentence_rate"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                problems.append(f"--{name.replace('_', '-')} must lie in [0, 1], got {v}")
        weights: dict[str, float] = {}
        if self.weights is not None:
            items = (
                self.weights.items()
                if isinstance(self.weights, Mapping)
                else (p.split("=", 1) if "=" in p else (p, "") for p in self.weights.split(",") if p.strip())
            )
            for tag, w in items:
                tag = str(tag).strip().upper()
                try:
                    value = float(w)
                except ValueError:
                    value = -1.0
                if tag not in UPOS_TAGS or not value >= 0:
                    problems.append(f"--weights: bad entry {tag}={w} (want UPOS=non-negative number)")
                weights[tag] = value
            set_("weights", dict(sorted(weights.items())))
        if self.weights is not None and self.profile is not None:
            problems.append("give --profile or --weights, not both")
        ratios = (self.ratio,)
        if self.curriculum:
            try:
                ratios = parse_curriculum(self.curriculum)
            except ValueError as e:
                problems.append(f"--curriculum {self.curriculum!r}: {e}")
        set_("ratios", ratios)
        if problem := langcodes.problem(self.target_lang, "--target-lang"):
            problems.append(problem)
        shard = specs.parse_shard(self.shard)
        if shard is None:
            problems.append(f"--shard must be i/n with 0 <= i < n <= {specs.MAX_SHARDS}, got {self.shard!r}")
        else:
            set_("shard_index", shard[0])
            set_("shard_count", shard[1])
        ConfigError.collect(problems, "see cstool switch --help")


# ---------------------------------------------------------------------------------------------------------
# The stage


def output_schema(input_schema: pa.Schema) -> pa.Schema:
    return artifacts.extend_schema(artifacts.SWITCHED, input_schema.remove_metadata())


def weight_vector(config: SwitchConfig, weights: Mapping[str, float] | None = None) -> np.ndarray:
    """Per-bucket weights: ``weights`` (e.g. fitted from a profile), else ``config.weights``; default 1."""
    given = weights if weights is not None else (config.weights or {})
    return np.array([float(given.get(t, 1.0)) for t in UPOS_TAGS] + [1.0])


def switch_batches(
    batches: Iterator[pa.RecordBatch],
    *,
    lexicon: Lexicon,
    config: SwitchConfig,
    weights: Mapping[str, float] | None = None,
    stats: list[EpochStats] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Code-switch tagged batches; yield ``switched`` batches (one variant per curriculum epoch, each input
    row's variants consecutive). Rows outside ``config.shard`` are dropped. ``stats`` (one EpochStats per
    epoch, made here when empty) accumulates the statistics."""
    wvec = weight_vector(config, weights)
    if stats is not None and not stats:
        stats.extend(EpochStats(epoch=e, ratio=r) for e, r in enumerate(config.ratios))
    epochs = stats if stats is not None else [EpochStats(epoch=e, ratio=r) for e, r in enumerate(config.ratios)]
    ordinal = 0
    schema = None
    for batch in batches:
        if schema is None:
            artifacts.require_columns(batch.schema, "tagged", stage="switch", columns=REQUIRED)
            schema = output_schema(batch.schema)
        if config.shard_count > 1:
            keep = specs.in_shard(
                np.arange(ordinal, ordinal + batch.num_rows), (config.shard_index, config.shard_count)
            )
            ordinal += batch.num_rows
            batch = batch.filter(pa.array(keep))
        if batch.num_rows == 0:
            continue
        artifacts.require_list_elements(
            batch, {"tokens": "token", "upos": "UPOS tag"}, batch.column("id").to_pylist(), where=""
        )
        yield from switch_batch(batch, lexicon, config, schema, wvec, epochs)


def switch_table(
    table: pa.Table, *, lexicon: Lexicon, config: SwitchConfig, weights: Mapping[str, float] | None = None
) -> pa.Table:
    """Code-switch a whole tagged table (see :func:`switch_batches`)."""
    out = list(switch_batches(iter(table.to_batches()), lexicon=lexicon, config=config, weights=weights))
    return (
        pa.Table.from_batches(out, schema=output_schema(table.schema))
        if out
        else output_schema(table.schema).empty_table()
    )


@dataclass
class SwitchResult:
    output: str  # the artifact written ("-": stdout)
    rows_in: int
    rows_out: int
    lexicon: Lexicon
    epochs: list[EpochStats]
    profile: NaturalProfile | None
    stats: pa.Table  # the statistics artifact's table (written to ``stats_output`` when given)

    def tables(self) -> list[tuple[str, list[str], list[list]]]:
        """(title, columns, rows) of the tables people read: fitted weights, per-UPOS shares, sentence stats."""
        tables = []
        if self.profile is not None:
            p = self.profile
            tables.append(
                (
                    f"weights fitted from {p.path} ({p.source_lang}→{p.target_lang}, {p.sentences} sentences)",
                    ["UPOS", "natural switch rate", "weight"],
                    [
                        [t, f"{100 * p.rates.get(t, 0):.1f} %", w]
                        for t, w in sorted(p.weights.items(), key=lambda kv: -kv[1])
                    ],
                )
            )
        rows = self.stats.to_pylist()
        pct = lambda v: "-" if v is None else f"{100 * v:.1f} %"
        tables.append(
            (
                "switch: per UPOS",
                [
                    "epoch",
                    "UPOS",
                    "tokens",
                    "coverage",
                    "switched",
                    "switched share",
                    "share of switches",
                    "natural share",
                ],
                [
                    [
                        r["cs_epoch"],
                        r["upos"],
                        r["tokens"],
                        pct(r["coverage"]),
                        r["switched"],
                        pct(r["switched_share"]),
                        pct(r["switched_dist"]),
                        pct(r["natural_dist"]),
                    ]
                    for r in rows
                    if r["upos"] != "ALL"
                ],
            )
        )
        tables.append(
            (
                "switch: sentences",
                [
                    "epoch",
                    "ratio",
                    "sentences",
                    "switched tokens",
                    "mean CMI",
                    "switch points / sentence",
                    "JS divergence to profile",
                ],
                [
                    [
                        r["cs_epoch"],
                        r["cs_ratio"],
                        r["sentences"],
                        r["switched"],
                        r["mean_cmi"],
                        r["mean_switch_points"],
                        "-" if r["js_divergence"] is None else f"{r['js_divergence']:.4f}",
                    ]
                    for r in rows
                    if r["upos"] == "ALL"
                ],
            )
        )
        return tables

    def message(self) -> str:
        return (
            f"switched {self.rows_in} rows → {self.rows_out} rows in {'stdout' if self.output == '-' else self.output}"
        )


def run(
    config: SwitchConfig,
    *,
    input: str,
    lexicon: str,
    output: str,
    stats_output: str | None = None,
    batch_rows: int = BATCH_ROWS,
) -> SwitchResult:
    """Read the tagged artifact ``input``, write the switched one ``output`` (and the statistics artifact
    ``stats_output``), atomically and with provenance; ``lexicon`` is the lexicon file (``switch --lexicon``).

    ``batch_rows`` input rows are switched at a time; each batch is written as (at least) one Parquet row
    group, so the default matches the writer's row-group size: fewer, larger groups write faster and smaller.
    """
    paths.check_outputs(
        {"-o": output, "--stats": stats_output},
        {"INPUT": input, "--lexicon": lexicon, "--profile": config.profile},
    )
    lex = load_lexicon(lexicon, skip_bad_lines=config.skip_bad_lines)
    profile = fit_profile(config.profile, target_lang=config.target_lang, pos=config.pos) if config.profile else None
    source = artifacts.open_source(input)
    artifacts.require_columns(source.schema, "tagged", stage="switch", columns=REQUIRED)
    options = {
        **artifacts.jsonable(config),
        "lexicon": {
            "path": lexicon,
            "entries": len(lex),
            "duplicates": lex.duplicates,
            "bad_lines": lex.bad_lines,
        },
        "profile": profile.record() if profile else None,
    }
    prov = artifacts.make_provenance(
        "switch",
        options=options,
        seed=config.seed,
        inputs=[source, lexicon] + ([config.profile] if config.profile else []),
    )
    epochs: list[EpochStats] = []
    rows_in = 0
    input_script = "of unknown"

    ids: set[str] = set()

    def counted() -> Iterator[pa.RecordBatch]:
        nonlocal rows_in, input_script
        for batch in source.iter_batches(batch_rows):
            artifacts.check_ids(batch, ids, where=f"{input}: ", offset=rows_in)
            if rows_in == 0 and batch.num_rows:
                input_script = _check_scripts(lex, lexicon, batch, config)
            rows_in += batch.num_rows
            yield batch

    schema = output_schema(source.schema)
    # min/max statistics only where a reader can use them (not on token lists or free text: costly to write)
    scalar = [f.name for f in schema if not pa.types.is_list(f.type) and f.name not in ("text", "text_cs")]
    with atomic.group():  # -o and --stats are committed together, or neither is
        with artifacts.ArtifactWriter(output, schema, kind="switched", provenance=prov, statistics=scalar) as w:
            for out in switch_batches(
                counted(), lexicon=lex, config=config, weights=profile.weights if profile else None, stats=epochs
            ):
                w.write(out)
            covered = sum(int(st.covered.sum()) for st in epochs)
            if covered == 0 and not config.allow_empty and (rows_in > 0):
                raise InputError(
                    f"lexicon coverage is 0 %: no input token is in {lexicon} (lexicon sources are "
                    f"{dominant_script(lex.sources[:2000].to_pylist())} script, input tokens {input_script})",
                    "give a lexicon for the input's language and script, or pass --allow-empty",
                )
            if covered == 0:
                warn("lexicon coverage is 0 %: nothing could be switched (--allow-empty)")
            elif rows_in > 0 and _asks_for_switches(config) and not any(int(st.switched.sum()) for st in epochs):
                _nothing_switched(epochs, lexicon, config)
        table = stats_table(epochs, profile.switched if profile else None)
        if stats_output is not None:
            artifacts.write_table(stats_output, table, kind="switch_stats", provenance=prov)
    return SwitchResult(output, rows_in, w.rows, lex, epochs, profile, table)


def _check_scripts(lexicon: Lexicon, lexicon_path: str, batch: pa.RecordBatch, config: SwitchConfig) -> str:
    """The input's script (from its first batch); refuse (warn with ``allow_empty``) a lexicon whose source side
    is written in a script that fewer than MIN_SCRIPT_SHARE of the input's words are in: a lexicon of the wrong
    direction, e.g. en→hi on Hindi text (a corpus that mixes scripts passes)."""
    words = [t for row in batch.column("tokens").to_pylist() for t in row or [] if t]  # nulls: refused later
    counts = script_counts(words)
    sources = lexicon.sources[:2000].to_pylist()
    script, lexicon_script = dominant_script(words), dominant_script(sources)
    share = counts.get(lexicon_script, 0) / max(1, sum(counts.values()))
    if counts and lexicon_script != "UNKNOWN" and share < MIN_SCRIPT_SHARE:
        message = (
            f"the lexicon's source side is {lexicon_script} script, but only {100 * share:.1f} % of the input's "
            f"words are; they are mostly {script} ({lexicon_path}: {', '.join(sources[:3])} …; input: "
            f"{', '.join(words[:3])} …)"
        )
        if not config.allow_empty:
            raise InputError(
                message,
                "the lexicon's first column must be the input's language: give one in that direction "
                f"(source = input language, target = {config.target_lang}), or pass --allow-empty",
            )
        _allowed(message)
    return script


def _allowed(message: str) -> None:
    """A problem --allow-empty lets through: a warning, silent with --quiet (the option asked for it)."""
    if not is_quiet():
        warn(message + " (--allow-empty)")


def _asks_for_switches(config: SwitchConfig) -> bool:
    return config.strategy != "none" and config.sentence_rate > 0 and any(r > 0 for r in config.ratios)


def _nothing_switched(epochs: list[EpochStats], lexicon_path: str, config: SwitchConfig) -> None:
    tokens = sum(int(st.tokens.sum()) for st in epochs)
    covered = sum(int(st.covered.sum()) for st in epochs)
    eligible = sum(int(st.eligible.sum()) for st in epochs)
    message = (
        f"nothing was switched: {covered} of {tokens} input tokens are in {lexicon_path} "
        f"({100 * covered / max(tokens, 1):.1f} %), {eligible} of them eligible under --pos {','.join(config.pos)}"
    )
    if config.allow_empty:
        _allowed(message)
        return
    raise InputError(
        message,
        "give a lexicon for the input's language (source side) with more of its words, more --pos tags or a "
        "higher --ratio; or pass --allow-empty to write the unswitched output",
    )
