"""Parsing of the small value languages the command line uses, each in one place: ``NAME=PATH`` lists
(``--task``, ``--dev``, ``--data``), ``i/n`` shards and ``kind:key=value,...`` model specs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from cstool.errors import ConfigError

_NAME = re.compile(r"[A-Za-z0-9_-]+")


def parse_named(
    specs: Sequence[str], flag: str, *, bare_paths: bool = False, reserved: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """``["hi=hi.parquet", ...]`` → ``[("hi", "hi.parquet"), ...]`` in order. Names are letters, digits, '-'
    and '_' (they become folder and column values), unique, and not in ``reserved`` (nor ``R-after-…`` for
    a reserved R). With ``bare_paths`` a spec without '=' is named by its file name up to the first dot."""
    out: list[tuple[str, str]] = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep and bare_paths:
            name, path = Path(spec).name.split(".")[0], spec
        if not (sep or bare_paths) or not name or not path:
            raise ConfigError(f"{flag} {spec!r} is not NAME=PATH", f"e.g. {flag} hi=hi.parquet")
        out.append((name, path))
    for name, _ in out:
        if not _NAME.fullmatch(name) or any(name == r or name.startswith(f"{r}-after-") for r in reserved):
            reason = f"; {', '.join(map(repr, reserved))} is reserved" if reserved else ""
            raise ConfigError(
                f"{flag} name {name!r} is not usable",
                f"use letters, digits, '-' and '_' (names become folders and labels){reason}",
            )
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"{flag} names repeat: {names}", "give each one its own name")
    return out


def parse_shard(spec: str) -> tuple[int, int] | None:
    """``"i/n"`` → (i, n) with 0 <= i < n, or None when malformed. Shard i of n holds the rows whose
    0-based ordinal in the input is i modulo n (balanced, and readable in one streaming pass)."""
    m = re.fullmatch(r"(\d+)/(\d+)", spec or "")
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        return None
    return int(m.group(1)), int(m.group(2))


def in_shard(ordinal: int, shard: tuple[int, int]) -> bool:
    """Whether the row with this 0-based ordinal belongs to shard (i, n)."""
    return ordinal % shard[1] == shard[0]
