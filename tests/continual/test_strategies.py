"""Strategies are objects behind one protocol: a strategy defined here, in a test file, runs through
replay-train (the Python function and the CLI) with no other change; the registry's errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cstool.cli import app
from cstool.continual import strategies
from cstool.errors import ConfigError
from cstool.stages.replay_train import ReplayConfig
from tests.stages.test_replay import FAST, _matrix, _run, seq  # noqa: F401 (seq is a fixture)


class FreshPerTask:
    """A toy strategy: a fresh adapter per task, trained on that task alone; the previous one is dropped."""

    OWN_OPTIONS: tuple[str, ...] = ()

    def __init__(self, config) -> None:
        self.config = config
        self.current: str | None = None

    @classmethod
    def problems(cls, config) -> list[str]:
        return ["the toy strategy needs --lora-r 4"] if config.lora_r != 4 else []

    @classmethod
    def label(cls, config) -> str:
        return "toy"

    def learn(self, learner, i: int) -> None:
        task = learner.tasks[i]
        name = f"toy-{task.name}"
        learner.add_adapter(name)
        learner.activate([name], [name])
        if self.current:
            learner.model.delete_adapter(self.current)
        self.current = name
        learner.train(task.name, "toy", self.config.steps_per_task, task.train, [], 0.0)

    def save(self, learner, task: str, adapters_dir) -> None:
        learner.save_adapter(self.current, adapters_dir / task)

    def restore(self, learner, trained: list[str], adapters_dir) -> None:
        self.current = f"toy-{trained[-1]}"
        learner.load(self.current, adapters_dir / trained[-1])
        learner.activate([self.current], [])


@pytest.fixture
def toy():
    strategies.register("toy", FreshPerTask)
    yield
    strategies.unregister("toy")


def test_a_strategy_defined_in_a_test_runs_through_replay_train(toy, seq, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    scores = _run(seq, out, strategy="toy", lora_r=4)
    done = json.loads((out / "done.json").read_text())
    assert done["strategy"] == "toy"
    assert done["steps"] == {t: FAST["steps_per_task"] for t in ("en", "hi", "mr")}  # train_first: 3 tasks
    assert all(
        e == {"new": FAST["steps_per_task"] * FAST["batch_size"], "replay": 0} for e in done["examples"].values()
    )
    for task in ("en", "hi", "mr"):
        assert (out / "adapters" / task / "adapter_config.json").is_file()
    # it learnt each task when it trained on it, and (one fresh adapter per task) forgot the earlier ones
    assert scores[("hi", "hi")] < scores[("en", "hi")] - 0.5
    assert scores[("mr", "mr")] < scores[("hi", "mr")] - 0.5
    assert scores[("mr", "en")] > scores[("en", "en")] + 0.5


def test_a_registered_strategy_through_the_cli(toy, seq, tmp_path):  # noqa: F811
    args = ["replay-train", "--base", seq["base"], "-o", str(tmp_path / "cli")]
    args += [a for n, p in seq["tasks"][:2] for a in ("--task", f"{n}={p}")]
    args += ["--strategy", "toy", "--lora-r", "4", "--steps-per-task", "3", "--batch-size", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "cli" / "done.json").read_text())["steps"] == {"hi": 3}


def test_a_strategy_checks_its_own_options(toy):
    with pytest.raises(ConfigError, match="needs --lora-r 4"):
        ReplayConfig(strategy="toy")
    with pytest.raises(ConfigError, match="use them with --strategy replay-adapter, not toy"):
        ReplayConfig(strategy="toy", lora_r=4, composition="keep")


def test_an_unknown_strategy_names_the_registered_ones():
    with pytest.raises(ConfigError, match="naive, replay, replay-adapter, joint, got 'toy'"):
        ReplayConfig(strategy="toy")


def test_every_registered_strategy_has_the_protocol():
    for name in strategies.names():
        cls = strategies.strategy_class(name)
        for method in ("problems", "label", "learn", "save", "restore"):
            assert callable(getattr(cls, method)), (name, method)
        assert isinstance(cls.OWN_OPTIONS, tuple)
        assert cls.label(ReplayConfig(strategy=name)).startswith(name)
