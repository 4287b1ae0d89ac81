"""Where a command may write, checked once before any work starts.

:func:`check_outputs` is the one check every stage makes on its output paths:

* an output may not be an input, lie inside an input folder, or (a folder) contain an input; nor may two
  outputs of one command overlap. Paths are compared resolved: symlinks and ``./`` are followed, and hard
  links to the same file are the same file;
* a file output may not name an existing folder, and a folder output may not name an existing file;
* the nearest existing folder above an output must be writable, and no part of its name may pass the
  filesystem's limit of 255 bytes. Nothing is created by the check.

``-`` (stdin/stdout) is never a path and is not compared; an input dataset ``FOLDER:SPLIT`` (or
``hf:FOLDER:SPLIT``) is its folder and every file it may read that does not simply lie inside it: each
symlink and hard link under it, compared as the file it names (a shard that is another name of an output is
caught), and the data files its ``save_to_disk`` ``state.json`` names, wherever they lie.
A Hub dataset ``hf:OWNER/NAME`` names no local path.
"""

from __future__ import annotations

import glob as globmod
import os
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from cstool.base.errors import ConfigError, InputError
from cstool.io import atomic, hfdata

OVERLAP_HINT = "write each output to a path of its own: an output may not be, contain or lie inside an input"


def _paths(value: Any) -> list[Path]:
    """The paths an input value names: one path, a list of paths, or a glob (expanded)."""
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        spec = str(value)
        if spec == "-" or not spec:
            return []
        if not os.path.lexists(spec) and any(ch in spec for ch in "*?["):
            return [Path(p) for p in sorted(globmod.glob(spec))]
        local = hfdata.local_path(spec)  # a dataset: its folder (FOLDER:SPLIT, hf:FOLDER), none for a Hub id
        if local is None:
            return []
        return [local, *hfdata.files_read(local)] if local.is_dir() else [local]
    out: list[Path] = []
    for item in value:
        out += _paths(item)
    return out


def resolved(path: str | os.PathLike) -> Path:
    """``path`` with symlinks, ``..`` and ``.`` resolved (also when its last parts do not exist yet)."""
    return Path(os.path.realpath(os.path.abspath(path)))


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file or folder (resolved paths, or hard links to one file)."""
    if resolved(a) == resolved(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _inside(inner: Path, outer: Path) -> bool:
    return resolved(outer) in resolved(inner).parents


def confined(root: str | os.PathLike, name: str, *, what: str, flag: str) -> Path:
    """The file ``name`` (relative to ``root``, or absolute) that an input names, only when it lies inside ``root``
    once symlinks and ``..`` are resolved: an input never makes a command open a file outside the folder given
    for its files. An InputError otherwise."""

    file = Path(name) if Path(name).is_absolute() else Path(root) / name
    if not _inside(file, Path(root)):
        raise InputError(
            f"{what} {name} is outside {flag} {resolved(root)}",
            f"keep the files an input names inside {flag} (or give {flag} a folder that holds them)",
        )
    return file


def nearest_existing(path: str | os.PathLike) -> Path:
    """``path``, or its nearest ancestor that exists."""
    p = Path(os.path.abspath(path))
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def check_writable(path: str | os.PathLike, *, folder: bool = False, label: str = "-o") -> None:
    """Fail early when ``path`` cannot be written as a file (or, with ``folder``, as a folder)."""
    if str(path) == "-":
        return
    target = Path(path)
    for part in target.parts:
        size = len(part.encode("utf-8", "surrogateescape"))
        if size > atomic.NAME_MAX:
            raise InputError(
                f"cannot write {label} {path}: the name {part[:40]}… is {size} bytes long",
                f"a file or folder name may have at most {atomic.NAME_MAX} bytes; choose a shorter one",
            )
    if folder and target.exists() and not target.is_dir():
        raise InputError(
            f"{label} {path} is a file, but this command writes a folder there",
            "give a folder path (a new one, or an existing folder)",
        )
    if not folder and target.is_dir():
        raise InputError(f"cannot write {path}: it is a directory", "give a file name such as out.parquet")
    base = nearest_existing(target if folder else target.parent)
    if not base.is_dir():
        raise InputError(f"cannot write {path}: {base} is a file, not a folder", "choose an output path in a folder")
    probe = base / f".cstool-probe-{os.getpid()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise InputError(
            f"cannot write {path}: {e.strerror or e}", "choose an output path in a writable folder"
        ) from None


def check_outputs(
    outputs: Mapping[str, str | os.PathLike | None],
    inputs: Mapping[str, Any] | Iterable[tuple[str, Any]] = (),
    *,
    folders: Collection[str] = (),
) -> None:
    """Refuse outputs that would destroy an input or each other, or cannot be written.

    ``outputs``: flag → path (``None`` and ``-`` are skipped); the flags in ``folders`` name folders.
    ``inputs``: label → a path, a list of paths or a glob (model folders included).
    """
    items = inputs.items() if isinstance(inputs, Mapping) else inputs
    named_inputs = [(label, p) for label, value in items for p in _paths(value)]
    outs = [(flag, Path(p)) for flag, p in outputs.items() if p is not None and str(p) != "-"]
    for flag, out in outs:
        check_writable(out, folder=flag in folders, label=flag)
    for i, (flag, out) in enumerate(outs):
        for other_flag, other in outs[i + 1 :]:
            if same_file(out, other) or _inside(out, other) or _inside(other, out):
                raise ConfigError(f"{flag} {out} and {other_flag} {other} overlap", OVERLAP_HINT)
    # Each path is resolved (and stat-ed) once: a folder input may list many thousands of files.
    ins = [(label, inp, resolved(inp), _file_id(inp)) for label, inp in named_inputs]
    for flag, out in outs:
        out_res, out_id = resolved(out), _file_id(out)
        for label, inp, inp_res, inp_id in ins:
            if out_res == inp_res or (out_id is not None and out_id == inp_id):
                problem = "is also the input"
            elif out_res in inp_res.parents:
                problem = "contains the input"
            elif inp_res in out_res.parents:
                problem = "lies inside the input"
            else:
                continue
            raise ConfigError(
                f"{flag} {out} {problem} {label} {inp}; writing it would destroy that input", OVERLAP_HINT
            )


def _file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of what ``path`` names (through symlinks), None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def default_output(input_spec: str, kind: str) -> str:
    """The output of a row-transforming stage when -o is not given: ``<input stem>.<kind>.parquet`` beside the
    input (a ``.tagged`` stem loses it: ``corpus.tagged.parquet`` → ``corpus.switched.parquet``), and stdout
    (``-``) when the input is stdin."""
    if input_spec == "-":
        return "-"
    path = Path(input_spec)
    if not os.path.lexists(input_spec) and (any(ch in input_spec for ch in "*?[") or ":" in path.name):
        raise ConfigError(
            f"-o is needed when INPUT is {input_spec!r} (not one file or folder)",
            f"give the output with -o, e.g. -o out.{kind}.parquet, or -o - for stdout",
        )
    stem = path.name if path.is_dir() else path.stem
    for done in (".tagged", ".switched"):
        stem = stem.removesuffix(done) or stem
    return str(path.parent / f"{stem}.{kind}.parquet")
