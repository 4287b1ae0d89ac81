"""The progress of a replay-train run, as RUN_DIR/state.json records it: one object that the learner updates
while it trains and the stage persists after every task.

``state.json`` holds the tasks completed, optimizer steps and examples fed per task, and the seconds spent
training; what identifies the run (its options and input fingerprints) is the run record beside it,
``cstool-run.json`` (:mod:`cstool.io.runstate`). :meth:`RunState.read` validates every field before a resume
trusts any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cstool.base.errors import InputError
from cstool.io import atomic, runstate
from cstool.io.runstate import DAMAGED_HINT


@dataclass
class RunState:
    done: list[str] = field(default_factory=list)  # tasks completed, in order
    steps: dict[str, int] = field(default_factory=dict)  # optimizer steps per task, all phases
    examples: dict[str, dict[str, int]] = field(default_factory=dict)  # per task: {"new": n, "replay": n}
    train_seconds: float = 0.0  # wall time inside Trainer.train, all phases and tasks

    def count(self, task: str, *, steps: int, new: int, replay: int, seconds: float) -> None:
        """Add one training phase's steps, examples and time to ``task``'s totals."""
        self.steps[task] = self.steps.get(task, 0) + steps
        fed = self.examples.setdefault(task, {"new": 0, "replay": 0})
        fed["new"] += new
        fed["replay"] += replay
        self.train_seconds += seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "steps": self.steps,
            "examples": self.examples,
            "train_seconds": self.train_seconds,
        }

    def write(self, path: Path) -> None:
        atomic.write_json(path, self.to_json(), indent=2, sort_keys=True)

    @classmethod
    def read(cls, path: Path, *, tasks: list[str]) -> RunState:
        """The state in ``path``, every field checked (``tasks``: the run's task names); a damaged field is an
        InputError naming the file and the field."""
        value = runstate.read_json(path, "replay-train state")

        def damaged(what: str) -> InputError:
            return InputError(f"the replay-train state {path} is damaged ({what})", DAMAGED_HINT)

        done = value.get("done")
        if not isinstance(done, list) or not all(isinstance(t, str) for t in done):
            raise damaged("no list of done tasks")
        if done != tasks[: len(done)]:
            raise damaged(f"done tasks {done} are not a beginning of the sequence {tasks}")
        steps = value.get("steps", {})
        if not isinstance(steps, dict) or not all(_count(v) for v in steps.values()):
            raise damaged("steps is not an object of counts")
        examples = value.get("examples", {})
        if not isinstance(examples, dict) or not all(
            isinstance(v, dict) and set(v) == {"new", "replay"} and all(_count(n) for n in v.values())
            for v in examples.values()
        ):
            raise damaged("examples is not an object of {new, replay} counts")
        seconds = value.get("train_seconds", 0.0)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            raise damaged("train_seconds is not a non-negative number")
        return cls(done=list(done), steps=steps, examples=examples, train_seconds=float(seconds))


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
