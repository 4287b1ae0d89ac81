"""Strategies are objects behind one protocol: a strategy defined here, in a test file, runs through
replay-train (the Python function and the CLI) with no other change; the registry's errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cstool.base.errors import ConfigError
from cstool.cli import app
from cstool.continual import strategies
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
    with pytest.raises(ConfigError, match="replay-rewarm, ema-replay, o-lora, osf, got 'toy'"):
        ReplayConfig(strategy="toy")


def test_every_registered_strategy_has_the_protocol():
    for name in strategies.names():
        cls = strategies.strategy_class(name)
        for method in ("problems", "label", "learn", "save", "restore"):
            assert callable(getattr(cls, method)), (name, method)
        assert isinstance(cls.OWN_OPTIONS, tuple)
        assert cls.label(ReplayConfig(strategy=name)).startswith(name)


def test_score_phases_adds_rows_after_each_phase_and_changes_nothing_else(seq, tmp_path):  # noqa: F811
    import pyarrow.parquet as pq

    from cstool.continual.rmatrix import build_runs, read_metrics

    options = dict(strategy="replay-adapter", replay_ratio=0.25, steps_per_task=12)
    plain = _run(seq, tmp_path / "plain", **options)
    phased = _run(seq, tmp_path / "phased", **options, score_phases=True)
    assert phased == plain  # the R matrix's rows are the same numbers: scoring a phase does not touch training
    rows = pq.read_table(tmp_path / "phased" / "metrics.parquet").to_pylist()
    phases = {(r["after_task"], r["phase"]) for r in rows if r["phase"] is not None}
    # en (trained first, empty buffer): one phase; hi and mr: the task adapter, then the consolidation
    assert phases == {("en", "task-adapter"), ("hi", "task-adapter"), ("hi", "replay-adapter")} | {
        ("mr", "task-adapter"),
        ("mr", "replay-adapter"),
    }
    bpb = {(r["after_task"], r["phase"], r["eval_task"]): r["value"] for r in rows if r["metric"] == "bpb"}
    for t in ("hi", "mr"):  # right after the last phase = the task's row; after A_t alone it differs
        assert bpb[(t, "replay-adapter", "en")] == bpb[(t, None, "en")]
        assert bpb[(t, "task-adapter", "en")] != bpb[(t, None, "en")]
    table, _ = read_metrics(tmp_path / "phased")
    (run,) = build_runs(table, "phased")
    assert run.tasks == ("en", "hi", "mr")
    assert run.matrices["bpb"][2][0] == pytest.approx(plain[("mr", "en")])
    # the trajectory: every phase, then the task's end, in the order scored; the task ends are the R matrix's rows
    assert run.phases == (
        ("en", "task-adapter"),
        ("en", None),
        ("hi", "task-adapter"),
        ("hi", "replay-adapter"),
        ("hi", None),
        ("mr", "task-adapter"),
        ("mr", "replay-adapter"),
        ("mr", None),
    )
    en = run.trajectory["bpb"]["en"]
    assert en[2] == bpb[("hi", "task-adapter", "en")] and en[7] == run.matrices["bpb"][2][0]
    from cstool.stages import report
    from cstool.stages.report import ReportConfig

    def phase_plots(run_dir, out):
        done = report.run(runs=[run_dir], output=out, config=ReportConfig())
        return [p.name for p in done.files if p.name.startswith("phases_")]

    # a phase plot for the run that scored its phases, none for a run that did not
    assert phase_plots(tmp_path / "phased", tmp_path / "report") == [f"phases_{run.name}.png"]
    assert (tmp_path / "report" / f"phases_{run.name}.png").stat().st_size > 1000
    assert phase_plots(tmp_path / "plain", tmp_path / "report-plain") == []


def _examples(out) -> dict:
    return json.loads((out / "done.json").read_text())["examples"]


def test_replay_rewarm_feeds_replays_batches_on_another_schedule(seq, tmp_path):  # noqa: F811
    options = dict(replay_ratio=0.25, steps_per_task=12)
    replay = _run(seq, tmp_path / "replay", strategy="replay", **options)
    rewarm = _run(seq, tmp_path / "rewarm", strategy="replay-rewarm", **options)
    assert _examples(tmp_path / "rewarm") == _examples(tmp_path / "replay")  # equal compute, same replayed share
    assert rewarm[("en", "en")] != replay[("en", "en")]  # the schedule is not replay's constant one
    assert rewarm[("hi", "hi")] < rewarm[("en", "hi")] - 0.3  # and it learns


def test_ema_replay_at_decay_0_is_replay_and_at_099_lags_behind(seq, tmp_path):  # noqa: F811
    from safetensors.torch import load_file

    options = dict(replay_ratio=0.25, steps_per_task=12)
    replay = _run(seq, tmp_path / "replay", strategy="replay", **options)
    ema0 = _run(seq, tmp_path / "ema0", strategy="ema-replay", ema_decay=0.0, **options)
    assert ema0 == pytest.approx(replay, abs=1e-6)  # slow = fast = replay's adapter, step for step
    ema = _run(seq, tmp_path / "ema", strategy="ema-replay", ema_decay=0.99, **options)
    assert _examples(tmp_path / "ema") == _examples(tmp_path / "replay")
    slow = load_file(str(tmp_path / "ema" / "adapters" / "hi" / "adapter_model.safetensors"))
    fast = load_file(str(tmp_path / "ema" / "adapters" / "hi.fast" / "adapter_model.safetensors"))
    assert slow.keys() == fast.keys()
    assert any(not torch_equal(slow[k], fast[k]) for k in slow)
    # 12 steps a task at 0.99: the slow weights are still about 0.99**12 ≈ 89 % of where they started, so
    # the slow model lags well behind the fast one (replay's) on what it has just learnt
    assert ema[("en", "en")] > replay[("en", "en")] + 0.3
    assert ema[("hi", "hi")] > replay[("hi", "hi")] + 0.3


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_interpolate_is_the_ema_formula():
    import torch

    from cstool.continual.strategies.ema_replay import interpolate

    current = {"a": torch.full((2, 3), 2.0), "b": torch.tensor([1.0, -1.0])}
    slow = {"a": torch.full((2, 3), 10.0), "b": torch.tensor([0.0, 0.0])}
    interpolate(current, slow, 0.75)
    assert torch.allclose(slow["a"], torch.full((2, 3), 0.75 * 10 + 0.25 * 2))
    assert torch.allclose(slow["b"], torch.tensor([0.25, -0.25]))
    assert torch.equal(current["a"], torch.full((2, 3), 2.0))  # the fast weights are not touched


def test_replay_consolidate_replays_inside_the_task_adapter_phase(seq, tmp_path):  # noqa: F811
    import pyarrow.parquet as pq

    options = dict(strategy="replay-adapter", replay_ratio=0.25, steps_per_task=12, score_phases=True)
    plain = _run(seq, tmp_path / "plain", **options, replay_schedule="consolidate")
    both = _run(seq, tmp_path / "both", **options)  # the default
    fed_plain, fed_both = _examples(tmp_path / "plain"), _examples(tmp_path / "both")
    S, B = 12, FAST["batch_size"]
    for task in ("hi", "mr"):  # the same steps and examples; A_t's 9 steps now replay 25 % too (2 of 8 each)
        assert sum(fed_both[task].values()) == sum(fed_plain[task].values()) == S * B
        assert fed_both[task]["replay"] == fed_plain[task]["replay"] + 9 * 2
    assert pq.read_table(tmp_path / "both" / "metrics.parquet").column("strategy")[0].as_py() == (
        "replay-adapter/merge+replay+new0.6"
    )
    assert both != plain


def test_probes_are_scored_after_every_task_and_reported(seq, tmp_path):  # noqa: F811
    import pyarrow.parquet as pq

    from cstool.continual.rmatrix import build_runs, read_metrics

    items = tmp_path / "cloze.jsonl"
    lines = [{"id": f"c{i}", "context": "the cat", "choices": ["eats", "सेब", "खातो"], "label": 0} for i in range(4)] + [
        {"id": "d", "context": "बिल्ली", "choices": ["सेब", "ball"], "label": 0}
    ]
    items.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    out = tmp_path / "run"
    config = ReplayConfig(**{**FAST, "steps_per_task": 6, "strategy": "replay"})
    from cstool.stages import replay_train

    replay_train.run(
        base=seq["base"],
        tasks=seq["tasks"],
        devs=seq["devs"],
        probes=[("cloze", f"choice:{items}")],
        output=out,
        config=config,
    )
    rows = [r for r in pq.read_table(out / "metrics.parquet").to_pylist() if r["eval_task"] == "cloze"]
    assert {(r["after_task"], r["metric"]) for r in rows} >= {
        (t, m) for t in ("en", "hi", "mr") for m in ("acc", "acc_norm")
    }
    assert all(0.0 <= r["value"] <= 1.0 for r in rows if r["metric"] in ("acc", "acc_norm"))
    table, _ = read_metrics(out)
    (run,) = build_runs(table, "run")
    assert run.tasks == ("en", "hi", "mr")  # the probe is a column of scores, not a task of the sequence


def test_a_probe_named_like_a_task_is_refused(seq, tmp_path):  # noqa: F811
    from cstool.stages import replay_train

    with pytest.raises(ConfigError, match="--probe names repeat task or dev names"):
        replay_train.run(
            base=seq["base"],
            tasks=seq["tasks"],
            devs=seq["devs"],
            probes=[("hi", "choice:x.jsonl")],
            output=tmp_path / "r",
            config=ReplayConfig(**FAST),
        )
    assert not (tmp_path / "r").exists()
