"""One writer per output: a lock that a second process writing the same run or model folder sees.

:func:`output_lock` holds an exclusive ``fcntl.flock`` on a lock file ``.NAME.lock`` beside the output (in
its parent folder, so the lock exists before the output does and is the same for every spelling of the
path). The file records the holder's process id and command, so a second writer stops at once with one line
naming them. The kernel drops a ``flock`` when its process ends, however it ends: a lock file left by a
killed run is held by nobody, and the next run takes it over with a warning naming the process that left
it. The holder removes the file when it is done.

:func:`locks_output` applies the lock to a stage function: every stage that writes a run or model folder
and can run long (distill, replay-train, train-tagger, build-vlm, adapt-vocab, train-tokenizer,
teacher-cache) holds it for its whole run, checks included, so the emptiness check of one run and the
writes of another cannot interleave. Under a launcher, process 0 takes it for all of them.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import inspect
import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

from cstool.base import ranks
from cstool.base.console import warn
from cstool.base.errors import InputError, first_line
from cstool.io import atomic, paths


def lock_path(target: str | os.PathLike) -> Path:
    """The lock file of ``target``: ``.NAME.lock`` in the folder that holds it (resolved), shortened like the
    temporary names when ``NAME`` is near the length limit."""
    return atomic.side_path(paths.resolved(target), "lock")


def _holder(fd: int) -> dict:
    """What the lock file says about the process that wrote it ({} when it says nothing readable)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        value = json.loads(os.read(fd, 4096).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _describe(holder: dict) -> str:
    pid, command = holder.get("pid"), holder.get("command")
    who = f"cstool {command}" if isinstance(command, str) else "another cstool process"
    if isinstance(pid, int):
        who += f" (process {pid}"
        host = holder.get("host")
        who += f" on {host})" if isinstance(host, str) and host != socket.gethostname() else ")"
    return who


def _open_locked(path: Path, target: Path) -> int:
    """Open ``path`` and take its lock; raise when another process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise InputError(
                f"{target} is being written by {_describe(holder)}",
                "wait for that run to finish (or stop it), or choose another -o",
            ) from None
        except OSError:  # a filesystem without flock: the lock file alone (no check) rather than no run
            return fd
        try:  # the holder may have finished and removed the file between our open and our lock
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def output_lock(target: str | os.PathLike, command: str, *, enabled: bool = True) -> Iterator[None]:
    """Hold the lock of ``target`` while the block runs; raise :class:`InputError` naming the holder when
    another process holds it. ``enabled=False`` (a process other than rank 0 of a launch) takes no lock."""
    if not enabled:
        yield
        return
    target = Path(target)
    path = lock_path(target)
    made = []
    for folder in reversed(path.parents):  # the folders above the output, made now, removed when left empty
        if not folder.exists():
            made.append(folder)
    base = paths.nearest_existing(path.parent)
    if not base.is_dir():
        raise InputError(f"cannot write {target}: {base} is a file, not a folder", "choose an output path in a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _open_locked(path, target)
    except OSError as e:
        raise InputError(
            f"cannot write {target}: {e.strerror or first_line(e)} ({path})", "choose an -o in a folder you can write"
        ) from None
    try:
        left = _holder(fd)
        if left.get("pid") not in (None, os.getpid()):
            warn(f"taking over the lock of {target} left by {_describe(left)}, which no longer runs")
        record = json.dumps({"pid": os.getpid(), "command": command, "host": socket.gethostname()})
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode("utf-8"), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                folder.rmdir()


def locks_output(command: str, argument: str, *, resumable: bool = False) -> Callable:
    """Decorate a stage function so that it runs holding the lock of the output its ``argument`` names
    (``-``, stdout, is not locked), and so that a failed run leaves no output behind: a write that fails for
    lack of space, a size limit, a long name or a read-only filesystem is one :class:`OutputError` line, and
    an output that was missing (or an empty folder) before the run is missing (or empty) again. A
    ``resumable`` stage (distill, replay-train) keeps its run folder instead, for ``--resume``."""

    def wrap(fn: Callable) -> Callable:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def run(*args, **kwargs):
            target = signature.bind(*args, **kwargs).arguments[argument]
            enabled = ranks.is_main() and target is not None and str(target) != "-"
            if not enabled:
                return fn(*args, **kwargs)
            with output_lock(target, command):
                before = _contents(Path(target))
                try:
                    return fn(*args, **kwargs)
                except BaseException as e:
                    if not resumable:
                        _restore(Path(target), before)
                    if (failed := atomic.write_error(e, target)) is None:
                        raise
                    if resumable and os.path.isdir(target):
                        failed.hint += f"; what the run did so far is kept in {target}: continue it with --resume"
                    raise failed from None

        return run

    return wrap


def _contents(target: Path) -> set[str] | None:
    """None when ``target`` is missing, else the names in it (none for a file)."""
    if not os.path.lexists(target):
        return None
    try:
        return set(os.listdir(target)) if target.is_dir() and not target.is_symlink() else set()
    except OSError:
        return set()


def _restore(target: Path, before: set[str] | None) -> None:
    """Remove what a failed run added: the output it created, or the entries it put in a folder that was
    there (a stage that writes a folder refuses a folder that is not empty, so those are all its own)."""
    if before is None:
        atomic.discard(target)
    elif target.is_dir() and not target.is_symlink():
        for name in set(os.listdir(target)) - before:
            atomic.discard(target / name)
