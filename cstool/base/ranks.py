"""Several processes of one command (``torchrun`` / ``accelerate launch``): which one this is, and waiting.

The launchers set ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; without them this is process 0 of 1 and every
function here is free (no process group is made). With them, :func:`barrier` makes the process group the way
the Hugging Face Trainer does (accelerate's ``PartialState``: gloo on the CPU, nccl on GPUs), so a stage can
wait for every process before and after the Trainer runs. Stages write their outputs from process 0 only
(:func:`is_main`), except where each process writes its own shard.
"""

from __future__ import annotations

import atexit
import os
from typing import Any


def world_size() -> int:
    """Number of processes of this command (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE") or 1)


def rank() -> int:
    """This process's index, 0 … world_size − 1."""
    return int(os.environ.get("RANK") or 0)


def is_main() -> bool:
    """Whether this process writes the outputs (and reports)."""
    return rank() == 0


def local_device(device: str) -> str:
    """The device of this process: under a launcher, ``cuda`` means this process's own GPU (``LOCAL_RANK``)."""
    if device == "cuda" and world_size() > 1:
        return f"cuda:{int(os.environ.get('LOCAL_RANK') or 0)}"
    return device


def _state(device: str) -> Any:
    from accelerate import PartialState

    return _closed_at_exit(PartialState(cpu=not device.startswith("cuda")))


def _closed_at_exit(state: Any) -> Any:
    if not _closing:
        _closing.append(atexit.register(_close))
    return state


_closing: list[Any] = []


def _close() -> None:
    """Destroy the process group before the interpreter tears down: left to the destructors, gloo's threads can
    outlive it and abort the process ("terminate called without an active exception") after a finished run."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def join(device: str) -> str:
    """Join the launcher's process group and return this process's device: ``device`` in one process, the
    GPU of this process's local rank (``cuda:LOCAL_RANK``) or the CPU under a launcher."""
    if world_size() == 1:
        return device
    state = _state(device)
    return "cpu" if device == "cpu" else str(state.device)


def barrier(device: str | None = None) -> None:
    """Wait until every process of the command gets here (nothing to do in a single process). Without
    ``device``, the process group must exist already (:func:`join`)."""
    if world_size() > 1:
        if device is None:
            from accelerate import PartialState

            _closed_at_exit(PartialState()).wait_for_everyone()
        else:
            _state(device).wait_for_everyone()


def all_sum(values: list[float], device: str) -> list[float]:
    """Element-wise sum of ``values`` over the processes (``values`` itself in a single process)."""
    if world_size() == 1:
        return list(values)
    import torch
    import torch.distributed as dist

    _state(device)
    t = torch.tensor(values, dtype=torch.float64, device=local_device(device) if device.startswith("cuda") else "cpu")
    dist.all_reduce(t)
    return t.tolist()


def shard(n: int, index: int | None = None, count: int | None = None) -> range:
    """Items of process ``index`` of ``count`` (default: this one) when ``n`` items are split in contiguous,
    in-order slices whose sizes differ by at most one."""
    index = rank() if index is None else index
    count = world_size() if count is None else count
    return range(index * n // count, (index + 1) * n // count)


def broadcast(value: Any, device: str) -> Any:
    """Process 0's ``value``, in every process (``value`` itself in a single process)."""
    if world_size() == 1:
        return value
    from accelerate.utils import broadcast_object_list

    _state(device)
    return broadcast_object_list([value], from_process=0)[0]
