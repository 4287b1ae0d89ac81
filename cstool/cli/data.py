"""Commands over text data: info, tag, train-tagger, switch, lexicon."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from cstool.base.console import is_quiet, log, print_table
from cstool.cli.app import command, prepare_torch
from cstool.cli.options import Param, argument, param
from cstool.io.paths import default_output

if TYPE_CHECKING:
    from cstool.stages.lexicon import LexiconConfig
    from cstool.stages.switch import SwitchConfig
    from cstool.stages.tag import TagConfig
    from cstool.stages.train_tagger import TrainTaggerConfig


def artifact_output(kind: str) -> Param:
    """-o of a row-transforming stage (tag, switch): a file, or '-' for an IPC stream on stdout; optional."""
    return param(
        "output",
        Optional[str],
        f"Output artifact (.parquet, .arrow, or - for stdout). Default: INPUT's name with .{kind}.parquet, "
        "beside it (stdout when INPUT is -).",
        "--output",
        "-o",
        default=None,
    )


@command(
    "info",
    params=[argument("path", str, "An artifact, tagger file or model folder made by cstool.")],
    examples=["cstool info corpus.tagged.parquet", "cstool info runs/ra/final"],
)
def info(path: str) -> None:
    """Show an artifact's kind, rows, columns and how it was made (the provenance chain), as JSON on stdout."""
    from cstool.io.artifacts import describe

    typer.echo(json.dumps(describe(path), indent=2, ensure_ascii=False))


@command(
    "tag",
    examples=[
        "cstool tag corpus.txt --lang hi",
        "cstool tag mr.txt --lang mr --pos-model mr_tagger.pt -o mr.tagged.parquet",
    ],
    config="cstool.stages.tag.TagConfig",
    params=[
        argument(
            "input",
            str,
            "Input: .txt, .jsonl, .conllu, Parquet/Arrow artifact, - (stdin), or a Hugging Face dataset "
            "(hf:OWNER/NAME[:CONFIG]:SPLIT, a save_to_disk or data-file FOLDER[:SPLIT]).",
        ),
        artifact_output("tagged"),
    ],
)
def tag(config: TagConfig, input: str, output: str | None) -> None:
    """Tokenise and tag text with Universal POS tags (Stanza), or read gold tags from CoNLL-U.

    Stanza's models for --lang are downloaded into Stanza's resources folder on first use (--offline: never).
    """
    from cstool.base.console import progress, set_total
    from cstool.stages.tag import run

    output = output or default_output(input, "tagged")
    if config.workers == 1:  # else each worker process uses one torch thread, and this one does not tag
        prepare_torch()
    with progress("tag") as bar:
        result = run(
            config,
            input=input,
            output=output,
            on_rows=lambda n: bar.advance(bar.task_ids[0], n),
            on_total=lambda n: set_total(bar, n),
            quiet=is_quiet(),
        )
    log(result.message())


@command(
    "train-tagger",
    examples=[
        "cstool train-tagger --train mr_ufal-ud-train.conllu --dev mr_ufal-ud-dev.conllu --lang mr -o mr_tagger.pt"
    ],
    config="cstool.stages.train_tagger.TrainTaggerConfig",
    params=[
        param("train", Path, "Training treebank (CoNLL-U with UPOS)."),
        param("output", Path, "Where to write the tagger (.pt).", "--output", "-o"),
        param("dev", Optional[Path], "Dev treebank (default: every 10th training sentence).", default=None),
    ],
)
def train_tagger(config: TrainTaggerConfig, train: Path, output: Path, dev: Path | None) -> None:
    """Train a Stanza POS tagger from a UD treebank (offline, no pretrained vectors) and report dev accuracy."""
    from cstool.stages.train_tagger import run

    prepare_torch()
    log(f"training a {config.lang} tagger on {train} for {config.max_steps} steps")
    result = run(config, train=train, dev=dev, output=output)
    for title, columns, rows in result.tables():
        print_table(title, columns, rows)


@command(
    "switch",
    examples=[
        "cstool switch corpus.tagged.parquet --lexicon hi-en.tsv",
        "cstool switch hi.tagged.parquet --lexicon hi-en.tsv --strategy random --ratio 0.3 -o hi.random.parquet",
    ],
    config="cstool.stages.switch.SwitchConfig",
    params=[
        argument("input", str, "Tagged artifact from cstool tag (.parquet, .arrow, or - for stdin)."),
        param("lexicon", str, "Lexicon: TSV with header source,target[,upos] or MUSE 'source target'."),
        artifact_output("switched"),
        param("stats", Optional[str], "Also write the statistics artifact here.", default=None),
    ],
)
def switch(config: SwitchConfig, input: str, lexicon: str, output: str | None, stats: str | None) -> None:
    """Code-switch tagged sentences word by word into TARGET_LANG, by part of speech (or at random)."""
    from cstool.stages.switch import run

    output = output or default_output(input, "switched")
    result = run(config, input=input, lexicon=lexicon, output=output, stats_output=stats)
    for title, columns, rows in result.tables():
        print_table(title, columns, rows)
    log(result.message())


@command(
    "lexicon",
    examples=[
        "cstool lexicon --source hi.tagged.parquet --target en.tagged.parquet -o hi-en.induced.tsv",
        "cstool lexicon --source hi.tagged.parquet --target en.tagged.parquet --dictionary hi-en.tsv "
        "--coverage hi.tagged.parquet -o hi-en.union.tsv",
    ],
    config="cstool.stages.lexicon.LexiconConfig",
    params=[
        param("output", str, "Lexicon to write: .tsv (read by switch --lexicon) or .parquet.", "--output", "-o"),
        param("source", Optional[str], "Tagged artifact of the source language (parallel text).", default=None),
        param("target", Optional[str], "Tagged artifact of the target language, parallel to --source.", default=None),
        param(
            "dictionary",
            Optional[list[str]],
            "Dictionary TSV (source, target[, upos]) or MUSE pairs; repeatable.",
            default=None,
        ),
        param("coverage", Optional[str], "Tagged corpus to report the lexicon's coverage per UPOS on.", default=None),
        param(
            "coverage_out",
            Optional[str],
            "Coverage artifact (default: OUTPUT's name with .coverage.parquet).",
            default=None,
        ),
    ],
)
def lexicon(
    config: LexiconConfig,
    output: str,
    source: str | None,
    target: str | None,
    dictionary: list[str] | None,
    coverage: str | None,
    coverage_out: str | None,
) -> None:
    """Build a bilingual lexicon with UPOS from parallel tagged text (word alignment) and dictionary files."""
    from cstool.stages.lexicon import run

    result = run(
        config,
        source=source,
        target=target,
        dictionaries=dictionary or [],
        output=output,
        coverage=coverage,
        coverage_output=coverage_out,
    )
    for title, columns, rows in result.tables():
        print_table(title, columns, rows)
    log(f"wrote {len(result.entries)} entries → {output}")


COMMANDS = (info, tag, train_tagger, switch, lexicon)
