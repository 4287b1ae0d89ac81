"""One declaration per stage option: its default and help live on a field of the stage's config dataclass.

``option(default, help)`` is ``dataclasses.field(default=default)`` with the help (and how the option looks
on the command line) in the field's metadata. The command line (:mod:`cstool.cli`) is generated from these
fields: the flag is ``--`` plus the field name with ``-`` for ``_``, and ``--config x.yaml`` takes the same
names as keys.

    @dataclass(frozen=True)
    class SwitchConfig:
        ratio: float = option(0.3, "Token-level switch probability (times the UPOS weight).")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

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
    **field_kwargs: Any,
) -> Any:
    """A dataclass field whose default and help are the command-line option's. Without ``default`` the
    option is required. ``changes_result=False`` marks an option a resumed run may change (see
    :mod:`cstool.runstate`). ``field_kwargs`` (``compare``, ``repr``) go to :func:`dataclasses.field`."""
    info = OptionInfo(
        help=help,
        flag=flag,
        short=short,
        type=type,
        parse=parse,
        cli=cli,
        changes_result=changes_result,
    )
    return dataclasses.field(default=default, metadata={KEY: info}, **field_kwargs)


def option_info(f: dataclasses.Field) -> OptionInfo:
    """The command-line description of a config field (a plain field gets an empty help)."""
    return f.metadata.get(KEY) or OptionInfo(help="")


def comma_list(value: str | Sequence[str]) -> tuple[str, ...]:
    """``"en, hi,mr"`` (or a list) → ``("en", "hi", "mr")``."""
    items = value.split(",") if isinstance(value, str) else value
    return tuple(str(x).strip() for x in items if str(x).strip())
