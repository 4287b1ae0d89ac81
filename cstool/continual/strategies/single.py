"""The one model of naive, replay and joint: a single LoRA adapter (``main``) that every task trains further,
or, with ``--full-finetune``, the base model's own weights. Shared by those strategies as functions, not as a
base class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cstool.continual.strategies import FULL, MAIN

Learner = Any  # cstool.continual.learner.Learner (not imported: it imports the strategies)


def prepare(learner: Learner) -> None:
    """Before a task: the base unfrozen (full fine-tuning), or the main adapter present, active and training."""
    if learner.config.full_finetune:
        learner.unfreeze_base()
        return
    if not learner.has(MAIN):
        learner.add_adapter(MAIN)
    learner.activate([MAIN], [MAIN])


def save(learner: Learner, task: str, adapters_dir: Path) -> None:
    if learner.config.full_finetune:
        learner.save_full(adapters_dir, task)
    if learner.has(MAIN):
        learner.save_adapter(MAIN, adapters_dir / task)


def restore(learner: Learner, trained: list[str], adapters_dir: Path) -> None:
    if learner.config.full_finetune:
        from safetensors.torch import load_file

        weights = load_file(str(adapters_dir / f"{FULL}-after-{trained[-1]}" / "model.safetensors"))
        learner.base.load_state_dict(weights, strict=False)
    else:
        learner.load(MAIN, adapters_dir / trained[-1])


def label(name: str, config) -> str:
    return name + ("/full" if config.full_finetune else "")
