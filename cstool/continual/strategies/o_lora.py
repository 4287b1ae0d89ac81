"""``o-lora``: orthogonal subspace learning (Wang et al. 2023, "Orthogonal Subspace Learning for Language Model
Continual Learning"), without replay as in the paper. Each task trains a fresh LoRA adapter; the earlier tasks'
adapters are frozen and stay in the model, and the new task's loss adds

    λ · Σ_(earlier tasks k) Σ_(adapted modules) ||A_new · A_kᵀ||²

(λ = ``--olora-lambda``; A the LoRA down-projection, ``lora_A``, r × d_in: the squared entries of the r × r
overlap of the row spaces, the paper's L_orth; the authors' code sums absolute values instead). The paper's
second term, an L2 penalty on the new adapter (λ2, 0 in the reference setups), is left out. Each task's A
starts from its own draw (:func:`draw_a`), independent of the earlier tasks'.

The model after task t is the sum of all task adapters, kept as peft keeps replay-adapter's merged ones: when
task t+1 starts, A_t's LoRA matrices are copied aside (the penalty's frozen A_t) and the adapter is merged into
the frozen base weights (``merge_and_unload``), which is the same function as keeping it active. With
--train-embeddings the embeddings and LM head (outside the orthogonality term) continue from task to task.

RUN_DIR/adapters/<task> is the task's adapter; a resume merges the earlier ones again, in order."""

from __future__ import annotations

from pathlib import Path

PREFIX = "olora-"


class OLora:
    OWN_OPTIONS: tuple[str, ...] = ("olora_lambda",)

    def __init__(self, config) -> None:
        self.config = config
        self.current: str | None = None  # the adapter of the last task trained
        self.frozen: list[dict] = []  # the earlier tasks' A matrices: module → tensor, one dict a task

    @classmethod
    def problems(cls, config) -> list[str]:
        if config.full_finetune:
            return ["--full-finetune is a reference for naive, replay and joint, not o-lora"]
        return []

    @classmethod
    def label(cls, config) -> str:
        return "o-lora" + (f"/lambda{config.olora_lambda:g}" if config.olora_lambda != 0.5 else "")

    def learn(self, learner, i: int) -> None:
        c, task = self.config, learner.tasks[i]
        if self.current:
            self._freeze(learner)
        name = PREFIX + task.name
        learner.add_adapter(name)
        draw_a(learner.model, name, c.seed + i)
        learner.activate([name], [name])
        self.current = name
        penalty = None
        if self.frozen and c.olora_lambda > 0:
            penalty = Orthogonality(lora_a(learner.model, name), self.frozen, c.olora_lambda)
        # the phase name keys the batch plan: exactly naive's batches (no replay)
        learner.train(task.name, "naive", c.steps_per_task, task.train, [], 0.0, penalty=penalty)
        learner.activate([name], [])

    def _freeze(self, learner) -> None:
        """The current task adapter's A matrices copied aside, then the adapter merged into the base."""
        self.frozen.append({k: a.detach().clone() for k, a in lora_a(learner.model, self.current).items()})
        learner.merge(self.current)
        self.current = None

    def save(self, learner, task: str, adapters_dir: Path) -> None:
        learner.save_adapter(self.current, adapters_dir / task)

    def restore(self, learner, trained: list[str], adapters_dir: Path) -> None:
        for t in trained:
            if self.current:
                self._freeze(learner)
            self.current = PREFIX + t
            learner.load(self.current, adapters_dir / t)
        learner.activate([self.current], [])


def draw_a(model, adapter: str, seed: int) -> None:
    """Draw the fresh adapter's A matrices as peft does (Kaiming-uniform), from a generator seeded by the
    seed and the task: each task's A is independent of the earlier ones, as in the paper (the learner seeds
    every fresh adapter alike, which would start every task's A equal to the first's)."""
    import math

    import torch

    generator = torch.Generator(device="cpu").manual_seed(seed)
    with torch.no_grad():
        for a in lora_a(model, adapter).values():
            drawn = torch.empty(a.shape, dtype=a.dtype)
            torch.nn.init.kaiming_uniform_(drawn, a=math.sqrt(5), generator=generator)
            a.copy_(drawn)


def lora_a(model, adapter: str) -> dict:
    """Adapter ``adapter``'s LoRA A matrices (the parameters themselves), by module path."""
    tail = f".lora_A.{adapter}.weight"
    return {n.removesuffix(tail): p for n, p in model.named_parameters() if n.endswith(tail)}


def orthogonality(new: dict, frozen: list[dict]):
    """Σ_k Σ_modules ||A_new · A_kᵀ||² (sum of squared entries) over the earlier tasks' A matrices ``frozen``."""
    return sum((new[m] @ old[m].to(new[m].device).T).square().sum() for old in frozen for m in new)


class Orthogonality:
    """The penalty the Trainer adds to every batch's loss: λ · :func:`orthogonality`."""

    def __init__(self, new: dict, frozen: list[dict], weight: float) -> None:
        self.new, self.frozen, self.weight = new, frozen, weight

    def __call__(self):
        return self.weight * orthogonality(self.new, self.frozen)
