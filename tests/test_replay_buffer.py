"""Replay buffer (reservoir sampling) and batch mixing: uniform, deterministic, exact shares."""

from __future__ import annotations

import numpy as np
import pytest

from cstool.continual.buffer import mixed_schedule, reservoir_sample


def test_reservoir_is_deterministic_and_keyed_by_task():
    a = reservoir_sample(range(1000), 50, seed=1, task="hi")
    assert a == reservoir_sample(range(1000), 50, seed=1, task="hi")
    assert a != reservoir_sample(range(1000), 50, seed=1, task="mr")
    assert a != reservoir_sample(range(1000), 50, seed=2, task="hi")
    assert len(a) == 50 and [p for p, _ in a] == sorted(p for p, _ in a)
    assert all(p == item for p, item in a)


def test_reservoir_keeps_everything_when_the_task_is_small():
    assert reservoir_sample("abc", 10, seed=0, task="x") == [(0, "a"), (1, "b"), (2, "c")]


def test_reservoir_is_uniform():
    n, m, trials = 40, 10, 4000
    counts = np.zeros(n)
    for t in range(trials):
        for pos, _ in reservoir_sample(range(n), m, seed=t, task="u"):
            counts[pos] += 1
    expected = trials * m / n  # 1000 per item
    sd = np.sqrt(trials * (m / n) * (1 - m / n))
    assert np.abs(counts - expected).max() < 4.5 * sd  # no position favoured (late items included)
    assert abs(counts[: n // 2].sum() - counts[n // 2 :].sum()) < 4.5 * sd * np.sqrt(n)


@pytest.mark.parametrize("ratio", [0.0, 0.05, 0.25, 0.5])
def test_mixing_ratio_and_budget_hold(ratio):
    steps, bs = 200, 8
    sched = mixed_schedule(n_new=300, n_replay=90, steps=steps, batch_size=bs, ratio=ratio, seed=3)
    assert len(sched) == steps and all(len(b) == bs for b in sched)
    replayed = [sum(s.source == "replay" for s in b) for b in sched]
    assert sum(replayed) == round(steps * bs * ratio)
    assert max(replayed) - min(replayed) <= 1


def test_sources_are_read_in_shuffled_passes():
    sched = mixed_schedule(n_new=10, n_replay=4, steps=10, batch_size=4, ratio=0.25, seed=0)
    new = [s.index for b in sched for s in b if s.source == "new"]
    rep = [s.index for b in sched for s in b if s.source == "replay"]
    assert len(new) == 30 and np.bincount(new).tolist() == [3] * 10  # three full passes
    assert len(rep) == 10 and sorted(rep[:4]) == list(range(4)) and sorted(rep[4:8]) == list(range(4))
    assert sched == mixed_schedule(n_new=10, n_replay=4, steps=10, batch_size=4, ratio=0.25, seed=0)


def test_empty_pool_means_all_new_and_no_new_means_all_replay():
    assert all(
        s.source == "new"
        for b in mixed_schedule(n_new=5, n_replay=0, steps=3, batch_size=4, ratio=0.5, seed=0)
        for s in b
    )
    assert all(
        s.source == "replay"
        for b in mixed_schedule(n_new=0, n_replay=5, steps=3, batch_size=4, ratio=0.5, seed=0)
        for s in b
    )
