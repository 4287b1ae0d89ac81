"""stderr output shared by all commands: logs, rich tables and progress bars (never stdout)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console(stderr=True, highlight=False, emoji=False)  # ":train:" in a spec stays text
_state = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    _state["quiet"] = quiet


def is_quiet() -> bool:
    return _state["quiet"]


def log(message: str) -> None:
    """A plain line on stderr (no rich markup, so paths and names with brackets print as they are)."""
    if not _state["quiet"]:
        console.print(message, markup=False, soft_wrap=True)  # paths stay whole, to copy


def warn(message: str) -> None:
    from rich.markup import escape

    console.print(f"[yellow]warning:[/yellow] {escape(message)}")


def progress(description: str, total: int | None = None) -> Progress:
    """A progress bar on stderr, with the count done of ``total``, the time spent and the time left (set the
    total later with :func:`set_total`); silent with --quiet or when stderr is not a terminal."""
    enabled = not _state["quiet"] and sys.stderr.isatty()
    p = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=False,
    )
    p.add_task(description, total=total)
    return p


def set_total(bar: Progress, total: int | None) -> None:
    """Give the bar made by :func:`progress` its total, once known (e.g. the rows of a Parquet input)."""
    bar.update(bar.task_ids[0], total=total)


def print_table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[object]], *, keep: Sequence[str] = ()
) -> None:
    """A rich table on stderr; the ``keep`` columns (labels such as strategy names) are never cut short: the
    other columns wrap first, folding a long value onto the next line rather than cutting it."""
    if _state["quiet"]:
        return
    cells = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in r] for r in rows]
    table = Table(title=title)
    for k, c in enumerate(columns):
        if c in keep:
            width = max([len(c), *(len(line) for r in cells for line in r[k].splitlines())])
            table.add_column(c, no_wrap=True, min_width=width)
        else:
            table.add_column(c, overflow="fold")
    for r in cells:
        table.add_row(*r)
    console.print(table)
