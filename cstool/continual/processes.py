"""replay-train on several processes (``torchrun --nproc_per_node N`` or ``accelerate launch``).

The launcher sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; the process group is accelerate's (the one the
Hugging Face Trainer uses: gloo on the CPU, NCCL on GPUs). Every process loads the model, reads the tasks and
trains its slice of every planned batch; process 0 alone scores the dev sets and writes the run folder, and
the others wait for it at :func:`barrier`. In one process every function here is a no-op.
"""

from __future__ import annotations

import os
from datetime import timedelta

TIMEOUT = timedelta(hours=2)


def world_size() -> int:
    """How many processes train together (1 without a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """Whether this process writes the run folder and scores the dev sets."""
    return rank() == 0


def join(device: str) -> str:
    """Join the launcher's process group and return this process's device: ``device`` in one process,
    the GPU of this process's local rank (``cuda:LOCAL_RANK``) or the CPU under a launcher. Collectives
    wait up to :data:`TIMEOUT` (the others wait that long at a barrier while process 0 scores)."""
    if world_size() == 1:
        return device
    from accelerate import PartialState

    state = PartialState(cpu=device == "cpu", timeout=TIMEOUT)
    return "cpu" if device == "cpu" else str(state.device)


def barrier() -> None:
    """Wait until every process gets here (a no-op in one process)."""
    if world_size() > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()
