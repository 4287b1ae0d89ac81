"""``replay``: as naive, with a share ρ (``--replay-ratio``) of every batch drawn from the replay buffer; the
replayed examples take places in the batch, they are not extra."""

from __future__ import annotations

from cstool.continual.strategies import single


class Replay:
    OWN_OPTIONS: tuple[str, ...] = ()

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def problems(cls, config) -> list[str]:
        return []

    @classmethod
    def label(cls, config) -> str:
        return single.label("replay", config)

    def learn(self, learner, i: int) -> None:
        single.prepare(learner)
        c, task = self.config, learner.tasks[i]
        learner.train(task.name, "replay", c.steps_per_task, task.train, learner.buffer_texts(), c.replay_ratio)

    def save(self, learner, task: str, adapters_dir) -> None:
        single.save(learner, task, adapters_dir)

    def restore(self, learner, trained: list[str], adapters_dir) -> None:
        single.restore(learner, trained, adapters_dir)
