"""One declaration per stage option: its default and help live on a field of the stage's config dataclass.

``option(default, help)`` is ``dataclasses.field(default=default)`` with the help (and how the option looks
on the command line) in the field's metadata. The command line (:mod:`cstool.cli`) is generated from these
fields: the flag is ``--`` plus the field name with ``-`` for ``_``, and ``--config x.yaml`` takes the same
names as keys.

    @dataclass(frozen=True)
    class SwitchConfig:
        ratio: float = option(0.3, "Token-level switch probability (times the UPOS weight).", low=0, high=1)

Every number is checked against its field once, by :func:`bound_problems`, before the dataclass is built
(:func:`cstool.cli.options.build_config` calls it for flags and ``--config`` keys alike): an ``int`` field
takes a whole number, a ``float`` field a finite number (never nan or inf), and both lie within the bounds
declared with the option (``low``/``high`` inclusive, ``below`` exclusive). Every seed takes ``SEED``.

Options that mean one thing in several stages are declared once, here: :func:`device_option` (``--device``)
and :func:`offline_option` (``--offline``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

KEY = "cstool"


@dataclasses.dataclass(frozen=True)
class OptionInfo:
    """How a config field appears on the command line."""

    help: str
    flag: str | None = None  # long flag, default --field-name
    short: str | None = None  # e.g. -o
    type: Any = None  # command-line type when it differs from the field's (e.g. str for a parsed list)
    parse: Callable[[Any], Any] | None = None  # command-line value -> field value
    cli: bool = True  # False: set by the command from other options, not a flag of its own
    changes_result: bool = True  # False: a resumed run may differ in it (--resume, how often to log, ...)
    low: float | None = None  # smallest value allowed (inclusive)
    high: float | None = None  # largest value allowed (inclusive)
    below: float | None = None  # every value must be smaller than this (exclusive)


SEED = {"low": 0, "high": 2**32 - 1}  # what numpy, torch and Python's random all accept
INT_LIMIT = 2**63 - 1  # an int field without a declared ``high`` still fits a 64-bit integer


def option(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    flag: str | None = None,
    short: str | None = None,
    type: Any = None,
    parse: Callable[[Any], Any] | None = None,
    cli: bool = True,
    changes_result: bool = True,
    low: float | None = None,
    high: float | None = None,
    below: float | None = None,
    **field_kwargs: Any,
) -> Any:
    """A dataclass field whose default and help are the command-line option's. Without ``default`` the
    option is required. ``changes_result=False`` marks an option a resumed run may change (see
    :mod:`cstool.io.runstate`). ``low``/``high`` (inclusive) and ``below`` (exclusive) bound a number (see
    :func:`bound_problems`). ``field_kwargs`` (``compare``, ``repr``) go to :func:`dataclasses.field`."""
    info = OptionInfo(
        help=help,
        flag=flag,
        short=short,
        type=type,
        parse=parse,
        cli=cli,
        changes_result=changes_result,
        low=low,
        high=high,
        below=below,
    )
    return dataclasses.field(default=default, metadata={KEY: info}, **field_kwargs)


def option_info(f: dataclasses.Field) -> OptionInfo:
    """The command-line description of a config field (a plain field gets an empty help)."""
    return f.metadata.get(KEY) or OptionInfo(help="")


def _number_kind(hint: Any) -> type | None:
    """``int`` or ``float`` for a field typed ``int``, ``float`` or either ``| None``; None otherwise."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        kinds = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = kinds[0] if len(kinds) == 1 else None
    return hint if hint in (int, float) else None


def _flag(f: dataclasses.Field) -> str:
    return option_info(f).flag or "--" + f.name.replace("_", "-")


def flag_of(config: Any, name: str) -> str | None:
    """The flag of the field ``name`` of a config dataclass (or of an instance); None when it has no such field."""
    f = next((f for f in dataclasses.fields(config) if f.name == name), None)
    return None if f is None else _flag(f)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def bound_problems(cls: type, values: Mapping[str, Any]) -> list[str]:
    """The problems of the numbers in ``values`` (field name → value) for the config dataclass ``cls``: a
    field typed ``int`` needs a whole number, one typed ``float`` a finite number, and each lies within the
    bounds its option declares. Fields not in ``values``, ``None`` and non-number fields are not checked."""
    hints = typing.get_type_hints(cls)
    problems = []
    for f in dataclasses.fields(cls):
        kind = _number_kind(hints.get(f.name))
        value = values.get(f.name)
        if kind is None or value is None:
            continue
        info, flag = option_info(f), _flag(f)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            problems.append(f"{flag} must be a number, got {value!r}")
            continue
        if kind is int and not (isinstance(value, numbers.Integral) or float(value).is_integer()):
            problems.append(f"{flag} must be a whole number, got {value!r}")
            continue
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{flag} must be a finite number, got {value}")
            continue
        high = info.high if info.high is not None else INT_LIMIT if kind is int else None
        if info.low is not None and value < info.low:
            problems.append(f"{flag} must be at least {_num(info.low)}, got {value}")
        elif high is not None and value > high:
            problems.append(f"{flag} must be at most {_num(high)}, got {value}")
        elif info.below is not None and value >= info.below:
            problems.append(f"{flag} must be below {_num(info.below)}, got {value}")
    return problems


def comma_list(value: str | Sequence[str]) -> tuple[str, ...]:
    """``"en, hi,mr"`` (or a list) → ``("en", "hi", "mr")``."""
    items = value.split(",") if isinstance(value, str) else value
    return tuple(str(x).strip() for x in items if str(x).strip())


DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps (auto: cuda when torch sees a GPU, else cpu)."


def device_option() -> Any:
    """``--device`` of every stage that runs a model: default ``auto``, checked by
    :func:`cstool.base.devices.device_problem` and resolved by :func:`cstool.base.devices.resolve_device`."""
    return option("auto", DEVICE_HELP)


HUB_MODELS = "models named by a Hub id (OWNER/NAME)"


def offline_option(what: str = HUB_MODELS, where: str = "the Hugging Face cache") -> Any:
    """``--offline`` of every command that may download: ``what`` are fetched into ``where`` on first use,
    unless this flag (or $CSTOOL_OFFLINE / $HF_HUB_OFFLINE, see :mod:`cstool.base.offline`) says never. A resumed
    run may change it."""
    return option(
        False,
        f"Never download {what}; use those already in {where} (also when $CSTOOL_OFFLINE or $HF_HUB_OFFLINE is "
        "1). Without it, one missing there is downloaded on first use.",
        changes_result=False,
    )
