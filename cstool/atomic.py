"""Atomic writes: every output is written under a temporary name in its own folder and renamed over the
target once complete, so an interrupted run never leaves a file (or folder) that Make would take as up to
date, and a reader never sees a half-written one.

* :func:`atomic_path` — a file: write to the yielded path; it becomes ``target`` when the block succeeds.
* :func:`atomic_dir` — a folder: fill the yielded (empty) folder; it replaces ``target`` as a whole.
* :func:`write_text`, :func:`write_json` — the common one-shot cases.
* :func:`temp_path`, :func:`commit`, :func:`discard` — the three steps, for writers that cannot be one
  ``with`` block (a streaming writer that commits or aborts later).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def temp_path(target: str | os.PathLike, tag: str = "tmp") -> Path:
    """The temporary name of ``target``: ``.NAME.tmp-PID`` in the same folder (so the rename stays on one
    filesystem, and a leftover of a killed run is hidden and never taken for the output)."""
    target = Path(target)
    return target.with_name(f".{target.name}.{tag}-{os.getpid()}")


def discard(path: str | os.PathLike) -> None:
    """Remove a temporary file or folder, if it is there."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def commit(tmp: str | os.PathLike, target: str | os.PathLike) -> None:
    """Rename the finished ``tmp`` over ``target``. A folder replaces an existing ``target`` folder whole: the
    old one is first renamed aside, so ``target`` is missing only between two renames."""
    tmp, target = Path(tmp), Path(target)
    if tmp.is_dir() and target.is_dir() and not target.is_symlink():
        old = temp_path(target, "old")
        discard(old)
        os.replace(target, old)
        os.replace(tmp, target)
        discard(old)
        return
    os.replace(tmp, target)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; write the file there. When the block ends without an
    exception it is renamed to ``target``; otherwise it is removed and ``target`` is left as it was."""
    tmp = temp_path(target)
    try:
        yield tmp
        commit(tmp, target)
    finally:
        discard(tmp)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, *, subdir: str | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``target``; fill it. When the block ends without an exception
    the folder replaces ``target`` (an existing ``target`` folder is replaced whole); otherwise it is removed.

    ``subdir``: when the writer put its files in that subfolder of the temporary folder (peft saves a named
    adapter as ``DIR/NAME/``), the subfolder becomes ``target`` and the rest is dropped.
    """
    tmp = temp_path(target)
    discard(tmp)  # a leftover of an earlier process with the same id
    tmp.mkdir(parents=True)
    try:
        yield tmp
        src = tmp / subdir if subdir and (tmp / subdir).is_dir() else tmp
        commit(src, target)
    finally:
        discard(tmp)


def write_text(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(path)


def write_json(path: str | os.PathLike, value: Any, **dumps: Any) -> Path:
    """Write ``json.dumps(value, **dumps)`` and a final newline to ``path`` atomically; return the path."""
    return write_text(path, json.dumps(value, **dumps) + "\n")
