"""The host allocator's thresholds: fixed by the CLI before torch runs, left alone when the user chose otherwise.

Each case runs in a fresh process (the settings are per process and cannot be undone) and reads glibc's own
accounting (``mallinfo2``): how many blocks of 1–30 MiB got their own mmap, and how much freed memory the heap
kept at its top.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from cstool.base import hostmem

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the thresholds are glibc's")

PROBE = """
import ctypes, json, sys
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2
applied = None
if sys.argv[1] == "cli":
    from cstool.cli.app import prepare_torch
    prepare_torch()
    from cstool.base.hostmem import tune_allocator
    applied = tune_allocator()
elif sys.argv[1] == "api":
    from cstool.base.hostmem import tune_allocator
    applied = tune_allocator()
before = libc.mallinfo2().hblks
blocks = [libc.malloc(n << 20) for n in (1, 4, 16, 30)]
mmapped = libc.mallinfo2().hblks - before
for b in blocks:
    libc.free(b)
print(json.dumps({"applied": applied, "mmapped": mmapped, "kept_mib": libc.mallinfo2().keepcost / 2**20}))
"""
ALLOCATED_MIB = 1 + 4 + 16 + 30


def probe(how: str, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in hostmem.USER_VARIABLES and k != "CSTOOL_MALLOC_TUNING"}
    clean.pop("LD_PRELOAD", None)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, how],
        capture_output=True,
        text=True,
        env={**clean, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **env},
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_process_left_alone_maps_large_blocks_and_trims_the_heap():
    """The control: glibc's defaults, which the fix is about (blocks over 128 KiB mmapped, freed heap returned)."""
    seen = probe("none")
    assert seen["mmapped"] >= 1
    assert seen["kept_mib"] < ALLOCATED_MIB


@pytest.mark.parametrize("how", ["api", "cli"])
def test_tuning_keeps_blocks_up_to_32_mib_on_the_heap_and_keeps_freed_memory(how):
    seen = probe(how)
    assert seen["applied"] is True
    assert seen["mmapped"] == 0  # 1, 4, 16 and 30 MiB all from the heap
    assert seen["kept_mib"] >= ALLOCATED_MIB  # freed, kept for the next step instead of returned


@pytest.mark.parametrize(
    "env",
    [{"CSTOOL_MALLOC_TUNING": "0"}, {"MALLOC_TRIM_THRESHOLD_": "131072"}, {"MALLOC_MMAP_THRESHOLD_": "131072"}],
    ids=["opt-out", "trim-set", "mmap-set"],
)
def test_a_users_own_setting_is_left_alone(env):
    seen = probe("cli", **env)
    assert seen["applied"] is False
    assert seen["mmapped"] >= 1


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("CSTOOL_MALLOC_TUNING", "off", "CSTOOL_MALLOC_TUNING=0"),
        ("MALLOC_TOP_PAD_", "0", "MALLOC_TOP_PAD_ is set"),
        ("LD_PRELOAD", "/usr/lib/libjemalloc.so.2", "LD_PRELOAD is set"),
    ],
)
def test_why_not_tuned_names_the_reason(monkeypatch, name, value, reason):
    for var in (*hostmem.USER_VARIABLES, "CSTOOL_MALLOC_TUNING", "LD_PRELOAD"):
        monkeypatch.delenv(var, raising=False)
    assert hostmem.why_not_tuned() is None
    monkeypatch.setenv(name, value)
    assert hostmem.why_not_tuned().startswith(reason)
