"""``joint``: one adapter trained, at each task, on the union of all tasks so far (the anchor's buffer-eligible
rows included unless it is trained itself): the reference upper bound, at the same steps per task."""

from __future__ import annotations

from cstool.continual.strategies import single


class Joint:
    OWN_OPTIONS: tuple[str, ...] = ()

    def __init__(self, config) -> None:
        self.config = config

    @classmethod
    def problems(cls, config) -> list[str]:
        return []

    @classmethod
    def label(cls, config) -> str:
        return single.label("joint", config)

    def learn(self, learner, i: int) -> None:
        single.prepare(learner)
        c, tasks = self.config, learner.tasks
        union = [
            t
            for k in range(i + 1)
            for t in (tasks[k].train[0] if k or c.train_first else [r[2] for r in tasks[k].replay])
        ]
        learner.train(tasks[i].name, "joint", c.steps_per_task, [union], [], 0.0)

    def save(self, learner, task: str, adapters_dir) -> None:
        single.save(learner, task, adapters_dir)

    def restore(self, learner, trained: list[str], adapters_dir) -> None:
        single.restore(learner, trained, adapters_dir)
