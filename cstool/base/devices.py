"""Where and how torch runs: CPU threads, the device a ``--device`` names, the dtype a ``--dtype`` names.

Every stage checks its options with :func:`device_problem`/:func:`dtype_problem` before any work and resolves
them with :func:`resolve_device`/:func:`torch_dtype` when it starts; torch is imported inside the functions.
"""

from __future__ import annotations

import os
import re
from typing import Any

from cstool.base.errors import ConfigError, CstoolError


def max_threads() -> int:
    """The most CPU threads cstool asks torch for: 4 per core, at least 256 (far more crash OpenMP)."""
    return max(256, 4 * (os.cpu_count() or 1))


def _outside(n: int) -> str:
    return f"must be at least 1, got {n}" if n < 1 else f"must be at most {max_threads()}, got {n}"


def set_threads(n: int | None) -> int:
    """Use ``n`` CPU threads for torch. Returns the number used.

    Without ``n``: $OMP_NUM_THREADS when set, else torch's own default (one per core of the machine). On a
    machine shared with other jobs, pin fewer (``--threads 1`` or ``OMP_NUM_THREADS=1``): more threads than
    free cores makes torch far slower; the Makefile, CI and benchmarks pin 1.
    """
    if n is None:
        env = os.environ.get("OMP_NUM_THREADS", "").strip()
        if not env:
            import torch

            return torch.get_num_threads()
        try:
            n = int(env)
        except ValueError:
            raise CstoolError(
                f"OMP_NUM_THREADS must be a whole number, got {env!r}", "unset it, or set it to e.g. 1"
            ) from None
        if not 1 <= n <= max_threads():
            raise CstoolError(f"OMP_NUM_THREADS {_outside(n)}", "unset it, or set it to e.g. 1")
    if not 1 <= n <= max_threads():
        raise CstoolError(f"--threads {_outside(n)}", "use --threads 1 on a shared machine")
    os.environ["OMP_NUM_THREADS"] = str(n)
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def device_problem(spec: str, flag: str = "--device") -> str | None:
    """Why ``spec`` is not a device cstool runs on (auto, cpu, cuda, cuda:N, mps), or None when it is."""
    if spec in ("auto", "cpu", "cuda", "mps") or re.fullmatch(r"cuda:\d+", spec or ""):
        return None
    return f"{flag} must be auto, cpu, cuda, cuda:N or mps, got {spec!r}"


def resolve_device(spec: str, flag: str = "--device") -> str:
    """The torch device for a checked ``spec``: 'auto' is cuda when torch sees a GPU, else cpu.

    A ``cuda:N`` also becomes torch's current CUDA device, so that code which places work on 'cuda' (the
    Hugging Face Trainer, for one) uses that GPU; a GPU that is not there is an error.
    """
    import torch

    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda:"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if int(spec[5:]) >= count:
            raise ConfigError(
                f"{flag} {spec}: torch sees {count} CUDA device(s)",
                "choose a GPU that is there (cuda:0 is the first), or --device cpu",
            )
        torch.cuda.set_device(spec)
    return spec


DTYPES = ("float32", "bfloat16", "float16")


def dtype_problem(name: str | None, flag: str = "--dtype") -> str | None:
    """Why ``name`` is not a dtype cstool computes in, or None when it is (None itself: as saved)."""
    if name is None or name in DTYPES:
        return None
    return f"{flag} must be {', '.join(DTYPES[:-1])} or {DTYPES[-1]}, got {name!r}"


def torch_dtype(name: str | None, device: str, flag: str = "--dtype") -> Any:
    """The torch dtype for a checked ``name`` on a resolved ``device`` (None stays None: as saved).

    float16 is refused on the CPU: torch's CPU autocast and many CPU kernels do not run in it (bfloat16 does).
    """
    if name is None:
        return None
    if name == "float16" and device == "cpu":
        raise ConfigError(
            f"{flag} float16 needs a GPU; this run is on the CPU",
            f"use {flag} bfloat16 (or float32) on the CPU, or --device cuda",
        )
    import torch

    return getattr(torch, name)
