"""Parsing of the small value languages the command line uses, each in one place: ``NAME=PATH`` lists
(``--task``, ``--dev``, ``--data``), ``i/n`` shards and the ``key=value,...`` bodies of model specs (with
the shapes such a spec may describe)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cstool.base.errors import ConfigError

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


def parse_data_specs(values: Sequence[str], *, probes: bool = False) -> dict[str, str]:
    """eval's ``--data``: ``["hi=hi_dev.parquet", ...]`` → ``{"hi": "hi_dev.parquet", ...}`` (a bare path is named
    by its stem); none is fine when there are probes (or --lm-eval tasks)."""
    if not values and not probes:
        raise ConfigError(
            "give at least one --data NAME=PATH, --probe NAME=KIND:PATH or --lm-eval TASK",
            "e.g. --data hi=hi_dev.parquet --data en=en_dev.parquet",
        )
    return dict(parse_named(values, "--data", bare_paths=True))


MAX_SHARDS = 2**31 - 1  # row ordinals modulo n stay 64-bit integers


def parse_shard(spec: str) -> tuple[int, int] | None:
    """``"i/n"`` → (i, n) with 0 <= i < n <= ``MAX_SHARDS``, or None when malformed. Shard i of n holds the rows whose
    0-based ordinal in the input is i modulo n (balanced, and readable in one streaming pass)."""
    m = re.fullmatch(r"(\d+)/(\d+)", spec or "")
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)) <= MAX_SHARDS:
        return None
    return int(m.group(1)), int(m.group(2))


def in_shard(ordinal: Any, shard: tuple[int, int]) -> Any:
    """Whether the row with this 0-based ordinal belongs to shard (i, n); elementwise for a numpy array."""
    return ordinal % shard[1] == shard[0]


def parse_key_values(
    text: str,
    keys: Mapping[str, str],
    flag: str,
    *,
    other_keys: bool = False,
    value: Callable[[str], Any] = str,
    expected: str = "key=value",
    example: str,
) -> dict[str, Any]:
    """``"layers=2, hidden=64"`` → ``{keys["layers"]: value("2"), keys["hidden"]: value("64")}``.

    ``keys`` maps the short keys to the names they stand for; with ``other_keys`` any other key is kept as it
    is, else it is a problem; a key given twice (also as its short and its long name) is a problem. ``value``
    converts a value (a ValueError makes it a problem). Every problem
    reads ``{flag} item 'ITEM' is not {expected}``; all of them are raised at once, with ``e.g. {example}``.
    """
    out: dict[str, Any] = {}
    problems = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, eq, raw = (part.strip() for part in item.partition("="))
        try:
            if not (eq and key and raw) or not (key in keys or other_keys):
                raise ValueError(item)
            name = keys.get(key, key)
            if name in out:  # "layers=2,layers=8", or a short key and its long name: which one was meant?
                problems.append(f"{flag} item {item!r} repeats {key!r}")
                continue
            out[name] = value(raw)
        except ValueError:
            problems.append(f"{flag} item {item!r} is not {expected}")
    ConfigError.collect(problems, f"e.g. {example}")
    return out


# The short keys of model specs (``llama:layers=4,hidden=128``) and the config attributes they stand for.
MODEL_SPEC_KEYS = {
    "layers": "num_hidden_layers",
    "hidden": "hidden_size",
    "heads": "num_attention_heads",
    "kv_heads": "num_key_value_heads",
    "intermediate": "intermediate_size",
    "positions": "max_position_embeddings",
}


def shape_problems(values: dict[str, Any], label: str) -> list[str]:
    """What makes a transformer shape unbuildable: sizes that are not positive integers, a hidden size that is
    not a multiple of the heads, heads that are not a multiple of the key-value heads."""
    short = {v: k for k, v in MODEL_SPEC_KEYS.items()}
    problems = [
        f"{label} {short[k]} must be a positive integer, got {v!r}"
        for k, v in values.items()
        if k in short and not (isinstance(v, int) and not isinstance(v, bool) and v >= 1)
    ]
    if problems:
        return problems
    hidden, heads = values.get("hidden_size"), values.get("num_attention_heads")
    kv = values.get("num_key_value_heads")
    if hidden and heads and hidden % heads:
        problems.append(f"{label} hidden ({hidden}) must be a multiple of heads ({heads})")
    if heads and kv and heads % kv:
        problems.append(f"{label} heads ({heads}) must be a multiple of kv_heads ({kv})")
    return problems
