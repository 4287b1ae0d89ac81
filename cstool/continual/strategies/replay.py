"""``replay``: as naive, with a share ρ (``--replay-ratio``) of every batch drawn from the replay buffer; the
replayed examples take places in the batch, they are not extra."""

from __future__ import annotations

from cstool.continual.strategies import single


class Replay(single.OneModel):
    NAME = "replay"

    def learn(self, learner, i: int) -> None:
        single.prepare(learner)
        c, task = self.config, learner.tasks[i]
        learner.train(task.name, "replay", c.steps_per_task, task.train, learner.buffer_texts(), c.replay_ratio)
