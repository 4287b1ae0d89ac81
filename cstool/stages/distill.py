"""distill: train a student causal LM from a teacher (knowledge distillation), or alone (plain LM training).

Per token ``L = α·CE + (1−α)·τ²·D(teacher_τ ‖ student_τ)`` (see :mod:`cstool.lm.kd`), on the Hugging Face
Trainer (:class:`cstool.lm.training.KDTrainer`). Under ``torchrun`` every process checks the inputs before
process 0 writes anything, and process 0 alone writes the output folder (see :mod:`cstool.base.ranks`).

* Student: a model folder (``student``), a config spec with the teacher's tokenizer (``student_config``,
  e.g. ``llama:layers=4,hidden=128,heads=4``), or a subset of the teacher's layers
  (``init_from_teacher_layers``).
* Teacher: a model folder run on the fly, or a top-k cache from ``cstool teacher-cache``; with neither,
  α = 1 and this is plain causal-LM training.
* Before any compute: inputs, models and tokenizers are checked (the vocabularies must be identical),
  and nothing is written when a check fails.
* Output folder: ``save_pretrained`` model + tokenizer, ``cstool.json`` (the options that made it),
  ``train_metrics.parquet`` and, written last, ``done.json``. Checkpoints go to ``checkpoints/`` while
  training; ``resume`` continues from the newest one.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from cstool.base import devices, ranks
from cstool.base.console import log
from cstool.base.errors import ConfigError, CstoolError, InputError, at_least
from cstool.base.fields import SEED, device_option, offline_option, option
from cstool.io import artifacts, atomic, locks, paths, runstate
from cstool.lm.checkpoints import NoFinalCheckpoint, interrupted, last_complete_checkpoint, resume_point
from cstool.lm.kd import KINDS
from cstool.lm.reporting import REPORT_TO, TENSORBOARD_DIR, ConsoleLog, report_callbacks
from cstool.models import hf

DONE = "done.json"
TRAIN_METRICS_FILE = "train_metrics.parquet"


@dataclass(frozen=True)
class DistillConfig:
    student: str | None = option(None, "Student model folder (save_pretrained).")
    student_config: str | None = option(None, "Build the student, e.g. llama:layers=4,hidden=128,heads=4.")
    init_from_teacher_layers: tuple[int, ...] | None = option(
        None,
        "Student = teacher's embeddings + these layers, e.g. 0,2,4.",
        type=str,
        parse=lambda text: parse_layers(text),  # defined below
    )
    teacher: str | None = option(
        None, "Teacher model folder or Hugging Face Hub id OWNER/NAME; without it (and a cache): plain LM training."
    )
    teacher_cache: str | None = option(
        None,
        "Top-k cache from cstool teacher-cache (no teacher in memory); with --cross-tokenizer, one made with "
        "teacher-cache --student-tokenizer.",
    )
    tokenizer: str | None = option(
        None, "Tokenizer folder for --student-config without a teacher, or the student's own with --cross-tokenizer."
    )
    cross_tokenizer: str | None = option(
        None,
        "uld or spans: distil across different vocabularies (ULD over sorted probabilities, paired by index or "
        "by byte span); needs --teacher or a --teacher-cache made for it.",
    )
    text_column: str = option("text", "Text column of DATA.")
    alpha: float | None = option(
        None, "Weight of CE; 1−alpha weights KD (default 0.5 with a teacher or cache, 1 without)."
    )
    temperature: float = option(2.0, "KD temperature τ.", high=100)
    loss: str = option("fkl", "KD divergence: fkl, rkl or jsd.")
    max_steps: int | None = option(None, "Optimizer steps (overrides --epochs).", low=1, high=10**9)
    epochs: float = option(1.0, "Passes over DATA.", low=0.001, high=10**6)
    batch_size: int = option(
        8,
        "Blocks per step (before --grad-accum), over all processes: a multiple of their number under torchrun.",
        low=1,
        high=2**16,
    )
    grad_accum: int = option(1, "Gradient accumulation steps.", low=1, high=2**16)
    block_size: int = option(256, "Tokens per packed block.", low=2, high=2**20)
    lr: float = option(5e-4, "Peak learning rate (linear decay).", low=0, high=10)
    warmup_steps: int = option(0, "Linear warm-up steps.", low=0, high=10**9)
    weight_decay: float = option(0.0, "AdamW weight decay.", low=0, high=10)
    seed: int = option(1234, "Random seed.", **SEED)
    resume: bool = option(
        False,
        "Continue from the newest complete checkpoint in OUT/checkpoints (same options and inputs).",
        changes_result=False,
    )
    save_steps: int = option(200, "Checkpoint every N steps.", changes_result=False, low=1, high=10**9)
    log_every: int = option(
        10, "Log (and record in train_metrics) every N steps.", changes_result=False, low=1, high=10**9
    )
    eval_data: tuple[str, ...] = option((), "Held-out text artifact(s): report CE at the end.", changes_result=False)
    keep_checkpoints: bool = option(
        False, "Keep OUT/checkpoints after a finished run (else they are deleted).", changes_result=False
    )
    device: str = device_option()
    dtype: str = option(
        "float32",
        "float32, bfloat16 or float16: the teacher's weights and the mixed precision of training (the student's "
        "weights and optimizer stay float32); float16 needs a GPU.",
    )
    gradient_checkpointing: bool = option(
        False,
        "Recompute the student's activations in the backward pass: less memory, more compute.",
        changes_result=False,
    )
    report_to: str = option(
        "none",
        "none or tensorboard: log the training losses as TensorBoard event files in OUT/tensorboard.",
        changes_result=False,
    )
    offline: bool = offline_option()

    def __post_init__(self) -> None:
        problems = []
        sources = [s for s in (self.student, self.student_config, self.init_from_teacher_layers) if s]
        if len(sources) != 1:
            problems.append(
                "give exactly one of --student PATH, --student-config SPEC, --init-from-teacher-layers I,J,.."
            )
        if self.init_from_teacher_layers and not self.teacher:
            problems.append("--init-from-teacher-layers needs --teacher")
        if self.cross_tokenizer is not None:
            from cstool.lm.cross_tokenizer import CROSS_KINDS

            if self.cross_tokenizer not in CROSS_KINDS:
                problems.append(
                    f"--cross-tokenizer must be one of {', '.join(CROSS_KINDS)}, got {self.cross_tokenizer!r}"
                )
            if not (self.teacher or self.teacher_cache):
                problems.append("--cross-tokenizer needs --teacher or --teacher-cache")
            if self.teacher_cache and not (self.student or self.tokenizer):
                problems.append(
                    "--cross-tokenizer with --teacher-cache needs the student's tokenizer: --tokenizer or --student"
                )
            if self.init_from_teacher_layers:
                problems.append(
                    "--cross-tokenizer does not go with --init-from-teacher-layers (the teacher's vocabulary)"
                )
        if self.teacher and self.teacher_cache:
            problems.append("give --teacher or --teacher-cache, not both (the cache replaces the teacher)")
        if self.student_config and not (self.teacher or self.tokenizer or self.teacher_cache):
            problems.append("--student-config needs a tokenizer: give --teacher or --tokenizer DIR")
        if self.alpha is not None and not 0.0 <= self.alpha <= 1.0:
            problems.append(f"--alpha must be in [0, 1], got {self.alpha}")
        if self.alpha is not None and self.alpha < 1.0 and not (self.teacher or self.teacher_cache):
            problems.append(f"--alpha {self.alpha} needs a teacher: give --teacher PATH or --teacher-cache CACHE")
        if not self.temperature > 0:
            problems.append(f"--temperature must be positive, got {self.temperature}")
        if self.report_to not in REPORT_TO:
            problems.append(f"--report-to must be one of {', '.join(REPORT_TO)}, got {self.report_to!r}")
        if self.loss not in KINDS:
            problems.append(f"--loss must be one of {', '.join(KINDS)}, got {self.loss!r}")
        if self.max_steps is not None and self.max_steps < 1:
            problems.append(f"--max-steps must be positive, got {self.max_steps}")
        if not self.epochs > 0:
            problems.append(f"--epochs must be positive, got {self.epochs}")
        problems += at_least(self, 1, "batch_size", "grad_accum", "save_steps", "log_every")
        problems += at_least(self, 2, "block_size")
        if not self.lr > 0:
            problems.append(f"--lr must be positive, got {self.lr}")
        if problem := devices.device_problem(self.device):
            problems.append(problem)
        if problem := devices.dtype_problem(self.dtype):
            problems.append(problem)
        ConfigError.collect(problems, "see cstool distill --help")

    @property
    def kd_alpha(self) -> float:
        if self.alpha is not None:
            return self.alpha
        return 0.5 if (self.teacher or self.teacher_cache) else 1.0


@dataclass(frozen=True)
class DistillResult:
    output: Path  # the model folder
    steps: int  # optimizer steps taken
    train_loss: float  # the Trainer's mean training loss
    train_tokens: int
    seconds: float  # wall time of training
    eval_loss: float | None = None  # CE on --eval-data (None without it)
    final_loss: float | None = None  # the last logged loss (None when no step was logged)

    def summary(self) -> dict[str, Any]:
        """The run's summary as ``done.json`` holds it and the console shows it: the fields that have a value,
        the folder left out."""
        return {f.name: v for f in fields(self) if f.name != "output" and (v := getattr(self, f.name)) is not None}


def parse_layers(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(
            f"--init-from-teacher-layers must be comma-separated integers, got {text!r}", "e.g. 0,2,4"
        ) from None


# ---------------------------------------------------------------------------------------------------------
# The stage, then its steps in the order it takes them (blocks, checkpoints and logs: :mod:`cstool.lm`)


@locks.locks_output("distill", "output", resumable=True)
def run(
    config: DistillConfig, *, data: Sequence[str], output: str | os.PathLike, callbacks: Sequence[Any] = ()
) -> DistillResult:
    """Train the student on ``data`` (artifacts with ``config.text_column``) into the folder ``output``."""
    from transformers import PrinterCallback, ProgressCallback
    from transformers.utils import logging as hf_logging

    from cstool.lm.blocks import BlockDataset, pack_texts, pooled_heldout_loss, read_texts
    from cstool.lm.reporting import metrics_table
    from cstool.lm.topk_cache import load_teacher_cache
    from cstool.lm.training import KDTrainer

    hf_logging.disable_progress_bar()
    out = Path(output)
    device = devices.resolve_device(config.device)
    dtype = devices.torch_dtype(config.dtype, device)
    paths.check_outputs(
        {"-o": out},
        {
            "DATA": list(data),
            "--eval-data": list(config.eval_data),
            "--student": config.student,
            "--teacher": config.teacher,
            "--teacher-cache": config.teacher_cache,
            "--tokenizer": config.tokenizer,
        },
        folders=["-o"],
    )
    existed = _check_output(out, config.resume)
    reporting = report_callbacks(config.report_to, out / TENSORBOARD_DIR)
    for path, role in ((config.teacher, "teacher"), (config.student, "student"), (config.tokenizer, "tokenizer")):
        hf.require_model_dir(path, role)
    texts, sources = read_texts(list(data), config.text_column)
    eval_texts = read_texts(list(config.eval_data), config.text_column)[0] if config.eval_data else None
    ckpt_dir = out / "checkpoints"
    record = _run_record(config, texts)
    resume_from = resume_point(ckpt_dir, record, where=out) if config.resume else None
    student, student_tok, teacher, vocab, teacher_tok = _load_models(config, dtype)

    ids, lengths = pack_texts(texts, student_tok, config.block_size)
    dataset = BlockDataset(ids, lengths)
    cache = None
    made_for = dict(  # what a teacher cache must have been made with, either kind
        block_size=config.block_size,
        temperature=config.temperature,
        data_sources=sources,
        text_column=config.text_column,
    )
    if config.cross_tokenizer:
        from cstool.lm.cross_tokenizer import CrossBlockDataset, cross_blocks
        from cstool.lm.topk_cache import load_cross_teacher_cache

        if config.teacher_cache:  # the rows and the teacher's sorted top k, from the student tokenizer and cache
            blocks = cache = load_cross_teacher_cache(
                config.teacher_cache, texts=texts, student_tok=student_tok, kind=config.cross_tokenizer, **made_for
            )
        else:
            blocks = cross_blocks(
                texts, student_tok, teacher_tok, config.block_size, _max_positions(teacher), config.cross_tokenizer
            )
        ids, dataset = blocks["input_ids"], CrossBlockDataset(blocks)
    elif config.teacher_cache:
        cache = load_teacher_cache(
            config.teacher_cache, ids=ids, fingerprint=hf.tokenizer_fingerprint(student_tok), **made_for
        )
        vocab = len(student_tok)
        dataset = BlockDataset(ids, lengths, cache)
    # Under torchrun / accelerate launch every process has made the checks above before process 0 writes
    # anything; it alone writes the run record, the checkpoints (the Trainer) and the output folder.
    ranks.barrier(device)
    trainer = KDTrainer(
        model=student,
        args=_training_arguments(config, ckpt_dir, device),
        train_dataset=dataset,
        teacher=teacher,
        alpha=config.kd_alpha,
        temperature=config.temperature,
        divergence=config.loss,
        vocab_size=vocab,
        cross_tokenizer=config.cross_tokenizer,
        callbacks=[ConsoleLog(), *([] if config.keep_checkpoints else [NoFinalCheckpoint()]), *reporting, *callbacks],
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    mode = "KD from cache" if cache is not None else ("KD" if teacher is not None and config.kd_alpha < 1 else "LM")
    if config.cross_tokenizer and mode != "LM":
        mode = f"KD across tokenizers, {config.cross_tokenizer}" + (" from cache" if cache is not None else "")
    if ranks.is_main():
        per = f" on {ranks.world_size()} processes" if ranks.world_size() > 1 else ""
        log(
            f"distill ({mode}): {len(ids)} blocks of {config.block_size} tokens{per}, "
            f"{student.num_parameters():,} student parameters, {config.dtype}"
        )
    started = time.perf_counter()
    try:  # Ctrl-C while training or saving: say what was kept
        try:
            if resume_from is None and ranks.is_main():  # a new run: record what it is
                runstate.write_run_record(ckpt_dir, record)
            result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        except CstoolError:  # e.g. divergence: the run is void; keep only what an earlier run left for --resume
            if not existed:
                shutil.rmtree(out, ignore_errors=True)
            raise
        except Exception:
            _remove_if_nothing_to_resume(out, ckpt_dir, existed)
            raise
        try:
            seconds = time.perf_counter() - started
            summary: dict[str, Any] = {
                "steps": trainer.state.global_step,
                "train_loss": result.training_loss,
                "train_tokens": int(lengths.sum()),
                "seconds": round(seconds, 2),
            }
            if eval_texts is not None:  # each process scores its slice of the held-out blocks; the sums are pooled
                e_ids, e_lengths = pack_texts(eval_texts, student_tok, config.block_size)
                summary["eval_loss"] = pooled_heldout_loss(
                    trainer.model, e_ids, e_lengths, batch_size=config.batch_size, device=device
                )
            table = metrics_table(trainer.state.log_history)
            if table.num_rows:
                summary["final_loss"] = table.column("loss")[-1].as_py()
            trainer.save_model(str(out))  # every process takes part (sharded models are gathered); rank 0 writes
            if trainer.is_world_process_zero():
                prov = artifacts.make_provenance(
                    "distill",
                    options={
                        **artifacts.jsonable(config),
                        "alpha_used": config.kd_alpha,
                        "mode": mode,
                        "teacher_dtype": str(next(teacher.parameters()).dtype) if teacher is not None else None,
                        "processes": ranks.world_size(),
                    },
                    seed=config.seed,
                    inputs=sources,
                )
                student_tok.save_pretrained(out)
                artifacts.write_sidecar(out, prov)
                artifacts.write_table(out / TRAIN_METRICS_FILE, table, kind="train_metrics", provenance=prov)
                if not config.keep_checkpoints:
                    shutil.rmtree(ckpt_dir, ignore_errors=True)
                atomic.write_json(out / DONE, summary, indent=2)
            ranks.barrier(device)  # no process returns before the output is complete
        except Exception:  # e.g. a full disk while saving: a folder this run made with nothing to resume from goes
            _remove_if_nothing_to_resume(out, ckpt_dir, existed)
            raise
    except KeyboardInterrupt:
        raise interrupted(ckpt_dir, out, existed=existed) from None
    return DistillResult(output=out, **summary)


def _remove_if_nothing_to_resume(out: Path, ckpt_dir: Path, existed: bool) -> None:
    """After a failure (a full disk, …): remove the output folder this run created when it holds no complete
    checkpoint, so the same command runs again; a folder with one is kept for ``--resume``."""
    if not existed and ranks.is_main() and last_complete_checkpoint(ckpt_dir) is None:
        shutil.rmtree(out, ignore_errors=True)


def _check_output(out: Path, resume: bool) -> bool:
    """Refuse a finished or foreign output folder; return whether it existed (nothing is created here)."""
    existed = out.exists()
    if (out / DONE).exists():
        raise InputError(
            f"{out} already holds a finished run ({DONE})", "choose another -o, or delete the folder to retrain"
        )
    if existed and any(out.iterdir()) and not resume:
        raise InputError(
            f"{out} exists and is not empty", "pass --resume to continue an interrupted run, or choose another -o"
        )
    return existed


def _run_record(config: DistillConfig, texts: list[str]) -> runstate.RunRecord:
    """What the run's checkpoints belong to: the options that change the result, fingerprints of the texts
    and of the model, cache and tokenizer inputs, and the number of processes (checked to split the batch)."""
    if config.batch_size % ranks.world_size():
        raise ConfigError(
            f"--batch-size {config.batch_size} does not split over {ranks.world_size()} processes",
            f"give a multiple of {ranks.world_size()}: --batch-size is the whole batch of a step",
        )
    models = {name: getattr(config, name) for name in ("student", "teacher", "teacher_cache", "tokenizer")}
    return runstate.run_record(
        config,
        contents={
            "data": runstate.texts_fingerprint(texts),
            **{name: runstate.content_fingerprint(path) for name, path in models.items() if path},
        },
        launch={"processes": ranks.world_size()},  # each process's random state is in the checkpoints
        labels={"data": "DATA"},
    )


def _max_positions(model: Any) -> int:
    return int(getattr(model.config, "max_position_embeddings", None) or 1 << 30)


def _load_models(config: DistillConfig, dtype: torch.dtype) -> tuple[Any, Any, Any, int | None, Any]:
    """The student and its tokenizer, the teacher (None without one), the vocabulary size the KD term
    compares and the teacher's tokenizer, after checking the models, tokenizers and block size belong
    together (the vocabularies must be the same unless a cross-tokenizer loss is chosen)."""
    from cstool.lm.scoring import check_model_tokenizer
    from cstool.lm.topk_cache import cache_teacher

    teacher = teacher_tok = None
    if config.teacher:
        teacher_tok = hf.load_tokenizer(config.teacher, offline=config.offline)
    tok_dir = config.student or config.tokenizer or config.teacher
    if tok_dir is None:  # --student-config with --teacher-cache only: the cache's teacher tokenizer
        tok_dir = cache_teacher(config.teacher_cache)
    student_tok = hf.load_tokenizer(tok_dir, offline=config.offline)
    if config.student:
        student = hf.load_causal_lm(config.student, offline=config.offline, dtype=torch.float32)
    if config.teacher:
        teacher = hf.load_causal_lm(config.teacher, offline=config.offline, dtype=dtype)
        if config.init_from_teacher_layers:
            layers = list(config.init_from_teacher_layers)
            student = hf.student_from_teacher_layers(teacher, layers).to(torch.float32)
    if config.student_config:
        special = {k: getattr(student_tok, k) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
        student = hf.build_causal_lm(
            config.student_config, vocab_size=len(student_tok), special_ids=special, seed=config.seed
        )
    vocab = None
    if teacher is not None:
        if not config.cross_tokenizer:
            vocab = hf.check_vocab(teacher_tok, student_tok, teacher.config.vocab_size, student.config.vocab_size)
            hf.check_positions(teacher, config.block_size, "teacher")
        check_model_tokenizer(teacher, teacher_tok)
    hf.check_positions(student, config.block_size, "student")
    check_model_tokenizer(student, student_tok)
    return student, student_tok, teacher, vocab, teacher_tok


def _training_arguments(config: DistillConfig, ckpt_dir: Path, device: str) -> Any:
    """The Trainer's arguments: checkpoints in ``ckpt_dir``, the batch split over the processes."""
    from cstool.lm.trainer_args import training_arguments

    return training_arguments(
        output_dir=str(ckpt_dir),
        batch_size=config.batch_size // ranks.world_size(),
        lr=config.lr,
        seed=config.seed,
        device=device,
        dtype=config.dtype,
        gradient_checkpointing=config.gradient_checkpointing,
        gradient_accumulation_steps=config.grad_accum,
        max_steps=config.max_steps if config.max_steps is not None else -1,
        num_train_epochs=config.epochs,
        warmup_steps=config.warmup_steps,
        weight_decay=config.weight_decay,
        logging_steps=config.log_every,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=2,
    )
