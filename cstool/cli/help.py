"""``cstool NAME --help``: the usage line, the command's help, one rich panel of options per group and the
examples, drawn from the command's own parameter declarations (:class:`cstool.cli.options.Param`).

An option's names are never cut: each name is one unbreakable line of the names column (``--resume`` above
``--no-resume``), so at 80 columns the help text wraps instead.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cstool.cli.options import REQUIRED, Param

ARGUMENTS, OPTIONS = "Arguments", "Options"
TYPE_NAMES = {int: "INTEGER", float: "FLOAT", str: "TEXT", Path: "PATH"}


def _base(hint: Any) -> tuple[Any, bool]:
    """``Optional[X]`` → X, ``list[X]`` → (X, repeatable)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is list:
        return args[0], True
    if args and len(args) < len(typing.get_args(hint)):
        return _base(args[0])
    return hint, False


def names(p: Param) -> list[str]:
    """The option's names as the command line takes them: ``--x`` then ``--no-x`` for a bool field, then the
    short names; an argument's metavar."""
    if p.argument:
        base, many = _base(p.type)
        return [(p.metavar or p.name.upper()) + ("..." if many else "")]
    decls = p.decls or ("--" + p.name.replace("_", "-"),)
    if p.type is bool and not p.decls:
        decls = (f"{decls[0]}/--no-{decls[0][2:]}",)
    out = [n for d in decls if d.startswith("--") for n in d.split("/")]
    short = [d for d in decls if not d.startswith("--")]
    if short:
        out[0] = ", ".join([out[0], *short])
    return out


def kind(p: Param) -> str:
    """The value's type as shown (nothing for a flag)."""
    if p.metavar:
        return p.metavar
    base, many = _base(p.type)
    if base is bool:
        return ""
    shown = TYPE_NAMES.get(base, getattr(base, "__name__", str(base)).upper())
    return f"{shown} ..." if many and not p.argument else shown


def extras(p: Param) -> str:
    """``[default: …]`` and ``[required]``, as typer writes them."""
    if p.default is REQUIRED:
        return "[required]"
    value = p.default
    if value is None or (p.type is bool and p.decls and "/" not in p.decls[0]):
        return ""  # no value, or a plain flag (off unless given)
    if p.type is bool:
        first, *rest = names(p)
        return f"[default: {first[2:] if value else rest[0][2:]}]"
    if isinstance(value, (list, tuple)):
        value = ", ".join(map(str, value))
    return f"[default: {value}]"


def _table(params: Sequence[Param]) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 1), pad_edge=False, expand=True)
    table.add_column(no_wrap=True, width=1, style="red")  # * = required
    table.add_column(no_wrap=True, style="bold cyan")
    table.add_column(no_wrap=True, style="yellow")
    table.add_column(ratio=1, overflow="fold")
    for p in params:
        help = Text(p.help)
        more = extras(p)
        if more:
            help.append(" " + more, style="dim")
        table.add_row("*" if p.default is REQUIRED else "", "\n".join(names(p)), kind(p), help)
    return table


def _paragraphs(text: str | None) -> list[Text]:
    """Paragraphs of a docstring, each one line (rich wraps it to the terminal)."""
    return [Text(" ".join(p.split())) for p in (text or "").split("\n\n") if p.strip()]


def usage(path: str, params: Sequence[Param]) -> str:
    args = " ".join(names(p)[0] if p.default is REQUIRED else f"[{names(p)[0]}]" for p in params if p.argument)
    return f"Usage: {path} [OPTIONS]" + (f" {args}" if args else "")


def render(path: str, help: str | None, epilog: str | None, params: Sequence[Param]) -> Group:
    """The whole ``--help`` of the command ``path`` (``cstool tag``) with parameters ``params``."""
    panels: dict[str, list[Param]] = {ARGUMENTS: [], OPTIONS: []}
    for p in params:
        panels.setdefault(ARGUMENTS if p.argument else (p.panel or OPTIONS), []).append(p)
    parts: list[Any] = [Padding(Text(usage(path, params), style="bold"), (1, 1, 1, 1))]
    parts += [Padding(t, (0, 1, 1, 1)) for t in _paragraphs(help)]
    for title, group in panels.items():
        if group:
            parts.append(Panel(_table(group), title=title, title_align="left", border_style="dim"))
    if epilog:
        parts.append(Text(""))
        parts += [Padding(t, (0, 1, 1, 1)) for t in _paragraphs(epilog)]
    return Group(*parts)


def print_help(path: str, help: str | None, epilog: str | None, params: Sequence[Param]) -> None:
    Console(highlight=False).print(render(path, help, epilog, params))
