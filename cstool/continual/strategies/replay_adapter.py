"""``replay-adapter`` (the method): for task t a task adapter A_t learns T_t, and a shared replay adapter R
learns the replay buffer, after A_t (``--replay-schedule consolidate``: A_t trains round((1−ρ)·S) steps,
then R the remaining ρ·S steps with A_t frozen but active, on batches of which a share
``--consolidation-new`` comes from T_t) or in the same steps (``concurrent``: replayed examples' gradients
reach R only, new ones' A_t only), or after A_t trained with replay itself (``replay-consolidate``, the default:
A_t's batches hold a share ρ from the buffer, as plain replay's do, then R consolidates as above). What becomes
of A_(t-1) when A_t starts is the composition: merged into the frozen weights (the default), kept frozen and
active, or dropped (the first design). The model after task t is base (+ merged earlier adapters) + A_t + R."""

from __future__ import annotations

from cstool.continual import adapters
from cstool.continual.strategies import REPLAY


class ReplayAdapter:
    OWN_OPTIONS: tuple[str, ...] = ("composition", "replay_schedule", "task_adapter_init")

    def __init__(self, config) -> None:
        self.config = config
        self.task_adapter: str | None = None  # A_t, once the first task has trained
        self.kept: list[str] = []  # earlier task adapters kept frozen and active (composition keep)

    @classmethod
    def problems(cls, config) -> list[str]:
        problems = []
        if config.composition != "drop" and config.task_adapter_init == "previous":
            problems.append(
                f"--composition {config.composition} with --task-adapter-init previous would count A_(t-1) twice "
                "(add --composition drop)"
            )
        if config.full_finetune:
            problems.append("--full-finetune is a reference for naive, replay and joint, not replay-adapter")
        return problems

    @classmethod
    def label(cls, config) -> str:
        """``replay-adapter`` is the design of docs/method.md (drop A_(t-1), fresh A_t, R consolidated after A_t
        on batches 25 % new); a variant appends what differs (the default: ``replay-adapter/merge+replay+new0.6``)."""
        parts = [config.composition] if config.composition != "drop" else []
        parts += ["previous"] if config.task_adapter_init == "previous" else []
        parts += ["concurrent"] if config.replay_schedule == "concurrent" else []
        parts += ["replay"] if config.replay_schedule == "replay-consolidate" else []
        consolidating = config.replay_schedule in ("consolidate", "replay-consolidate")
        parts += [f"new{config.consolidation_new:g}"] if consolidating and config.consolidation_new != 0.25 else []
        return "replay-adapter" + ("/" + "+".join(parts) if parts else "")

    # ---- training ---------------------------------------------------------------------------------------

    def learn(self, learner, i: int) -> None:
        c, task = self.config, learner.tasks[i]
        S, rho = c.steps_per_task, c.replay_ratio
        buffer = learner.buffer_texts()
        previous, name = self.task_adapter, f"task-{task.name}"
        if previous and c.composition == "merge":
            self._merge(learner, previous)
            previous = None
        learner.add_adapter(name)
        if previous and c.task_adapter_init == "previous":
            adapters.copy_weights(learner.model, previous, name)
        elif previous and c.composition == "keep" and learner.save_modules:
            adapters.copy_weights(learner.model, previous, name, part="saved")  # the embeddings continue
        learner.model.base_model.set_adapter([name])  # so deleting A_(t-1) leaves one well-defined active adapter
        if previous and c.composition == "keep":
            self._keep(learner, previous)
        elif previous:  # A_{t-1} is on disk; the model after t is base + A_t + R
            learner.model.delete_adapter(previous)
        self.task_adapter = name
        if c.replay_schedule == "concurrent" and buffer:
            if not learner.has(REPLAY):
                learner.add_adapter(REPLAY, with_embeddings=False)
            learner.activate(self.active(learner), [name, REPLAY])
            route = (adapters.parameters_of(learner.model, name), adapters.parameters_of(learner.model, REPLAY))
            learner.train(task.name, "concurrent", S, task.train, buffer, rho, route=route)
        else:
            s_task = round((1.0 - rho) * S) if buffer else S  # nothing to consolidate yet: all steps to A_t
            learner.activate(self.active(learner, with_replay=False), [name])
            if c.replay_schedule == "replay-consolidate":  # A_t's batches replay too, as plain replay's do
                learner.train(task.name, "task-adapter", s_task, task.train, buffer, rho)
            else:
                learner.train(task.name, "task-adapter", s_task, task.train, [], 0.0)
            if S - s_task > 0:
                if not learner.has(REPLAY):
                    learner.add_adapter(REPLAY, with_embeddings=False)
                learner.activate(self.active(learner), [REPLAY])
                learner.train(task.name, "replay-adapter", S - s_task, task.train, buffer, 1.0 - c.consolidation_new)
        learner.activate(self.active(learner), [])

    def active(self, learner, with_replay: bool = True) -> list[str]:
        """Adapters in the forward pass: A_t first (its embedding copy is the one in use), kept ones, then R."""
        names = [self.task_adapter, *reversed(self.kept)] if self.task_adapter else list(self.kept)
        return names + ([REPLAY] if with_replay and learner.has(REPLAY) else [])

    def _keep(self, learner, name: str) -> None:
        """Keep task adapter ``name`` frozen and active: its LoRA matrices move to ``kept-…``, an adapter without
        embedding copies (peft runs one modules_to_save copy at a time: A_t's, which continues from A_(t-1)'s)."""
        kept = name.replace("task-", "kept-", 1)
        learner.add_adapter(kept, with_embeddings=False)
        adapters.copy_weights(learner.model, name, kept, part="lora")
        if name in learner.model.active_adapters:
            learner.model.base_model.set_adapter([kept])
        learner.model.delete_adapter(name)
        self.kept.append(kept)

    def _merge(self, learner, name: str) -> None:
        """Merge adapter ``name`` into the base weights (frozen); R, if present, stays a separate adapter."""
        learner.merge(name, keep=REPLAY if learner.has(REPLAY) else None)
        self.task_adapter = None

    # ---- saving and restoring ---------------------------------------------------------------------------

    def save(self, learner, task: str, adapters_dir) -> None:
        if self.task_adapter and learner.has(self.task_adapter):
            learner.save_adapter(self.task_adapter, adapters_dir / task)
        if learner.has(REPLAY):
            learner.save_adapter(REPLAY, adapters_dir / f"{REPLAY}-after-{task}")
            learner.save_adapter(REPLAY, adapters_dir / REPLAY)

    def restore(self, learner, trained: list[str], adapters_dir) -> None:
        names = [f"task-{t}" for t in trained]
        for t, n in zip(trained[:-1], names[:-1]):  # earlier task adapters, as the composition left them
            if self.config.composition == "drop":
                break
            learner.load(n, adapters_dir / t)
            self._merge(learner, n) if self.config.composition == "merge" else self._keep(learner, n)
        self.task_adapter = names[-1]
        learner.load(self.task_adapter, adapters_dir / trained[-1])
        if (adapters_dir / f"{REPLAY}-after-{trained[-1]}").is_dir():
            learner.load(REPLAY, adapters_dir / f"{REPLAY}-after-{trained[-1]}")
        learner.activate(self.active(learner), [])
