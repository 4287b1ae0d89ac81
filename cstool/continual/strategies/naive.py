"""``naive``: one adapter trained on T1, then further on T2, … with no replay: the forgetting baseline."""

from __future__ import annotations

from cstool.continual.strategies import single


class Naive:
    OWN_OPTIONS: tuple[str, ...] = ()

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def problems(cls, config) -> list[str]:
        return []

    @classmethod
    def label(cls, config) -> str:
        return single.label("naive", config)

    def learn(self, learner, i: int) -> None:
        single.prepare(learner)
        task = learner.tasks[i]
        learner.train(task.name, "naive", self.config.steps_per_task, task.train, [], 0.0)

    def save(self, learner, task: str, adapters_dir) -> None:
        single.save(learner, task, adapters_dir)

    def restore(self, learner, trained: list[str], adapters_dir) -> None:
        single.restore(learner, trained, adapters_dir)
