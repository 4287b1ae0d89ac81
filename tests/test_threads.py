"""Torch's CPU threads: --threads, else $OMP_NUM_THREADS, else torch's own default (one per core)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cstool.base.devices import set_threads
from cstool.base.errors import CstoolError

PROBE = (
    "import torch; own = torch.get_num_threads(); "
    "from cstool.base.devices import set_threads; print(own, set_threads(None))"
)


def test_nothing_set_means_torchs_own_default():
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    r = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    own, used = map(int, r.stdout.split())
    assert used == own  # not 1: a user's machine uses its cores


@pytest.fixture
def restore_threads(monkeypatch):
    import torch

    before = torch.get_num_threads()
    yield monkeypatch
    torch.set_num_threads(before)


def test_the_environment_then_the_flag(restore_threads):
    import torch

    restore_threads.setenv("OMP_NUM_THREADS", "1")  # how the Makefile, CI and benchmarks pin one thread
    assert set_threads(None) == 1 == torch.get_num_threads()
    restore_threads.setenv("OMP_NUM_THREADS", "2")
    assert set_threads(None) == 2 == torch.get_num_threads()
    assert set_threads(3) == 3 == torch.get_num_threads()  # --threads wins over the environment
    assert os.environ["OMP_NUM_THREADS"] == "3"  # and reaches libraries that read it later


def test_bad_thread_counts_are_user_errors(restore_threads):
    restore_threads.setenv("OMP_NUM_THREADS", "many")
    with pytest.raises(CstoolError, match="OMP_NUM_THREADS must be a whole number"):
        set_threads(None)
    with pytest.raises(CstoolError, match="--threads must be at least 1"):
        set_threads(0)
