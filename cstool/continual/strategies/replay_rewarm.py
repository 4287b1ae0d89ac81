"""``replay-rewarm``: plain replay with the learning rate re-warmed and re-decayed at every task (Ibrahim et
al. 2024, "Simple and scalable strategies to continually pre-train large language models"): a linear warm-up
from 0 to ``--lr`` over a share ``--warmup-share`` of the task's steps, then a cosine decay to 0. The batches,
steps and replayed examples are exactly replay's; only the schedule differs (replay's is constant)."""

from __future__ import annotations

from cstool.continual.strategies import single


class ReplayRewarm:
    OWN_OPTIONS: tuple[str, ...] = ("warmup_share",)

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def problems(cls, config) -> list[str]:
        return []

    @classmethod
    def label(cls, config) -> str:
        return single.label("replay-rewarm", config) + (
            f"+warm{config.warmup_share:g}" if config.warmup_share != 0.1 else ""
        )

    def learn(self, learner, i: int) -> None:
        single.prepare(learner)
        c, task = self.config, learner.tasks[i]
        schedule = {"lr_scheduler_type": "cosine", "warmup_steps": round(c.warmup_share * c.steps_per_task)}
        learner.train(
            task.name,
            "replay",  # the phase name keys the batch plan: exactly replay's batches
            c.steps_per_task,
            task.train,
            learner.buffer_texts(),
            c.replay_ratio,
            schedule=schedule,
        )

    def save(self, learner, task: str, adapters_dir) -> None:
        single.save(learner, task, adapters_dir)

    def restore(self, learner, trained: list[str], adapters_dir) -> None:
        single.restore(learner, trained, adapters_dir)
