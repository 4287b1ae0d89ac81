"""The typer app: global options, the error-printing :func:`stage` wrapper, and the commands.

A command is a :class:`CommandSpec`: its name, the stage's config dataclass (``"module.Class"``), the
parameters that are not config fields (inputs, outputs), and a body ``body(config, **params)`` that reads,
calls the stage function and reports. Only typer's public API is used: ``cstool NAME`` hands its arguments
to :func:`command_app`, a one-command typer app whose function signature is generated from the spec when the
command runs (parsing its options or printing its help), so ``cstool --help`` imports no stage and
``cstool switch`` only its own.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Optional

import typer

from cstool import __version__
from cstool.base import offline
from cstool.base.console import console, hush_libraries, set_quiet
from cstool.base.errors import CstoolError
from cstool.cli.help import print_help
from cstool.cli.options import (
    CONFIG_FILE,
    Param,
    build_config,
    config_file_param,
    field_params,
    generate,
    is_default,
    param,
    read_config_file,
)
from cstool.io import atomic

_state: dict[str, Any] = {"debug": False, "threads": None}
GLOBAL_PANEL = "Global options (also accepted before the command)"
# Accepted before the command (cstool -q tag …) and after it (cstool tag … -q).
GLOBALS = (
    param("debug", bool, "Show tracebacks for errors.", "--debug", default=False),
    param("quiet", bool, "No progress bars or summary tables.", "--quiet", "-q", default=False),
    param(
        "threads",
        Optional[int],
        "CPU threads for torch (default: $OMP_NUM_THREADS, else torch's default: all the machine's cores; "
        "use 1 on a shared machine).",
        default=None,
    ),
)


def _fail(message: str, hint: str | None, code: int) -> None:
    from rich.markup import escape

    console.print(f"[bold red]error:[/bold red] {escape(message)}", soft_wrap=True)
    if hint:
        console.print(f"[dim]hint:[/dim] {escape(hint)}", soft_wrap=True)
    raise typer.Exit(code)


def stage(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command body; user errors become one red line + hint on stderr and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CstoolError as e:
            if _state["debug"]:
                raise
            _fail(e.message, e.hint, e.exit_code)
        except KeyboardInterrupt as e:  # an Interrupted says what a resumable stage kept
            _fail(getattr(e, "message", "interrupted; no output was written"), getattr(e, "hint", None), 130)
        except (
            Exception
        ) as e:  # a full disk, a long name, a read-only filesystem: one line (atomic writes left nothing)
            failed = atomic.write_error(e)
            if failed is None or _state["debug"]:
                raise
            _fail(failed.message, failed.hint, failed.exit_code)

    return wrapper


def prepare_torch() -> int:
    """Before a command that runs torch: apply --threads (default: $OMP_NUM_THREADS, else torch's default, one
    per core) and fix the host allocator's thresholds (:mod:`cstool.base.hostmem`). Returns the threads used."""
    from cstool.base.devices import set_threads
    from cstool.base.hostmem import tune_allocator

    tune_allocator()
    return set_threads(_state["threads"])


# ---------------------------------------------------------------------------------------------------------
# Commands


@dataclasses.dataclass(frozen=True)
class CommandSpec:
    name: str
    body: Callable[..., Any]
    config: str | None = None  # "module.Class": the stage's config dataclass, whose fields are options
    params: tuple[Param, ...] = ()  # arguments and options that are not config fields, passed to body
    derive: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # config fields set from those params
    panel: str | None = None
    examples: tuple[str, ...] = ()  # whole command lines ("cstool tag corpus.txt --lang hi"), shown under --help

    @property
    def help(self) -> str | None:
        return inspect.getdoc(self.body)

    @property
    def epilog(self) -> str | None:
        """The end of ``--help``: the examples, one per paragraph (rich help keeps paragraphs apart)."""
        if not self.examples:
            return None
        return "Examples:\n\n" + "\n\n".join(f"  $ {e}" for e in self.examples)

    def config_class(self) -> type | None:
        if self.config is None:
            return None
        module, _, name = self.config.rpartition(".")
        return getattr(importlib.import_module(module), name)


def command(
    name: str,
    *,
    config: str | None = None,
    params: Sequence[Param] = (),
    derive: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    examples: Sequence[str] = (),
) -> Callable[[Callable[..., Any]], CommandSpec]:
    """Declare a command: ``body(config, **params)`` (``body(**params)`` without a config); ``examples`` are
    real command lines, printed at the end of its ``--help``."""
    return lambda body: CommandSpec(name, body, config, tuple(params), derive, examples=tuple(examples))


COMMANDS: dict[str, CommandSpec] = {}
COMPLETING = "_CSTOOL_COMPLETE"  # set while the shell asks for completions (typer's shell completion)


def register(*specs: CommandSpec, panel: str | None = None) -> None:
    """Add commands to ``cstool`` (in this order, under ``panel`` in ``cstool --help``)."""
    for spec in specs:
        COMMANDS[spec.name] = dataclasses.replace(spec, panel=panel)
        _APPS.pop(spec.name, None)
        _add(COMMANDS[spec.name])


def _apply_globals(values: dict[str, Any]) -> None:
    """Global options given after the command add to those given before it."""
    debug, quiet, threads = values.pop("debug"), values.pop("quiet"), values.pop("threads")
    if quiet:
        set_quiet(True)
    if debug:
        _state["debug"] = True
    if threads is not None:
        _state["threads"] = threads


def _load_config_file(ctx: typer.Context, value: Optional[Path]) -> Optional[Path]:
    if value is not None:
        try:
            defaults = read_config_file(value, ctx.command)
        except CstoolError as e:
            if _state["debug"]:
                raise
            _fail(e.message, e.hint, e.exit_code)
        ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


def _help_param(spec: CommandSpec, params: list[Param]) -> Param:
    """``--help``, drawn by :mod:`cstool.cli.help` from ``params`` (which it joins)."""

    def show(ctx: typer.Context, value: bool) -> None:
        if value and not ctx.resilient_parsing:
            print_help(ctx.command_path, spec.help, spec.epilog, params)
            raise typer.Exit()

    return param("help", bool, "Show this message and exit.", "--help", default=False, is_eager=True, callback=show)


def make_callback(spec: CommandSpec) -> Callable[..., Any]:
    """The function typer reads: ``spec.params``, the config fields, --config and the global options."""
    cls = spec.config_class()
    params = [*spec.params]
    if cls is not None:
        params += [*field_params(cls), config_file_param(_load_config_file)]
    params += [_help_param(spec, params), *(dataclasses.replace(g, panel=GLOBAL_PANEL) for g in GLOBALS)]
    own = [p.name for p in spec.params]

    @stage
    def run(ctx: typer.Context, values: dict[str, Any]) -> Any:
        _apply_globals(values)
        if not _state["debug"]:
            hush_libraries()
        values.pop(CONFIG_FILE, None)
        values.pop("help")
        extras = {name: values.pop(name) for name in own}
        if cls is None:
            return spec.body(**extras)
        given = {name: v for name, v in values.items() if not is_default(ctx, name)}
        config = build_config(cls, given, spec.derive(extras) if spec.derive else None)
        with offline.refused(getattr(config, "offline", False)):  # --offline: no download of any kind
            return spec.body(config, **extras)

    return generate(spec.name, params, run)


def command_app(name: str) -> typer.Typer:
    """``cstool NAME`` alone: a one-command typer app with every option of the command (generated, importing
    its config dataclass, on the first call)."""
    if name not in _APPS:
        spec = COMMANDS[name]
        sub = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        sub.command(spec.name, help=spec.help, epilog=spec.epilog, add_help_option=False)(make_callback(spec))
        _APPS[name] = sub
    return _APPS[name]


_APPS: dict[str, typer.Typer] = {}
# The arguments after ``cstool NAME`` go, unparsed, to command_app(NAME) (its --help included).
_FORWARD = {"ignore_unknown_options": True, "allow_extra_args": True}


def _forward(spec: CommandSpec) -> Callable[..., Any]:
    def forward(ctx: typer.Context) -> Any:
        return command_app(spec.name)(args=ctx.args, prog_name=ctx.command_path)

    forward.__name__ = forward.__qualname__ = spec.name.replace("-", "_")
    return forward


def _add(spec: CommandSpec) -> None:
    """``cstool NAME`` in the group. Its options are generated only when it runs, so ``cstool --help`` and
    ``cstool switch`` import no other stage; shell completion (which lists a command's options without
    running it) gets the generated command itself."""
    shown = {"help": spec.help, "epilog": spec.epilog, "rich_help_panel": spec.panel}
    if COMPLETING in os.environ:
        app.command(spec.name, **shown, add_help_option=False)(make_callback(spec))
    else:
        app.command(spec.name, **shown, add_help_option=False, context_settings=dict(_FORWARD))(_forward(spec))


# ---------------------------------------------------------------------------------------------------------
# The app


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cstool {__version__}")
        raise typer.Exit()


def _main(ctx: typer.Context, values: dict[str, Any]) -> None:
    _state["debug"] = values["debug"]
    _state["threads"] = values["threads"]
    set_quiet(values["quiet"])


app = typer.Typer(
    name="cstool",
    help="POS-based code-switching and replay-adapter continual learning for low-resource language models.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)
_VERSION = param("version", bool, "Print the version.", "--version", default=False, callback=_version, is_eager=True)
app.callback()(generate("cstool", [_VERSION, *GLOBALS], _main))
