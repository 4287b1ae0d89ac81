"""Every number a command takes is checked against bounds declared with its option, once, before any work:
out of range, nan, inf, or not a whole number is exit 2 with one line naming the flag — on the command line
and in ``--config`` alike — and nothing is written."""

from __future__ import annotations

import dataclasses

import pytest

from cstool.base import devices, specs
from cstool.base.errors import ConfigError, CstoolError
from cstool.base.fields import SEED, bound_problems, option
from cstool.stages.switch import parse_curriculum

from .stages.conftest import assert_user_error, invoke

MISSING = "no-such-input.parquet"  # never read: the options are refused first
DISTILL = ["distill", MISSING, "--student-config", "llama:layers=1,hidden=8,heads=1", "-o", "{out}"]
SWITCH = ["switch", MISSING, "--lexicon", "no-such.tsv", "-o", "{out}"]
CASES = {
    "epochs inf": (DISTILL, ["--epochs", "inf"], "--epochs must be a finite number"),
    "lr nan": (DISTILL, ["--lr", "nan"], "--lr must be a finite number"),
    "lr negative": (DISTILL, ["--lr", "-1"], "--lr must be at least 0"),
    "warmup negative": (DISTILL, ["--warmup-steps", "-5"], "--warmup-steps must be at least 0"),
    "seed negative": (SWITCH, ["--seed", "-1"], "--seed must be at least 0, got -1"),
    "seed huge": (SWITCH, ["--seed", str(2**70)], "--seed must be at most 4294967295"),
    "ratio nan": (SWITCH, ["--ratio", "nan"], "--ratio must be a finite number"),
    "shard huge": (SWITCH, ["--shard", "0/99999999999999999999"], "--shard must be i/n with 0 <= i < n <="),
    "curriculum long": (SWITCH, ["--curriculum", "const:0.3:100000000"], "at most 1000 epochs"),
    "replay-train lr nan": (
        ["replay-train", "--base", "no-such-model", "--task", "en=a.parquet", "--task", "hi=b.parquet", "-o", "{out}"],
        ["--lr", "nan"],
        "--lr must be a finite number",
    ),
    "vocab huge": (
        ["train-tokenizer", MISSING, "-o", "{out}"],
        ["--vocab-size", "99999999999"],
        "--vocab-size must be at most 1048576, got 99999999999",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_number_out_of_bounds_is_one_line_before_any_work(case, tmp_path):
    argv, extra, message = CASES[case]
    code, output = invoke(*[a.format(out=tmp_path / "out") for a in argv], *extra)
    assert_user_error(code, output, message)
    assert list(tmp_path.iterdir()) == []


def test_a_config_file_is_held_to_the_same_bounds(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("lr: .nan\nwarmup-steps: -5\nepochs: .inf\n")
    code, output = invoke(*[a.format(out=tmp_path / "out") for a in DISTILL], "--config", config)
    assert_user_error(code, output, "--lr must be a finite number", "--warmup-steps", "--epochs")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def test_bounds_are_generic_over_the_field_types():
    @dataclasses.dataclass(frozen=True)
    class C:
        n: int = option(1, "n", low=1, high=10)
        p: float = option(0.0, "p", low=0, below=1)
        k: int | None = option(None, "k")
        seed: int = option(0, "seed", **SEED)

    assert bound_problems(C, {"n": 10, "p": 0.5, "k": None, "seed": 7}) == []
    assert bound_problems(C, {"n": 11, "p": 1.0, "k": 2**64, "seed": True}) == [
        "--n must be at most 10, got 11",
        "--p must be below 1, got 1.0",
        f"--k must be at most {2**63 - 1}, got {2**64}",
        "--seed must be a number, got True",
    ]
    assert bound_problems(C, {"n": 2.5, "p": float("-inf")}) == [
        "--n must be a whole number, got 2.5",
        "--p must be a finite number, got -inf",
    ]


def test_spec_strings_and_threads_have_bounds(monkeypatch):
    assert specs.parse_shard("1/2") == (1, 2) and specs.parse_shard(f"0/{2**31}") is None
    assert len(parse_curriculum("const:0.3:1000")) == 1000
    for spec in ("const:0.3:1001", "linear:0:1:100000000", "list:" + ",".join(["0.1"] * 1001), "const:nan:2"):
        with pytest.raises(ValueError):
            parse_curriculum(spec)
    with pytest.raises(CstoolError, match="--threads must be at most"):
        devices.set_threads(100000)
    monkeypatch.setenv("OMP_NUM_THREADS", "999999")
    with pytest.raises(CstoolError, match="OMP_NUM_THREADS must be at most"):
        devices.set_threads(None)


@pytest.mark.parametrize(
    "given, expected",
    [
        ({"lora_dropout": 1.5}, "--lora-dropout must be below 1, got 1.5"),
        ({"seed": -3}, "--seed must be at least 0, got -3"),
        ({"steps_per_task": 10**9}, "--steps-per-task must be at most 10000000"),
    ],
)
def test_replay_train_options_have_bounds(given, expected):
    from cstool.cli.options import build_config
    from cstool.continual.config import ReplayConfig

    with pytest.raises(ConfigError, match=expected):
        build_config(ReplayConfig, given)
