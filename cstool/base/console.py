"""stderr output shared by all commands: logs, rich tables and progress bars (never stdout)."""

from __future__ import annotations

import logging
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


class _DropWarnings:
    """A logging filter that drops WARNING records (a library's advice to its developers), keeping the INFO
    lines cstool asks for (download progress) and errors."""

    def filter(self, record) -> bool:
        return record.levelno != 30  # logging.WARNING


class _Stderr(logging.StreamHandler):
    """A log handler writing to whatever sys.stderr is when a record comes (a test runner swaps it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def hush_libraries() -> None:
    """Hide Stanza's and transformers' warning noise (unknown-dataset guesses, deprecations, advice), as every
    command does unless --debug: Stanza's WARNING lines are dropped, transformers logs errors only (unless
    $TRANSFORMERS_VERBOSITY says otherwise), and their Python warnings are ignored."""
    import os
    import warnings

    stanza = logging.getLogger("stanza")
    if not stanza.handlers:  # Stanza's own handler, as it makes it on import (it adds none when one is there)
        handler = _Stderr()
        handler.setFormatter(
            logging.Formatter(fmt="%(asctime)s %(levelname)s: %(message)s", datefmt="%Y-%m-%d %H:%M:%S")
        )
        stanza.addHandler(handler)
    for handler in stanza.handlers:  # a handler's filter sees the records of stanza.* child loggers too
        if not any(isinstance(f, _DropWarnings) for f in handler.filters):
            handler.addFilter(_DropWarnings())
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    if "transformers" in sys.modules:  # already configured: tell it too
        sys.modules["transformers"].utils.logging.set_verbosity_error()
    for category in (UserWarning, FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module=r"(stanza|transformers|peft|accelerate)(\.|$)")


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
