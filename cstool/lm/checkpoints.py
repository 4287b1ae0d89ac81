"""Trainer checkpoints: the newest complete one (a save cut off by a kill is removed), the run record that
says which options and inputs a checkpoint folder belongs to, the callback that skips the checkpoint at the
last step when the model is saved right after, and what an interrupted run says it kept.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

from transformers import TrainerCallback

from cstool.base import ranks
from cstool.base.console import log, warn
from cstool.base.errors import InputError, Interrupted
from cstool.io import atomic, runstate

RUN_FILE = runstate.RUN_FILE  # in a checkpoints folder: the options and inputs of the run the checkpoints belong to


def last_complete_checkpoint(ckpt_dir: Path) -> Path | None:
    """The newest ``checkpoint-N`` whose save finished (its trainer_state.json, written last, is whole).
    Newer ones that a kill cut off while saving are removed, so training continues from the complete one."""
    found = sorted(
        (int(p.name.removeprefix("checkpoint-")), p)
        for p in (ckpt_dir.glob("checkpoint-*") if ckpt_dir.is_dir() else [])
        if p.is_dir() and p.name.removeprefix("checkpoint-").isdigit()
    )
    for _, path in reversed(found):
        try:
            json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
            return path
        except (OSError, ValueError):
            warn(f"removing {path}: its save was cut off (no complete trainer_state.json)")
            atomic.discard(path)
    return None


def resume_point(ckpt_dir: Path, record: runstate.RunRecord, *, where: Path) -> Path | None:
    """The checkpoint a resume continues from, after checking it belongs to a run with these options and
    inputs (the record :func:`cstool.io.runstate.write_run_record` wrote there); None when there is none (the
    run starts from step 0)."""
    last = last_complete_checkpoint(ckpt_dir)
    if last is None:
        return None
    if not (ckpt_dir / RUN_FILE).is_file():
        raise InputError(
            f"{ckpt_dir} holds checkpoints but no {RUN_FILE}: cannot tell which options and inputs made them",
            "start a new run with another -o",
        )
    runstate.check_same_run(runstate.read_run_record(ckpt_dir), record, where=where)
    check_checkpoint(last, processes=int(record.launch.get("processes") or 1))
    if ranks.is_main():
        log(f"resuming from {last}")
    return last


WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors", "pytorch_model.bin")


def check_checkpoint(path: Path, *, processes: int = 1) -> None:
    """Refuse a checkpoint whose trainer_state.json is whole but whose other files are not: the weights, the
    optimizer and scheduler states and each process's random state must be there, every safetensors file as
    long as its header says, and every torch file (a zip archive) readable with the right checksums. (The
    Trainer would fail on a cut-off file with a traceback, and resume silently without a random state.)"""
    step = path.name.removeprefix("checkpoint-")

    def damaged(why: str) -> InputError:
        return InputError(
            f"checkpoint {step} is damaged: {why} ({path})",
            f"remove {path} to resume from the checkpoint before it, or start a new run with another -o",
        )

    if not any((path / name).is_file() for name in WEIGHTS):
        raise damaged("it holds no model weights")
    rng = ["rng_state.pth"] if processes == 1 else [f"rng_state_{i}.pth" for i in range(processes)]
    for name in ("optimizer.pt", "scheduler.pt", *rng):
        if not (path / name).is_file():
            raise damaged(f"{name} is missing")
    for file in sorted(path.iterdir()):
        problem = None
        if file.suffix == ".safetensors":
            problem = _safetensors_problem(file)
        elif file.suffix in (".pt", ".pth", ".bin"):
            problem = _torch_file_problem(file)
        if problem:
            raise damaged(f"{file.name} {problem}")


def _safetensors_problem(file: Path) -> str | None:
    size = file.stat().st_size
    try:
        with open(file, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n <= 0 or 8 + n > size:
                return "is cut off (in its header)"
            header = json.loads(f.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return "has no valid safetensors header"
    if 8 + n + end != size:
        return f"is cut off ({size:,} bytes of {8 + n + end:,})" if size < 8 + n + end else "has bytes after its data"
    return None


def _torch_file_problem(file: Path) -> str | None:
    try:
        with zipfile.ZipFile(file) as z:
            bad = z.testzip()  # reads every member and compares its CRC
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return "is cut off or not a torch file"
    return f"is damaged (member {bad})" if bad else None


class NoFinalCheckpoint(TrainerCallback):
    """No checkpoint at the last step: the model is saved to OUT right after, and the checkpoints are deleted
    (the run would write the model and optimizer state only to remove them). A kill in between resumes from
    the checkpoint before."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_save = False


def interrupted(ckpt_dir: Path, out: Path, *, existed: bool) -> Interrupted:
    """Ctrl-C while training or saving: the error that says what was kept (a new run's folder ``out`` is
    removed when no checkpoint was complete)."""
    kept = last_complete_checkpoint(ckpt_dir)
    if kept is None and not existed:
        shutil.rmtree(out, ignore_errors=True)
        return Interrupted("interrupted before the first checkpoint; no output was written")
    if kept is None:
        return Interrupted(f"interrupted before the first checkpoint of this run; {out} is as it was")
    return Interrupted(
        f"interrupted; kept {kept} (step {kept.name.removeprefix('checkpoint-')}) in {out}",
        "continue from it with the same command and --resume",
    )
