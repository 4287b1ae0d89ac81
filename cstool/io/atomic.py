"""Atomic writes: every output is written under a temporary name in its own folder and renamed over the
target once complete, so an interrupted run never leaves a file (or folder) that Make would take as up to
date, and a reader never sees a half-written one.

* :func:`atomic_path` — a file: write to the yielded path; it becomes ``target`` when the block succeeds.
* :func:`atomic_dir` — a folder: fill the yielded (empty) folder; it replaces ``target`` as a whole.
* :func:`write_text`, :func:`write_json` — the common one-shot cases.
* :func:`atomic_files` — several files as one: all of them appear when the block succeeds, none otherwise.
* :func:`temp_path`, :func:`commit`, :func:`discard` — the three steps, for writers that cannot be one
  ``with`` block (a streaming writer that commits or aborts later).
* :func:`group` — the outputs of one command as one: every :func:`commit` inside the block is held back
  until the block succeeds, and none happens when it fails (``switch -o`` with ``--stats``, ``eval -o``
  with ``--predictions``).
* :func:`folder_files` — files a command writes into a folder it shares with others: a manifest in the
  folder lists what the command wrote, and only files on that list are ever removed.

Nothing stale is left for long: a temporary name ends in the id of the process writing it, and whenever a
temporary name is made for a target, the leftovers of processes that no longer run (killed before they
could clean up) are removed; those of running processes (a concurrent writer) are kept.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import glob
import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cstool.base.errors import OutputError

NAME_MAX = 255  # bytes in one file name, on every filesystem cstool writes to
_RESERVE = 20  # ".TAG-PID" after the stem: a tag of up to 8 letters and a process id of up to 10 digits


def side_stem(target: str | os.PathLike) -> str:
    """The start of every hidden name beside ``target``: ``.NAME``, or, when that leaves no room for a tag and
    a process id within the 255-byte limit, ``NAME`` cut at a character boundary and marked with a hash of the
    whole name (``.NAM…~HASH``), so it stays one name per target and always fits."""
    name = Path(target).name
    stem = f".{name}"
    if len(stem.encode("utf-8", "surrogateescape")) <= NAME_MAX - _RESERVE:
        return stem
    digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    room = NAME_MAX - _RESERVE - len(digest) - 2
    cut = name.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "ignore")
    return f".{cut}~{digest}"


def side_path(target: str | os.PathLike, tag: str) -> Path:
    """``.NAME.TAG`` beside ``target`` (shortened as :func:`side_stem` says)."""
    target = Path(target)
    return target.with_name(f"{side_stem(target)}.{tag}")


def temp_path(target: str | os.PathLike, tag: str = "tmp") -> Path:
    """The temporary name of ``target``: ``.NAME.tmp-PID`` in the same folder (so the rename stays on one
    filesystem, and a leftover of a killed run is hidden and never taken for the output); shortened when
    ``NAME`` is near the 255-byte limit (:func:`side_stem`). Leftovers of ``target`` from processes that are
    gone are removed first (:func:`sweep`)."""
    target = Path(target)
    sweep(target)
    return side_path(target, f"{tag}-{os.getpid()}")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep(target: str | os.PathLike) -> list[Path]:
    """Remove the temporary files and folders of ``target`` (``.NAME.TAG-PID``) whose process no longer
    runs; return what was removed."""
    target = Path(target)
    prefix = f"{side_stem(target)}."
    pattern = re.compile(re.escape(prefix) + r"[a-z]+-(\d+)")
    removed = []
    try:
        candidates = list(target.parent.glob(glob.escape(prefix) + "*-*"))
    except OSError:
        return removed
    for path in candidates:
        m = pattern.fullmatch(path.name)
        if m and int(m.group(1)) != os.getpid() and not _running(int(m.group(1))):
            discard(path)
            removed.append(path)
    return removed


# The errors of a write that cannot finish, whatever wrote it (Python, Arrow, safetensors, torch).
WRITE_ERRNOS = {
    errno.ENOSPC: ("no space is left on the device", "free some disk space, or write to another disk"),
    errno.EDQUOT: ("the disk quota is used up", "free some space in your quota, or write elsewhere"),
    errno.EFBIG: ("a file grew past the size allowed (ulimit -f)", "raise the limit, or write elsewhere"),
    errno.ENAMETOOLONG: ("a name is too long for the filesystem", "choose a shorter output name"),
    errno.EROFS: ("the filesystem is read-only", "choose an output on a writable filesystem"),
}
_OS_ERROR = re.compile(r"os error (\d+)|\[errno (\d+)\]", re.IGNORECASE)


def write_error(e: BaseException, target: str | os.PathLike | None = None) -> OutputError | None:
    """The one-line error of a write that failed for lack of space, a size limit, a long name or a read-only
    filesystem (``e`` or an exception it was raised from: Python's ``OSError``, Arrow's, safetensors' "os
    error N", torch's stream writer); None for any other exception."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        code = e.errno if isinstance(e, OSError) else None
        if code is None and (m := _OS_ERROR.search(str(e))):
            code = int(m.group(1) or m.group(2))
        if code in WRITE_ERRNOS:
            reason, hint = WRITE_ERRNOS[code]
            where = target or getattr(e, "filename", None)
            return OutputError(f"cannot write {where}: {reason}" if where else f"cannot write: {reason}", hint)
        if isinstance(e, RuntimeError) and ("PytorchStreamWriter" in str(e) or "inline_container" in str(e)):
            return OutputError(
                f"cannot write {target}: a file could not be written in full" if target else "a write failed",
                "check that the disk has space (and ulimit -f), or write elsewhere",
            )
        e = e.__cause__ or e.__context__
    return None


def discard(path: str | os.PathLike) -> None:
    """Remove a temporary file or folder, if it is there (a name that cannot exist, such as one over the
    filesystem's length limit, is not there)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return
    if stat.S_ISDIR(mode):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


_GROUP: contextvars.ContextVar[list[tuple[Path, Path]] | None] = contextvars.ContextVar("_GROUP", default=None)


def commit(tmp: str | os.PathLike, target: str | os.PathLike) -> None:
    """Rename the finished ``tmp`` over ``target``. A folder replaces an existing ``target`` folder whole: the
    old one is first renamed aside, so ``target`` is missing only between two renames. Inside :func:`group`
    the file is only staged (renamed to ``.NAME.grp-PID``) and committed when the group ends."""
    tmp, target = Path(tmp), Path(target)
    staged = _GROUP.get()
    if staged is not None:
        held = temp_path(target, "grp")  # as long as "tmp": it fits wherever the temporary name fit
        discard(held)
        os.replace(tmp, held)
        staged.append((held, target))
        return
    _commit_now(tmp, target)


def _commit_now(tmp: Path, target: Path) -> None:
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


@contextlib.contextmanager
def atomic_files() -> Iterator[Callable[[str | os.PathLike], Path]]:
    """Write several files as one output. The block gets ``place(target) -> temporary path`` and writes each
    file there; when it ends without an exception every file is renamed over its target, otherwise every
    temporary file is removed and the targets are left as they were."""
    staged: list[tuple[Path, Path]] = []

    def place(target: str | os.PathLike) -> Path:
        tmp = temp_path(target, "part")
        discard(tmp)
        staged.append((tmp, Path(target)))
        return tmp

    try:
        yield place
        for tmp, target in staged:
            commit(tmp, target)
    finally:
        for tmp, _ in staged:
            discard(tmp)


@contextlib.contextmanager
def group() -> Iterator[None]:
    """Commit the outputs written inside the block all together, or none of them: each :func:`commit` (of
    :func:`atomic_path`, :class:`~cstool.io.artifacts.ArtifactWriter`, ...) is held back as a staged temporary
    file; when the block ends without an exception every staged file is renamed over its target, otherwise
    every staged file is removed and every target is left as it was. Groups nest into the outermost one."""
    if _GROUP.get() is not None:  # an inner group is part of the outer one
        yield
        return
    staged: list[tuple[Path, Path]] = []
    token = _GROUP.set(staged)
    try:
        try:
            yield
        finally:
            _GROUP.reset(token)
        for k, (held, target) in enumerate(staged):
            _commit_now(held, target)
            staged[k] = (target, target)  # committed: not to be discarded
    finally:
        for held, target in staged:
            if held != target:
                discard(held)


MANIFEST = ".cstool-{command}.files.json"


def _manifest_names(folder: Path, command: str) -> set[str]:
    """The file names the folder's manifest of ``command`` lists (plain names inside the folder only: a damaged
    or hostile manifest can never name a file elsewhere)."""
    try:
        listed = json.loads((folder / MANIFEST.format(command=command)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    names = listed.get("files") if isinstance(listed, dict) else None
    if not isinstance(names, list):
        return set()
    return {n for n in names if isinstance(n, str) and n and n == Path(n).name and n not in (".", "..")}


@contextlib.contextmanager
def folder_files(folder: str | os.PathLike, command: str) -> Iterator[Callable[[str | os.PathLike], Path]]:
    """Write files into ``folder`` as one output of ``command`` (like :func:`atomic_files`), in a folder that
    may hold other files too. The folder's manifest ``.cstool-COMMAND.files.json`` records what the command
    wrote; when the block succeeds, the files the previous manifest listed and this call did not write are
    removed (the outputs of an earlier call that are now stale), and nothing else is ever touched: files
    the command did not write itself stay, whoever wrote them. The folder is made when missing; when the
    block fails, nothing changes (a folder it made is removed again)."""
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / MANIFEST.format(command=command)
    before = _manifest_names(folder, command)
    written: list[str] = []
    try:
        with atomic_files() as place:

            def place_in(target: str | os.PathLike) -> Path:
                target = Path(target)
                if target.parent != folder or target.name == manifest.name:
                    raise ValueError(f"{target} is not a file of its own in {folder}")
                written.append(target.name)
                return place(target)

            yield place_in
            # Listed before they appear: a kill between the renames leaves no file the manifest does not know.
            write_json(manifest, {"command": command, "files": sorted(before | set(written))})
    except BaseException:
        if created:  # a folder this call made stays only with the output in it
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    for name in sorted(before - set(written)):
        discard(folder / name)
    write_json(manifest, {"command": command, "files": sorted(written)})


@contextlib.contextmanager
def scratch_dir(target: str | os.PathLike) -> Iterator[Path]:
    """An empty folder next to ``target`` for intermediate files (``.NAME.work-PID``), removed when the block
    ends (and, after a kill, by the sweep of the next run that writes ``target``)."""
    tmp = temp_path(target, "work")
    discard(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
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
