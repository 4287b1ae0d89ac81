"""The replay buffer and the batch-mixing schedule of replay-train.

* :func:`reservoir_sample` keeps a uniform random sample of ``m`` rows of a task (Algorithm R), seeded by
  (seed, task) so the buffer is the same whatever else the run does.
* :func:`mixed_schedule` lays out, for every optimizer step, which examples fill the batch: a share ``ratio``
  of the places from the replay pool, the rest from the new task. Replayed examples *replace* new ones, so
  every strategy sees the same number of examples (and steps) per task. The count per batch follows the
  running total ``round((s+1)·ratio·B) − round(s·ratio·B)``, so the share over a task is exact and no batch
  is off by more than one example. Both sources are read in seeded shuffled passes (every example once per
  pass), not sampled with replacement.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from cstool.text.keyed_random import keyed_rng


def reservoir_sample(items: Iterable, m: int, *, seed: int, task: str) -> list[tuple[int, object]]:
    """Uniform sample of ``m`` items from a stream, as ``(position in stream, item)`` in stream order."""
    rng = keyed_rng(seed, "replay-buffer", task)
    kept: list[tuple[int, object]] = []
    for i, item in enumerate(items):
        if i < m:
            kept.append((i, item))
        else:
            j = int(rng.integers(0, i + 1))
            if j < m:
                kept[j] = (i, item)
    return sorted(kept, key=lambda t: t[0])


def _passes(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` indices into range(n), read in consecutive shuffled passes."""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    reps = -(-count // n)
    return np.concatenate([rng.permutation(n) for _ in range(reps)])[:count]


@dataclass(frozen=True)
class Slot:
    source: str  # "new" or "replay"
    index: int


def mixed_schedule(
    *, n_new: int, n_replay: int, steps: int, batch_size: int, ratio: float, seed: int, key: Sequence[object] = ()
) -> list[list[Slot]]:
    """Per step, the batch's examples: ``ratio`` of the places from the replay pool, the rest new.

    With an empty pool (``n_replay == 0``) or ``ratio == 0`` every place is new; with ``n_new == 0`` every
    place is replayed (used to consolidate on the buffer alone).
    """
    if n_replay == 0:
        ratio = 0.0
    if n_new == 0:
        ratio = 1.0
    per_step = [round((s + 1) * ratio * batch_size) - round(s * ratio * batch_size) for s in range(steps)]
    total_replay = sum(per_step)
    rng = keyed_rng(seed, "mix", *key)
    new_idx = _passes(n_new, steps * batch_size - total_replay, rng) if n_new else np.zeros(0, dtype=np.int64)
    rep_idx = _passes(n_replay, total_replay, rng) if n_replay else np.zeros(0, dtype=np.int64)
    batches: list[list[Slot]] = []
    a = b = 0
    for k in per_step:
        batch = [Slot("replay", int(i)) for i in rep_idx[b : b + k]]
        batch += [Slot("new", int(i)) for i in new_idx[a : a + batch_size - k]]
        a += batch_size - k
        b += k
        order = rng.permutation(batch_size)  # replayed examples take random places in the batch
        batches.append([batch[i] for i in order])
    return batches
