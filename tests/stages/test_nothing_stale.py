"""Leave nothing stale: temporary files of killed runs are removed by the next run that writes the same
output (those of a concurrent writer are kept); a folder written again holds no files of the earlier call that
this call would not write; after Ctrl-C a stage says what it kept and how to continue."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cstool.io import atomic

from .conftest import invoke, metrics_run

CSTOOL = str(Path(sys.executable).with_name("cstool"))


@pytest.fixture(scope="module")
def pids():
    """The id of a process that has ended, and of one that runs for the module's tests."""
    ended = subprocess.Popen(["true"])
    ended.wait()
    running = subprocess.Popen(["sleep", "600"])
    yield {"ended": ended.pid, "running": running.pid}
    running.kill()
    running.wait()


# stage → (argv with {OUT}, the file in OUT's folder a writer makes a temporary name for, folder temporary?)
WRITERS = {
    "tag": (["tag", "{conllu}", "--lang", "en", "-o", "{OUT}/o.parquet"], "o.parquet", False),
    "switch": (
        ["switch", "{tagged}", "--lexicon", "{lexicon}", "--allow-empty", "-o", "{OUT}/o.parquet"],
        "o.parquet",
        False,
    ),
    "vqa-import": (["vqa-import", "{jsonl}", "--lang", "en", "-o", "{OUT}/o.parquet"], "o.parquet", False),
    "eval": (["eval", "--model", "{lm}", "--data", "x={tagged}", "-o", "{OUT}/o.parquet"], "o.parquet", False),
    "teacher-cache": (
        ["teacher-cache", "{tagged}", "--teacher", "{lm}", "--block-size", "16", "-o", "{OUT}/o.parquet"],
        "o.parquet",
        False,
    ),
    "train-tokenizer": (["train-tokenizer", "{tagged}", "--vocab-size", "300", "-o", "{OUT}/tok"], "tok", True),
    "report": (["report", "{run}", "-o", "{OUT}/report"], "report/summary.parquet", False),
    "train-tagger": (
        ["train-tagger", "--train", "{conllu}", "--lang", "en", "--max-steps", "2", "-o", "{OUT}/t.pt"],
        "t.pt",
        True,
    ),
}


@pytest.mark.parametrize("stage", list(WRITERS))
def test_leftovers_of_killed_runs_are_removed_and_a_concurrent_writers_kept(stage, inputs, pids, tmp_path):
    argv, name, folder = WRITERS[stage]
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    dead = target.with_name(f".{target.name}.tmp-{pids['ended']}")
    alive = target.with_name(f".{target.name}.tmp-{pids['running']}")
    for leftover in (dead, alive):
        leftover.mkdir() if folder else leftover.write_bytes(b"half a file")
    values = {**{k: str(v) for k, v in inputs.items()}, "OUT": str(tmp_path)}
    code, output = invoke(*[a.format(**values) for a in argv])
    assert code == 0, output
    assert target.exists()
    assert not dead.exists() and alive.exists()


def test_sweep_keeps_other_targets_and_own_process(tmp_path, pids):
    target = tmp_path / "a.parquet"
    others = [
        tmp_path / f".a.parquet.tmp-{pids['running']}",
        tmp_path / f".a.parquet.x.tmp-{pids['ended']}",  # the leftover of another target (a.parquet.x)
        tmp_path / f".b.parquet.tmp-{pids['ended']}",
        tmp_path / ".a.parquet.tmp-notapid",
    ]
    for p in others:
        p.write_text("x")
    gone = [tmp_path / f".a.parquet.{tag}-{pids['ended']}" for tag in ("tmp", "old", "part", "work")]
    for p in gone:
        p.write_text("x")
    assert sorted(atomic.sweep(target)) == sorted(gone)
    assert all(p.exists() for p in others)


def test_a_report_keeps_only_the_heatmaps_of_its_runs(tmp_path):
    runs = [metrics_run(tmp_path / name, name, seed) for seed, name in enumerate(("a", "b"), 1)]
    out = tmp_path / "report"
    code, output = invoke("report", *runs, "-o", out)
    assert code == 0, output
    assert (out / "rmatrix_a.png").exists() and (out / "rmatrix_b.png").exists()
    (out / "notes.txt").write_text("not the report's")
    code, output = invoke("report", runs[0], "-o", out)
    assert code == 0, output
    assert sorted(p.name for p in out.iterdir() if p.name != ".cstool-report.files.json") == [
        "forgetting.png",
        "notes.txt",
        "rmatrix_a.png",
        "summary.md",
        "summary.parquet",
    ]


def test_vqa_easy_written_again_holds_only_the_languages_asked_for(tmp_path):
    out = tmp_path / "easy"
    small = ["--train-images", "2", "--dev-images", "2"]
    code, output = invoke("vqa-easy", "-o", out, "--langs", "en,hi", *small)
    assert code == 0, output
    assert (out / "hi.train.parquet").exists() and (out / "lexicon.hi-en.tsv").exists()
    code, output = invoke("vqa-easy", "-o", out, "--langs", "en", *small)
    assert code == 0, output
    assert sorted(p.name for p in out.iterdir() if p.name != ".cstool-vqa-easy.files.json") == [
        "en.dev.parquet",
        "en.train.parquet",
    ]


def _interrupt(argv: list[str], ready, timeout: float = 180) -> tuple[int, str]:
    proc = subprocess.Popen([CSTOOL, *map(str, argv)], stderr=subprocess.PIPE)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not ready():
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()[1].decode()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err.decode()


def _state_done(path: Path) -> list[str]:
    try:
        return json.loads(path.read_text())["done"]
    except (OSError, ValueError, KeyError):
        return []


@pytest.mark.parametrize("stage", ["distill", "replay-train"])
def test_ctrl_c_says_what_was_kept_and_how_to_resume(stage, inputs, tmp_path):
    out = tmp_path / "out"
    if stage == "distill":
        argv = ["distill", inputs["tagged"], "--student", inputs["lm"], "--block-size", "16", "--batch-size", "2"]
        argv += ["--max-steps", "100000", "--save-steps", "2", "--device", "cpu", "-o", out]
        # any complete checkpoint (older ones are rotated away within milliseconds on a tiny model)
        ready = lambda: any((out / "checkpoints").glob("checkpoint-*/trainer_state.json"))
        said = ["interrupted; kept", "checkpoint-", "--resume"]
    else:
        argv = ["replay-train", "--base", inputs["lm"], "--task", f"en={inputs['tagged']}"]
        argv += ["--task", f"hi={inputs['tagged']}", "--steps-per-task", "20000", "--batch-size", "2"]
        argv += ["--max-length", "16", "--device", "cpu", "-o", out]
        ready = lambda: _state_done(out / "state.json") == ["en"]
        said = ["interrupted; kept", "tasks completed: en", "--resume"]
    code, err = _interrupt(argv, ready)
    assert code == 130, err
    flat = " ".join(err.split())
    assert all(s in flat for s in said), err
    assert "no output was written" not in flat
    assert out.is_dir()
