"""train-tokenizer: a sentencepiece unigram tokenizer for from-scratch teachers, loadable by ``AutoTokenizer``,
trained on the text column of artifacts and saved with its ``spm.model`` (how the tokenizer is built, its ids
and special tokens: :mod:`cstool.lm.tokenizer`)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cstool.base.errors import CstoolError, InputError
from cstool.base.fields import option
from cstool.io import artifacts, atomic, locks, paths
from cstool.lm.tokenizer import (
    SentencePieceOptions,
    fast_tokenizer_from_sentencepiece,
    train_sentencepiece,
)


@dataclass(frozen=True)
class TrainTokenizerConfig(SentencePieceOptions):
    text_column: str = option("text", "Text column of DATA.")


@dataclass(frozen=True)
class TrainTokenizerResult:
    output: Path  # the tokenizer folder
    sentences: int  # texts trained on
    vocab_size: int

    def summary(self) -> str:
        return f"trained a {self.vocab_size}-piece tokenizer on {self.sentences} texts → {self.output}"


def _texts(sources: Sequence[artifacts.Source], column: str) -> Iterator[str]:
    for src in sources:
        for batch in src.iter_batches():
            for text in batch.column(column).to_pylist():
                if text and text.strip():
                    yield text


@locks.locks_output("train-tokenizer", "output")
def run(config: TrainTokenizerConfig, *, data: Sequence[str], output: str | os.PathLike) -> TrainTokenizerResult:
    """Train on the text column of ``data`` and save an ``AutoTokenizer`` folder to ``output``."""
    out = Path(output)
    paths.check_outputs({"-o": out}, {"DATA": list(data)}, folders=["-o"])
    if out.exists() and any(out.iterdir()):
        raise InputError(f"{out} exists and is not empty", "choose another -o or delete the folder")
    sources = [artifacts.open_source(spec) for spec in data]
    for spec, src in zip(data, sources):
        artifacts.require_text_column(src.schema, config.text_column, where=spec)
    counter = {"n": 0}
    failed: list[CstoolError] = []

    def counted() -> Iterator[str]:
        # sentencepiece consumes this inside its trainer and would turn a read error into its own; keep it
        try:
            for t in _texts(sources, config.text_column):
                counter["n"] += 1
                yield t
        except CstoolError as e:
            failed.append(e)

    texts = counted()
    first = next(texts, None)
    if failed:
        raise failed[0]
    if first is None:
        raise InputError(f"no text in column {config.text_column!r} of {', '.join(data)}", "give artifacts with text")
    try:
        model_bytes = train_sentencepiece(_chain(first, texts), config)
    finally:
        if failed:
            raise failed[0]
    tokenizer = fast_tokenizer_from_sentencepiece(model_bytes)
    with atomic.atomic_dir(out) as tmp:  # replaces an empty folder at -o, if there is one
        tokenizer.save_pretrained(tmp)
        (tmp / "spm.model").write_bytes(model_bytes)
        prov = artifacts.make_provenance("train-tokenizer", options=config, seed=config.seed, inputs=sources)
        artifacts.write_sidecar(tmp, prov)
    return TrainTokenizerResult(output=out, sentences=counter["n"], vocab_size=len(tokenizer))


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest
