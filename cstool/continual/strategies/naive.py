"""``naive``: one adapter trained on T1, then further on T2, … with no replay: the forgetting baseline."""

from __future__ import annotations

from cstool.continual.strategies import single


class Naive(single.OneModel):
    NAME = "naive"

    def learn(self, learner, i: int) -> None:
        single.prepare(learner)
        task = learner.tasks[i]
        learner.train(task.name, "naive", self.config.steps_per_task, task.train, [], 0.0)
