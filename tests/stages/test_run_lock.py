"""One writer per run folder (:mod:`cstool.io.locks`): a second ``replay-train`` on the ``-o`` of a running one
stops at once, naming the first process; a lock left by a killed run is taken over with a warning."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cstool.base.errors import InputError
from cstool.io import locks
from tests.conftest import REPO
from tests.stages.conftest import assert_user_error, invoke


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def _replay(inputs, out: Path, steps: int) -> list[str]:
    return [
        *(sys.executable, "-m", "cstool", "replay-train", "--base", str(inputs["lm"])),
        *("--task", f"en={inputs['tagged']}", "--task", f"hi={inputs['tagged']}", "--strategy", "naive"),
        *("--steps-per-task", str(steps), "--batch-size", "2", "--max-length", "16", "--device", "cpu"),
        *("-o", str(out)),
    ]


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the first run did not start"
        time.sleep(0.2)


def test_a_second_replay_train_on_the_same_run_folder_is_refused_and_a_stale_lock_is_taken_over(inputs, tmp_path):
    out = tmp_path / "run"
    first = subprocess.Popen(_replay(inputs, out, 10**6), env=_env(), stderr=subprocess.PIPE, text=True)
    try:
        lock = locks.lock_path(out)
        _wait_for(lock, first)  # the first run holds the lock; it may not have written anything yet
        second = subprocess.run(_replay(inputs, out, 2), env=_env(), capture_output=True, text=True, timeout=120)
        assert_user_error(second.returncode, second.stderr, f"{out} is being written by cstool replay-train")
        assert f"(process {first.pid})" in second.stderr
        assert first.poll() is None  # the first run goes on
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    # killed: its lock file stays, held by nobody; the folder is deleted and the run started again
    assert json.loads(lock.read_text())["pid"] == first.pid
    shutil.rmtree(out, ignore_errors=True)
    code, output = invoke(*_replay(inputs, out, 1)[3:])
    assert code == 0, output
    flat = " ".join(output.split())
    assert f"taking over the lock of {out} left by cstool replay-train (process {first.pid})" in flat
    assert (out / "done.json").is_file()
    assert not lock.exists()  # the holder removes it when done


def test_the_lock_is_held_for_the_block_only_and_fits_long_names(tmp_path):
    out = tmp_path / ("r" * 250)  # .NAME.lock would pass the 255-byte limit: the lock name is shortened
    holder = (
        "import sys, time; from cstool.io import locks\n"
        "with locks.output_lock(sys.argv[1], 'distill'):\n"
        "    print('held', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", holder, str(out)], env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "held\n"
        assert len(locks.lock_path(out).name.encode()) <= 255
        refused = pytest.raises(InputError, match=rf"being written by cstool distill \(process {proc.pid}\)")
        with refused, locks.output_lock(out, "replay-train"):
            pass
    finally:
        proc.kill()
        proc.wait()
    with locks.output_lock(out, "replay-train"):
        assert json.loads(locks.lock_path(out).read_text())["pid"] == os.getpid()
    assert list(tmp_path.iterdir()) == []


def test_a_lock_in_a_missing_folder_leaves_no_folder_behind(tmp_path):
    with locks.output_lock(tmp_path / "a" / "b" / "run", "distill"):
        assert (tmp_path / "a" / "b").is_dir()
    assert list(tmp_path.iterdir()) == []
