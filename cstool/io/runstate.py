"""Resumable runs: what a run folder records about the run that made it, and the one check that a resume
continues exactly that run or refuses.

* :func:`run_record` — the options that change the result (every option of the stage's config but those
  declared ``changes_result=False``, such as ``--resume`` or how often to log) and fingerprints of the
  inputs (file and folder contents, or the texts read), keyed by flag.
* :func:`check_same_run` — compares a saved record with the current one and names every difference.
* :func:`read_json` — reads a state file; a truncated or damaged one is an error naming it, not a traceback.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cstool.base.errors import ConfigError, InputError
from cstool.base.fields import option_info

DAMAGED_HINT = "the run folder is damaged (a file was cut off or edited): start a new run folder with another -o"


def read_json(path: str | os.PathLike, what: str) -> dict:
    """The JSON object in ``path``; an InputError naming ``what`` when it is unreadable, cut off or not an object."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        value = json.loads(text)
    except OSError as e:
        raise InputError(f"cannot read the {what} {path}: {e.strerror or e}", DAMAGED_HINT) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"the {what} {path} is damaged ({getattr(e, 'msg', None) or e})", DAMAGED_HINT) from None
    except RecursionError:
        raise InputError(f"the {what} {path} is damaged (it nests too deeply)", DAMAGED_HINT) from None
    if not isinstance(value, dict):
        raise InputError(f"the {what} {path} is damaged (not a JSON object)", DAMAGED_HINT)
    return value


def result_options(config: Any) -> dict[str, Any]:
    """``{"--flag": value}`` for every option of ``config`` that changes what a run computes."""
    from cstool.io.artifacts import jsonable

    return {
        "--" + f.name.replace("_", "-"): jsonable(getattr(config, f.name))
        for f in dataclasses.fields(config)
        if f.init and option_info(f).cli and option_info(f).changes_result
    }


def fingerprint(path: str | os.PathLike | None) -> str | None:
    """SHA-256 of a file, or of a folder's visible files (names and contents), or None for no path."""
    if path is None:
        return None
    p = Path(path)
    h = hashlib.sha256()
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
    for f in files:
        h.update(f.relative_to(p).as_posix().encode() + b"\0" if f != p else b"")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


def content_fingerprint(path: str) -> str:
    """Fingerprint of a local file or folder; a Hub id (OWNER/NAME, fetched when loaded) stands for itself."""
    return fingerprint(path) if Path(path).exists() else f"hub:{path}"


def texts_fingerprint(texts: Iterable[str]) -> str:
    """SHA-256 of a sequence of texts, in order."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass") + b"\0")
    return h.hexdigest()


def run_record(config: Any, contents: Mapping[str, str | None]) -> dict[str, Any]:
    """What identifies a run: its result options and ``contents`` (label → fingerprint of an input)."""
    return {**result_options(config), **{f"{label} (content)": value for label, value in contents.items()}}


def check_same_run(saved: Mapping[str, Any], current: Mapping[str, Any], *, where: str | os.PathLike) -> None:
    """Refuse to resume when the options or inputs differ from those the run was started with."""
    missing = object()
    problems = []
    for key in [*current, *(k for k in saved if k not in current)]:
        then, now = saved.get(key, missing), current.get(key, missing)
        if then == now:
            continue
        if key.endswith("(content)"):
            problems.append(f"{key.removesuffix(' (content)')} changed")
        else:
            show = lambda v: "(not recorded)" if v is missing else json.dumps(v, ensure_ascii=False)
            problems.append(f"{key} {show(then)} then, {show(now)} now")
    if problems:
        raise ConfigError(
            f"{where} was started as another run: {'; '.join(problems)}",
            "resume with the options and inputs of the first call, or start a new run with another -o",
        )
