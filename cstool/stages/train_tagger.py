"""train-tagger: a Stanza UPOS tagger from a UD treebank, offline, for languages Stanza has no model for.

Runs Stanza's own tagger trainer (``stanza.models.tagger``) without pretrained word vectors, at sizes that
train in a minute or two on a CPU; ``full_size`` uses Stanza's published defaults instead. The tagger is
then evaluated by cstool itself on the dev set's gold tokens (UPOS accuracy), and the result and options
are written next to it as ``TAGGER.cstool.json``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from cstool.base import devices, langcodes
from cstool.base.console import progress
from cstool.base.errors import ConfigError, InputError, at_least
from cstool.base.fields import SEED, device_option, option
from cstool.io import artifacts, atomic, locks, paths
from cstool.io.conllu import normalized_blocks, read_conllu
from cstool.models import stanza_pipelines

SMALL_SIZES = {
    "hidden_dim": 128,
    "char_hidden_dim": 128,
    "word_emb_dim": 64,
    "char_emb_dim": 64,
    "tag_emb_dim": 32,
    "deep_biaff_hidden_dim": 128,
    "composite_deep_biaff_hidden_dim": 64,
}


@dataclass(frozen=True)
class TrainTaggerConfig:
    lang: str = option(help="Stanza's language code (e.g. hi, mr, en).")
    max_steps: int = option(1000, "Training steps.", low=1, high=10**9)
    batch_size: int = option(32, "Sentences per step.", low=1, high=2**16)
    eval_interval: int = option(100, "Evaluate on dev (and keep the best) every N steps.", low=1, high=10**9)
    full_size: bool = option(False, "Stanza's default sizes instead of small CPU ones.")
    seed: int = option(1234, "Random seed.", **SEED)
    device: str = device_option()

    def __post_init__(self) -> None:
        problems = at_least(self, 1, "max_steps", "batch_size", "eval_interval")
        if problem := langcodes.problem(self.lang):
            problems.append(problem)
        if problem := devices.device_problem(self.device):
            problems.append(problem)
        ConfigError.collect(problems, "see cstool train-tagger --help")


def _check_treebank(path: Path, role: str) -> int:
    if not path.is_file():
        raise InputError(
            f"{role} treebank {path} does not exist", "give a CoNLL-U file, e.g. a UD treebank's *-ud-train.conllu"
        )
    n = 0
    for _sent in read_conllu(
        path, gold_upos="a tagger learns from gold tags"
    ):  # raises with file:line on malformed input or tags
        n += 1
    if n == 0:
        raise InputError(f"{role} treebank {path} has no sentences", "give a non-empty CoNLL-U file")
    return n


_HEAD = re.compile(r"0|[1-9][0-9]*")  # ASCII digits only: "²".isdigit() is true, int("²") fails


def tree_problem(heads: list[str]) -> str | None:
    """Why a sentence's heads (column 7) are not a tree the CoNLL 2018 evaluator reads, or None: every head
    a number in 0..n, one root, and no cycle (every word reaches the root)."""
    n = len(heads)
    for word, head in enumerate(heads, 1):
        if not _HEAD.fullmatch(head):
            return f"word {word} has head {head!r}, not a number"
        if int(head) > n:
            return f"word {word} has head {head}, outside 0..{n}"
    roots = [str(word) for word, head in enumerate(heads, 1) if head == "0"]
    if len(roots) != 1:
        return "no root (no word has head 0)" if not roots else f"{len(roots)} roots (words {', '.join(roots)})"
    parent = [0] + [int(h) for h in heads]
    for word in range(1, n + 1):
        seen, at = [], word
        while at != 0 and at not in seen and len(seen) <= n:
            seen.append(at)
            at = parent[at]
        if at != 0:
            cycle = seen[seen.index(at) :]
            return f"words {', '.join(map(str, sorted(cycle)))} form a cycle (their heads never reach the root)"
    return None


def _check_trees(path: Path, role: str) -> None:
    """The sentences Stanza scores must be trees (one root, heads in range): its scorer fails on others."""
    for sent in read_conllu(path):
        problem = tree_problem(sent.heads)
        if problem:
            held_out = " (every 10th sentence of it is held out as the dev set)" if role == "training" else ""
            raise InputError(
                f"{role} treebank {path}:{sent.line}: {problem}{held_out}",
                "Stanza scores the dev set with the CoNLL 2018 evaluator, which needs one root and heads in range "
                "in every sentence; fix the file (UD's validate.py finds such errors)",
            )


def _stanza_files(train: Path, dev: Path | None, workdir: Path) -> tuple[Path, Path]:
    """The treebanks Stanza reads, written by cstool from what it read (:func:`normalized_blocks`: no BOM,
    one empty line between sentences), so Stanza's stricter reader sees the same sentences cstool checked.
    Without a dev set every 10th training sentence becomes dev (deterministic)."""
    blocks = normalized_blocks(train)
    if dev is None:
        tr = [b for i, b in enumerate(blocks) if i % 10 != 9]
        dv = [b for i, b in enumerate(blocks) if i % 10 == 9] or blocks[:1]
    else:
        tr, dv = blocks, normalized_blocks(dev)
    (workdir / "train.conllu").write_text("\n\n".join(tr) + "\n\n", encoding="utf-8")
    (workdir / "dev.conllu").write_text("\n\n".join(dv) + "\n\n", encoding="utf-8")
    return workdir / "train.conllu", workdir / "dev.conllu"


def upos_accuracy(tagger_path: str | Path, gold: str | Path, *, lang: str, device: str = "cpu") -> float:
    """Share of words of ``gold`` whose UPOS the tagger predicts from the gold tokens."""
    sents = list(read_conllu(gold))
    nlp = stanza_pipelines.load_stanza_pipeline(lang, pos_model=tagger_path, pretokenized=True, device=device)
    doc = nlp([s.forms for s in sents])
    right = total = 0
    for s, pred in zip(sents, doc.sentences, strict=True):
        for g, w in zip(s.upos, pred.words, strict=True):
            right += g == w.upos
            total += 1
    return right / total


_STEP = re.compile(r"Finished STEP (\d+)/(\d+)")


class _StanzaStepBar(logging.Handler):
    """Stanza's "Finished STEP i/n" lines move a progress bar; its other INFO lines are dropped, and warnings
    go to the handlers the logger had."""

    def __init__(self, bar, handlers: list[logging.Handler]):
        super().__init__(logging.INFO)
        self.bar, self.others = bar, handlers

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            for handler in self.others:
                handler.handle(record)
        elif m := _STEP.search(record.getMessage()):
            self.bar.update(self.bar.task_ids[0], completed=int(m.group(1)))


@dataclass(frozen=True)
class TrainTaggerResult:
    output: Path  # the tagger file
    dev_upos_accuracy: float
    train_sentences: int
    dev: str  # the dev treebank, or "held out from train"

    def record(self) -> dict:
        """What the tagger's provenance records as its ``result``."""
        return {"dev_upos_accuracy": self.dev_upos_accuracy, "train_sentences": self.train_sentences, "dev": self.dev}

    def tables(self) -> list[tuple[str, list[str], list[list]]]:
        """(title, columns, rows) of the table people read."""
        return [
            (
                "train-tagger",
                ["tagger", "dev UPOS accuracy", "train sentences"],
                [[str(self.output), f"{100 * self.dev_upos_accuracy:.2f} %", self.train_sentences]],
            )
        ]


@locks.locks_output("train-tagger", "output")
def run(
    config: TrainTaggerConfig, *, train: str | Path, dev: str | Path | None = None, output: str | Path
) -> TrainTaggerResult:
    """Train a tagger on the treebank ``train`` (dev set: ``dev``, else every 10th training sentence) and write
    it to ``output`` (atomically, with its provenance beside it)."""
    from stanza.models import tagger as stanza_tagger

    train, output = Path(train), Path(output)
    paths.check_outputs(
        {"-o": output, "-o (its provenance)": artifacts.sidecar_path(output)}, {"--train": train, "--dev": dev}
    )
    n_train = _check_treebank(train, "training")
    if dev is not None:
        _check_treebank(Path(dev), "dev")
    _check_trees(Path(dev) if dev is not None else train, "dev" if dev is not None else "training")
    device = devices.resolve_device(config.device)
    with atomic.scratch_dir(output) as work:
        train_file, dev_file = _stanza_files(train, Path(dev) if dev is not None else None, work)
        args = [
            "--mode",
            "train",
            "--train_file",
            str(train_file),
            "--eval_file",
            str(dev_file),
            "--lang",
            config.lang,
            "--shorthand",
            f"{config.lang}_cstool",
            "--no_pretrain",
            "--max_steps",
            str(config.max_steps),
            # Stanza's trainer needs at least one dev evaluation, so never evaluate less often than once.
            "--eval_interval",
            str(min(config.eval_interval, config.max_steps)),
            "--batch_size",
            str(config.batch_size),
            "--seed",
            str(config.seed),
            "--save_dir",
            str(work),
            "--save_name",
            "tagger.pt",
            "--device",
            device,
        ]
        if not config.full_size:
            for k, v in SMALL_SIZES.items():
                args += [f"--{k}", str(v)]
        # Stanza's trainer logs every 20 steps at INFO: its lines become a progress bar, warnings pass through.
        stanza_log = logging.getLogger("stanza")
        level, handlers, propagate = stanza_log.level, stanza_log.handlers[:], stanza_log.propagate
        bar = progress("train-tagger", total=config.max_steps)
        stanza_log.handlers, stanza_log.propagate = [_StanzaStepBar(bar, handlers)], False
        stanza_log.setLevel(logging.INFO)
        try:
            with bar, open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
                stanza_tagger.main(args)
        except (ValueError, RuntimeError, OSError) as e:  # Stanza's UDError is a ValueError
            if failed := atomic.write_error(e, output):  # its checkpoints filled the disk
                raise failed from None
            raise InputError(
                f"Stanza's tagger trainer failed: {e}",
                "the scorer needs valid trees (one root, heads in range) in the dev file; "
                "check it with UD's validate.py",
            ) from None
        finally:
            stanza_log.setLevel(level)
            stanza_log.handlers, stanza_log.propagate = handlers, propagate
        model_file = work / "tagger.pt"
        if not model_file.is_file():
            raise InputError(
                "Stanza's trainer wrote no model", "check that the treebank has UPOS tags and enough sentences"
            )
        accuracy = upos_accuracy(model_file, dev_file, lang=config.lang, device=device)
        result = TrainTaggerResult(
            output=output,
            dev_upos_accuracy=accuracy,
            train_sentences=n_train,
            dev=str(dev) if dev else "held out from train",
        )
        prov = artifacts.make_provenance(
            "train-tagger", options=config, seed=config.seed, inputs=[train] + ([dev] if dev else [])
        )
        prov["result"] = result.record()
        with atomic.group():  # the tagger and its provenance appear together, or neither does
            with atomic.atomic_path(output) as tmp:
                shutil.move(str(model_file), str(tmp))
            artifacts.write_sidecar(output, prov)
    return result
