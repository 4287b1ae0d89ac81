"""Trainer checkpoints: the newest complete one (a save cut off by a kill is removed), the run record that
says which options and inputs a checkpoint folder belongs to, the callback that skips the checkpoint at the
last step when the model is saved right after, and what an interrupted run says it kept.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from transformers import TrainerCallback

from cstool import atomic, ranks, runstate
from cstool.console import log, warn
from cstool.errors import InputError, Interrupted

RUN_FILE = "cstool-run.json"  # in a checkpoints folder: the options and inputs of the run the checkpoints belong to


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


def write_run_record(ckpt_dir: Path, record: dict) -> None:
    """Record what a new run is (see :func:`cstool.runstate.run_record`) in its checkpoints folder."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    atomic.write_json(ckpt_dir / RUN_FILE, record, indent=2, sort_keys=True)


def resume_point(ckpt_dir: Path, record: dict, *, where: Path) -> Path | None:
    """The checkpoint a resume continues from, after checking it belongs to a run with these options and
    inputs; None when there is none (the run starts from step 0)."""
    last = last_complete_checkpoint(ckpt_dir)
    if last is None:
        return None
    if not (ckpt_dir / RUN_FILE).is_file():
        raise InputError(
            f"{ckpt_dir} holds checkpoints but no {RUN_FILE}: cannot tell which options and inputs made them",
            "start a new run with another -o",
        )
    saved = runstate.read_json(ckpt_dir / RUN_FILE, "run record")
    saved.setdefault("processes", 1)  # a record from before the number of processes was kept
    runstate.check_same_run(saved, record, where=where)
    if ranks.is_main():
        log(f"resuming from {last}")
    return last


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
