"""Resumable runs: what a run folder records about the run that made it, and the one check that a resume
continues exactly that run or refuses. distill (in its checkpoints folder) and replay-train (in its run folder)
write the same record, ``cstool-run.json``:

    {"format": 2,
     "options": {"lr": 0.001, "replay_ratio": 0.25, ...},   # config field names
     "inputs": {"base": "student", "tasks": [["en", "en.parquet"], ...]},   # run() keyword names
     "contents": {"base": "<sha256>", "tasks": "<sha256>", ...},   # fingerprints, by the same names
     "launch": {"processes": 1}}

* :func:`run_record` — the options that change the result (every option of the stage's config but those
  declared ``changes_result=False``, such as ``--resume`` or how often to log), the inputs, fingerprints of
  their contents (file and folder contents, or the texts read) and how the run was launched.
* :func:`write_run_record` / :func:`read_run_record` — the record in a folder; one of another format (an older
  cstool's, keyed by flags) is refused in one line: such a run cannot be resumed.
* :func:`check_same_run` — compares a saved record with the current one and names every difference by its
  flag (from the config's option metadata) or the label the stage gave an input.
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
from cstool.base.fields import flag_of, option_info
from cstool.io import atomic

RUN_FILE = "cstool-run.json"  # the run record, in the folder a resume continues from
RECORD_FORMAT = 2  # 1 (unnumbered): cstool 0.1's records, keyed by flags ("--lr", "--base (content)")
SECTIONS = ("options", "inputs", "contents", "launch")
OLDER_HINT = "start a new run with another -o"
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
    """``{field name: value}`` for every option of ``config`` that changes what a run computes."""
    from cstool.io.artifacts import jsonable

    return {
        f.name: jsonable(getattr(config, f.name))
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


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """What identifies a run (see the module's docstring), and how messages name each of its entries."""

    options: dict[str, Any]
    inputs: dict[str, Any]
    contents: dict[str, str | None]
    launch: dict[str, Any]
    labels: dict[str, str]  # entry name → its flag (a config field's) or the label the stage gave it

    def to_json(self) -> dict[str, Any]:
        return {"format": RECORD_FORMAT, **{section: getattr(self, section) for section in SECTIONS}}


def run_record(
    config: Any,
    *,
    inputs: Mapping[str, Any] | None = None,
    contents: Mapping[str, str | None] | None = None,
    launch: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
) -> RunRecord:
    """The record of a run of ``config``: its result options; ``inputs`` (run() keyword → value as given),
    ``contents`` (input or config field name → fingerprint) and ``launch`` (e.g. the number of processes).
    ``labels`` names in messages what is not a config field (e.g. ``{"tasks": "--task", "data": "DATA"}``)."""
    record = RunRecord(result_options(config), dict(inputs or {}), dict(contents or {}), dict(launch or {}), {})
    for section in SECTIONS:
        for name in getattr(record, section):
            record.labels[name] = (labels or {}).get(name) or flag_of(config, name) or name
    return record


def write_run_record(folder: str | os.PathLike, record: RunRecord) -> None:
    """Record what a new run is in ``folder`` (``cstool-run.json``), atomically."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    atomic.write_json(Path(folder) / RUN_FILE, record.to_json(), indent=2, sort_keys=True)


def read_run_record(folder: str | os.PathLike) -> dict[str, Any]:
    """The record in ``folder``; an InputError when it is damaged or of an older cstool's format."""
    path = Path(folder) / RUN_FILE
    saved = read_json(path, "run record")
    if saved.get("format") != RECORD_FORMAT:
        raise InputError(f"{path} was written by an older cstool: its run cannot be resumed", OLDER_HINT)
    if bad := [s for s in SECTIONS if not isinstance(saved.get(s), dict)]:
        raise InputError(f"the run record {path} is damaged: {', '.join(bad)} is not an object", DAMAGED_HINT)
    return saved


def check_same_run(saved: Mapping[str, Any], current: RunRecord, *, where: str | os.PathLike) -> None:
    """Refuse to resume when the options or inputs differ from those the run was started with (``saved``: as
    :func:`read_run_record` returns it)."""
    missing = object()
    show = lambda v: "(not recorded)" if v is missing else json.dumps(v, ensure_ascii=False)
    problems = []
    for section in SECTIONS:
        then_all, now_all = saved.get(section, {}), getattr(current, section)
        for key in [*now_all, *(k for k in then_all if k not in now_all)]:
            then, now = then_all.get(key, missing), now_all.get(key, missing)
            if then == now:
                continue
            label = current.labels.get(key) or key
            if section == "contents":
                problems.append(f"the contents of {label} changed")
            else:
                problems.append(f"{label} {show(then)} then, {show(now)} now")
    if problems:
        raise ConfigError(
            f"{where} was started as another run: {'; '.join(problems)}",
            "resume with the options and inputs of the first call, or start a new run with another -o",
        )
