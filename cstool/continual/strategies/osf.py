"""``osf``: orthogonal subspace fine-tuning with peft's OSF (``peft.OSFConfig``; Nayak et al. 2025, "Sculpting
Subspaces: Constrained Full Fine-Tuning in LLMs for Continual Learning"), without replay. Before each task
every adapted weight (the modules LoRA would adapt, ``--target-modules``) is split by an SVD,
W = U_high·S_high·V_highᵀ + U_low·S_low·V_lowᵀ; the top singular directions (U_high, S_high, V_high) are frozen
and the rest trains, its gradients projected orthogonal to U_high and V_high. After the task the update is merged
into the base weights (``merge_and_unload``) and the next task decomposes the updated weights again, as peft's
guide for sequential tasks does.

How much is preserved grows along the sequence, peft's progressive budget: task i of T (counting from 0, the
anchor included) freezes the top ⌊i/T · min(d_out, d_in)⌋ directions of each weight (at least one: peft needs a
positive rank), so with the anchor en untrained, hi keeps the base's top third and mr its top two thirds.
With --train-embeddings the embeddings and LM head train in full as well (peft modules_to_save), outside the
projection. The run's ``--lr`` applies (peft advises 1e-5 to 1e-4 for OSF).

OSF trains about two full weight matrices per adapted module (U_low, V_low), not a low rank: equal steps and
examples per task, not equal parameters. RUN_DIR/adapters/full-after-<task> is the whole model after the task."""

from __future__ import annotations

from pathlib import Path

NAME = "subspace"  # the OSF adapter's name while a task trains (peft warns about names containing "osf")


class Osf:
    OWN_OPTIONS: tuple[str, ...] = ()

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def problems(cls, config) -> list[str]:
        if config.full_finetune:
            return ["--full-finetune is a reference for naive, replay and joint, not osf (OSF is full-rank already)"]
        return []

    @classmethod
    def label(cls, config) -> str:
        return "osf"

    def learn(self, learner, i: int) -> None:
        c, task = self.config, learner.tasks[i]
        learner.add_adapter(NAME, peft_config=osf_config(learner, preserved_share(i, len(learner.tasks))))
        learner.activate([NAME], [NAME])
        # the phase name keys the batch plan: exactly naive's batches (no replay)
        learner.train(task.name, "naive", c.steps_per_task, task.train, [], 0.0)
        learner.merge(NAME)  # the next task decomposes the updated weights

    def save(self, learner, task: str, adapters_dir: Path) -> None:
        learner.save_full(adapters_dir, task)

    def restore(self, learner, trained: list[str], adapters_dir: Path) -> None:
        from safetensors.torch import load_file

        from cstool.continual.strategies import FULL

        weights = load_file(str(adapters_dir / f"{FULL}-after-{trained[-1]}" / "model.safetensors"))
        learner.base.load_state_dict(weights, strict=False)


def preserved_share(i: int, n_tasks: int) -> float | int:
    """OSF's ``effective_rank`` for task ``i`` of ``n_tasks``: the share i/n of each weight's smaller dimension,
    or 1 (one direction) for the first task."""
    return i / n_tasks if i > 0 else 1


def osf_config(learner, effective_rank: float | int):
    from peft import OSFConfig

    return OSFConfig(
        target_modules=learner.lora_targets,
        effective_rank=effective_rank,
        modules_to_save=learner.save_modules or None,
        task_type="CAUSAL_LM",
    )
