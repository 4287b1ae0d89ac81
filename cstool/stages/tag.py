"""tag: text → tokens + Universal POS tags (+ lemmas), as a ``tagged`` artifact.

Inputs: ``.txt`` (a sentence, or with ``docs`` a document, per line), ``.jsonl``, Parquet/Arrow artifacts
(a text column; other columns are carried through) and ``.conllu`` (gold tokens, UPOS and lemmas read as
they are; ``retag`` tags the gold tokens with Stanza instead). An artifact that already has ``tokens`` and
``upos`` is treated like CoNLL-U: kept as it is, or re-tagged on its tokens with ``retag``. The readers are in
:mod:`cstool.text.corpus`.

Tokenisation: with full Stanza resources for the language, Stanza's own tokenizer; with a single POS
model file (``pos_model``), cstool's script-agnostic tokenizer (:func:`tokenize`), since a tagger file
carries no tokenizer. Tagging is batched: one Stanza call per batch of rows.

With ``workers`` > 1, batches are tagged by that many processes (:func:`tag_in_workers`, over
:func:`cstool.base.workers.ordered_map`), each with its own Stanza pipeline and one torch thread; the output is the
same, byte for byte, as with one.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from cstool.base import devices, langcodes, specs
from cstool.base.errors import ConfigError, InputError, at_least
from cstool.base.fields import device_option, offline_option, option
from cstool.base.workers import ordered_map
from cstool.io import artifacts, paths
from cstool.models import stanza_pipelines
from cstool.text.corpus import count_rows, read_input
from cstool.text.tokenize import split_sentences, text_pieces, token_pieces, tokenize

# Raw batches of already tagged input (CoNLL-U, or an artifact with tokens/upos) carry these columns.
# Long lines are tagged in pieces (documented in docs/guarantees.md), so that memory stays
# bounded: a row's tokens go to Stanza MAX_PIECE_TOKENS at a time as separate sentences, and to Stanza's
# own tokenizer MAX_PIECE_CHARS characters at a time, cut at whitespace; one Stanza call gets at most
# WORDS_PER_CALL tokens (CHARS_PER_CALL characters). Rows within the limits are tagged whole, as before.
MAX_PIECE_TOKENS = 1000
MAX_PIECE_CHARS = 10_000
WORDS_PER_CALL = 20_000
CHARS_PER_CALL = 100_000


@dataclass(frozen=True)
class TagConfig:
    lang: str = option(help="Stanza's language code of the text (e.g. hi, mr, en).")
    text_column: str = option("text", "Text column of .jsonl/.parquet inputs.")
    docs: bool = option(False, "Each line/row is a document of several sentences.")
    retag: bool = option(False, "Tag the gold tokens of a .conllu input with Stanza.")
    pretokenized: bool = option(False, "Text is already tokenized: split on whitespace only.")
    batch_size: int = option(256, "Rows per Stanza call.", low=1, high=2**20)
    device: str = device_option()
    shard: str = option("0/1", "i/n: process rows whose ordinal is i modulo n (0-based i).")
    pos_model: str | None = option(None, "A Stanza POS model file (see cstool train-tagger).")
    stanza_dir: str | None = option(
        None, "Stanza resources folder (default: $STANZA_RESOURCES_DIR, else Stanza's own in the user cache)."
    )
    offline: bool = offline_option(
        "Stanza's models (tokenize, pos, lemma of Stanza's default package for --lang)", "the resources folder"
    )
    workers: int = option(
        1,
        "Processes that tag batches in parallel, each with one torch thread; the output is the same as with 1.",
        changes_result=False,
        low=1,
        high=256,
    )
    shard_index: int = field(init=False, repr=False, compare=False)
    shard_count: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = []
        if problem := langcodes.problem(self.lang):
            problems.append(problem)
        problems += at_least(self, 1, "batch_size", "workers")
        if problem := devices.device_problem(self.device):
            problems.append(problem)
        shard = specs.parse_shard(self.shard)
        if shard is None:
            problems.append(f"--shard must be i/n with 0 <= i < n <= {specs.MAX_SHARDS}, got {self.shard!r}")
        else:
            object.__setattr__(self, "shard_index", shard[0])
            object.__setattr__(self, "shard_count", shard[1])
        ConfigError.collect(problems, "see cstool tag --help")

    def in_shard(self, ordinal: int) -> bool:
        """Whether the row with this 0-based ordinal is in ``shard`` (:func:`cstool.base.specs.in_shard`)."""
        return specs.in_shard(ordinal, (self.shard_index, self.shard_count))


# ---------------------------------------------------------------------------------------------------------
# Tagging


def _calls(units: list[tuple[int, Any]], limit: int) -> Iterator[list[tuple[int, Any]]]:
    """``units`` (row, piece) in consecutive groups of at most ``limit`` tokens or characters (at least one)."""
    group: list[tuple[int, Any]] = []
    size = 0
    for unit in units:
        if group and size + len(unit[1]) > limit:
            yield group
            group, size = [], 0
        group.append(unit)
        size += len(unit[1])
    if group:
        yield group


def _stanza_words(pipeline: Any, batch_texts: list[str], pretok: list[list[str]] | None) -> list[tuple]:
    """Run Stanza over a batch; return (tokens, upos, lemmas) per row.

    A row is tagged in pieces of at most MAX_PIECE_TOKENS tokens (MAX_PIECE_CHARS characters for Stanza's own
    tokenizer), and Stanza gets at most WORDS_PER_CALL tokens (CHARS_PER_CALL characters) at a time, so memory
    stays bounded whatever the length of a line; the pieces' words are joined back into their row.
    """
    from stanza import Document

    results: list[tuple[list, list, list]] = [([], [], []) for _ in batch_texts]

    def add(row: int, words: Iterator[Any]) -> None:
        tokens, upos, lemmas = results[row]
        for w in words:
            tokens.append(w.text)
            upos.append(w.upos)
            lemmas.append(w.lemma)

    if pretok is not None:
        units = [(row, piece) for row, toks in enumerate(pretok) for piece in token_pieces(toks, MAX_PIECE_TOKENS)]
        for group in _calls(units, WORDS_PER_CALL):
            doc = pipeline([piece for _, piece in group])
            for (row, _), sent in zip(group, doc.sentences, strict=True):
                add(row, sent.words)
        return results
    units = [(row, piece) for row, text in enumerate(batch_texts) for piece in text_pieces(text, MAX_PIECE_CHARS)]
    for group in _calls(units, CHARS_PER_CALL):
        docs = pipeline.bulk_process([Document([], text=piece) for _, piece in group])
        for (row, _), d in zip(group, docs, strict=True):
            add(row, (w for s in d.sentences for w in s.words))
    return results


def tag_batches(
    batches: Iterator[pa.RecordBatch], *, config: TagConfig, pipeline: Any = None, uses_stanza_tokenizer: bool = False
) -> Iterator[pa.RecordBatch]:
    """Tag raw batches (from :func:`read_input`) and yield batches of the ``tagged`` schema + carried columns.

    ``pipeline`` is a Stanza pipeline, or None when every batch already has gold ``tokens``/``upos``.
    """
    schema: pa.Schema | None = None
    for raw in batches:
        names = raw.schema.names
        texts = raw.column("text").to_pylist()
        if "upos" in names and not config.retag:
            tokens, upos, lemmas = (raw.column(c).to_pylist() for c in ("tokens", "upos", "lemmas"))
        else:
            if pipeline is None:
                raise InputError("this input needs a POS tagger", "give --pos-model FILE or --stanza-dir DIR")
            if "tokens" in names:
                pretok = raw.column("tokens").to_pylist()
            elif config.pretokenized:
                pretok = [t.split() for t in texts]
            elif uses_stanza_tokenizer:
                pretok = None
            elif config.docs:
                pretok = [[tok for s in split_sentences(t) for tok in tokenize(s)] for t in texts]
            else:
                pretok = [tokenize(t) for t in texts]
            results = _stanza_words(pipeline, texts, pretok)
            tokens = [r[0] for r in results]
            upos = [r[1] for r in results]
            lemmas = [None if all(x is None for x in r[2]) else r[2] for r in results]
        carried = [f for f in raw.schema if f.name not in artifacts.TAGGED.names]
        if schema is None:
            schema = artifacts.extend_schema(artifacts.TAGGED, pa.schema(carried))
        arrays = [
            raw.column("id").cast(pa.string()),
            pa.array(texts, pa.string()),
            pa.array(tokens, schema.field("tokens").type),
            pa.array(upos, schema.field("upos").type),
            pa.array(lemmas, schema.field("lemmas").type),
            pa.array([config.lang] * raw.num_rows, pa.string()),
        ] + [raw.column(f.name) for f in carried]
        yield pa.record_batch(arrays, schema=schema)


# ---------------------------------------------------------------------------------------------------------
# Several processes (--workers N)

# Batches handed out and not yet written, per worker: enough to keep every worker busy, few enough that
# memory stays bounded whatever the size of the input.
IN_FLIGHT_PER_WORKER = 2


def _load_in_worker(load: Any) -> Any:
    """A worker's setup: one torch thread, one Stanza pipeline."""
    devices.set_threads(1)
    return load()


def _tag_in_worker(config: TagConfig, stanza_tok: bool, pipeline: Any, raw: pa.RecordBatch) -> pa.RecordBatch:
    (out,) = tag_batches(iter([raw]), config=config, pipeline=pipeline, uses_stanza_tokenizer=stanza_tok)
    return out


def tag_in_workers(
    batches: Iterator[pa.RecordBatch], *, config: TagConfig, load: Any, uses_stanza_tokenizer: bool = False
) -> Iterator[pa.RecordBatch]:
    """:func:`tag_batches` over ``config.workers`` processes (:func:`cstool.base.workers.ordered_map`): the same output
    batches, in input order.

    ``load()`` makes the Stanza pipeline; each worker calls it once (a worker starts only when there is a
    batch for it, so a small input starts fewer). At most IN_FLIGHT_PER_WORKER batches per worker are
    handed out and not yet yielded. An error in a worker is raised here when its batch's turn comes (the
    error the first failing batch gives with one process); closing the generator early stops the workers.
    """
    return ordered_map(
        batches,
        setup=functools.partial(_load_in_worker, load),
        work=functools.partial(_tag_in_worker, config, uses_stanza_tokenizer),
        workers=config.workers,
        in_flight=IN_FLIGHT_PER_WORKER,
        name="tag worker",
        death_hint="it may have run out of memory: use fewer --workers or a smaller --batch-size",
    )


def _tagger_name(config: TagConfig, needs_tagger: bool) -> str:
    """What tagged the rows, for the provenance: the POS model, the Stanza resources folder, or gold tags."""
    if config.pos_model or config.stanza_dir:
        return str(config.pos_model or config.stanza_dir)
    return f"stanza:{stanza_pipelines.default_stanza_dir()}" if needs_tagger else "gold"


@dataclass(frozen=True)
class TagResult:
    output: str  # the artifact written ("-": stdout)
    rows: int  # rows tagged

    def message(self) -> str:
        return f"tagged {self.rows} rows → {'stdout' if self.output == '-' else self.output}"


def run(
    config: TagConfig,
    *,
    input: str,
    output: str,
    on_rows: Any = None,
    on_total: Any = None,
    quiet: bool = False,
) -> TagResult:
    """Tag ``input`` into ``output`` (atomic, with provenance; ``-``: an IPC stream on stdout).

    ``on_rows(n)``: called after each batch of ``n`` rows is written; ``on_total(n)``: called once with the rows
    to tag, where known before reading (see :func:`count_rows`); ``quiet``: no download progress when Stanza's
    models are fetched on first use."""
    paths.check_outputs(
        {"-o": output},
        {"INPUT": input, "--pos-model": config.pos_model, "--stanza-dir": config.stanza_dir},
    )
    batches, inputs = read_input(input, config)
    first = next(batches, None)
    if on_total is not None and first is not None:
        on_total(count_rows(input, config))
    if first is None:
        raise InputError(
            f"{input} holds no text to tag" + (f" in shard {config.shard}" if config.shard_count > 1 else ""),
            "give a file with at least one non-empty line or row",
        )
    needs_tagger = config.retag or "upos" not in first.schema.names
    pipeline = None
    stanza_tok = False
    if needs_tagger:
        if config.pos_model is not None:
            stanza_pipelines.check_tagger_language(config.pos_model, config.lang)
        stanza_tok = config.pos_model is None and not config.pretokenized and "tokens" not in first.schema.names
        if config.workers > 1 and config.pos_model is None:  # download once here, not in every worker
            res_dir = Path(config.stanza_dir) if config.stanza_dir else stanza_pipelines.default_stanza_dir()
            stanza_pipelines.ensure_stanza_models(config.lang, res_dir, offline=config.offline, quiet=quiet)
        load = functools.partial(
            stanza_pipelines.load_stanza_pipeline,
            config.lang,
            pos_model=config.pos_model,
            stanza_dir=config.stanza_dir,
            pretokenized=not stanza_tok,
            device=config.device,
            offline=config.offline or config.workers > 1,
            quiet=quiet,
        )
        pipeline = load() if config.workers == 1 else None

    def chain() -> Iterator[pa.RecordBatch]:
        yield first
        yield from batches

    prov = artifacts.make_provenance(
        "tag",
        options={**artifacts.jsonable(config), "tagger": _tagger_name(config, needs_tagger)},
        inputs=inputs,
    )
    # The number of processes does not change the output, so it is not recorded: the bytes are the same.
    del prov["options"]["workers"]
    if needs_tagger and pipeline is None:
        outputs = tag_in_workers(chain(), config=config, load=load, uses_stanza_tokenizer=stanza_tok)
    else:
        outputs = tag_batches(chain(), config=config, pipeline=pipeline, uses_stanza_tokenizer=stanza_tok)
    writer = None
    try:
        for out in outputs:
            if writer is None:
                writer = artifacts.ArtifactWriter(output, out.schema, kind="tagged", provenance=prov)
            writer.write(out)
            if on_rows:
                on_rows(out.num_rows)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        outputs.close()  # stops the worker processes, if any
    assert writer is not None
    writer.commit()
    return TagResult(output=output, rows=writer.rows)
