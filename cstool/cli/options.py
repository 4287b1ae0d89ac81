"""Command-line parameters generated from the stage config dataclasses, and ``--config x.yaml``.

A stage's options are the fields of its frozen config dataclass, declared once with
:func:`cstool.base.fields.option` (default + help). :func:`field_params` turns the fields into typer parameters
(``lora_r: int = option(8, "LoRA rank.")`` → ``--lora-r INTEGER  LoRA rank. [default: 8]``; a bool becomes
``--x/--no-x``), :func:`generate` makes a function with that signature for typer to read, and
:func:`build_config` builds the dataclass from the options that were given (on the command line or in the
``--config`` file); the ones left at their default are not passed, so the dataclass's default applies.

``--config x.yaml`` holds option names as keys (``lora-r`` or ``lora_r``). It is read before the other
options and becomes click's ``default_map``, so a flag on the command line overrides the file, and the file
overrides the defaults. Lists are written as YAML lists (``data: [a.parquet, b.parquet]``) or, for NAME=PATH
options, as a mapping (``task: {hi: hi.parquet}``).
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Optional, Union

import typer
from rich.markup import escape

from cstool.base.errors import ConfigError, InputError
from cstool.base.fields import bound_problems, option_info

REQUIRED = inspect.Parameter.empty
CONFIG_FILE = "config_file"  # the parameter of --config (no config field may have this name)


@dataclasses.dataclass(frozen=True)
class Param:
    """One command-line parameter: a typer argument or option."""

    name: str  # the Python name; the flag is --name-with-dashes unless ``decls`` says otherwise
    type: Any
    help: str
    default: Any = REQUIRED
    decls: tuple[str, ...] = ()  # e.g. ("--output", "-o")
    argument: bool = False
    metavar: str | None = None
    panel: str | None = None  # rich help panel
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # more typer.Option keywords

    def parameter(self) -> inspect.Parameter:
        help = escape(self.help)  # "[default: …]" in a help is text, not rich markup
        if self.argument:
            info = typer.Argument(help=help, metavar=self.metavar)
        else:
            info = typer.Option(*self.decls, help=help, metavar=self.metavar, rich_help_panel=self.panel, **self.extra)
        return inspect.Parameter(
            self.name, inspect.Parameter.KEYWORD_ONLY, default=self.default, annotation=Annotated[self.type, info]
        )


def argument(name: str, type: Any, help: str, default: Any = REQUIRED) -> Param:
    """A positional argument (not a config field: an input path, say)."""
    return Param(name, type, help, default, argument=True)


def param(
    name: str, type: Any, help: str, *decls: str, default: Any = REQUIRED, metavar: str | None = None, **extra: Any
) -> Param:
    """An option that is not a config field (an output path, a model folder, …)."""
    return Param(name, type, help, default, decls=decls, metavar=metavar, extra=extra)


# ---------------------------------------------------------------------------------------------------------
# From config fields


def cli_type(hint: Any) -> Any:
    """The command-line type of a field type: ``X | None`` → ``Optional[X]``, a union with ``str`` → ``str``
    (the dataclass parses it), ``tuple[X, ...]`` → a repeatable option ``list[X]``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        if str in kinds:
            base = str
        elif len(kinds) == 1:
            base = cli_type(kinds[0])
        else:
            raise TypeError(f"no command-line type for {hint}: give option(..., type=...)")
        return Optional[base] if len(kinds) < len(args) else base
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return list[args[0]]
    return hint


def _cli_default(f: dataclasses.Field, typ: Any, parsed: bool) -> Any:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    else:
        return REQUIRED
    if isinstance(value, tuple) and parsed and typ is str:
        return ",".join(map(str, value))  # e.g. --langs en,hi,mr
    if isinstance(value, tuple):
        return list(value) or None
    return value


def field_params(cls: type) -> list[Param]:
    """One option per init field of the config dataclass ``cls`` (fields declared ``cli=False`` excepted)."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        info = option_info(f)
        if not f.init or not info.cli:
            continue
        if f.name == CONFIG_FILE:
            raise TypeError(f"{cls.__name__}.{f.name} collides with --config")
        typ = info.type or cli_type(hints[f.name])
        decls: tuple[str, ...] = ()
        if info.flag or info.short:
            long = info.flag or "--" + f.name.replace("_", "-")
            if typ is bool and "/" not in long:
                long = f"{long}/--no-{long[2:]}"
            decls = (long, info.short) if info.short else (long,)
        default = _cli_default(f, typ, parsed=info.parse is not None)
        out.append(Param(f.name, typ, info.help, default, decls=decls))
    return out


def build_config(cls: type, given: Mapping[str, Any], derived: Mapping[str, Any] | None = None) -> Any:
    """``cls(**given)`` with command-line values turned into field values (``parse``, lists → tuples); every
    number is first checked against its field's type and declared bounds (:func:`bound_problems`)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = dict(derived or {})
    for name, value in given.items():
        parse = option_info(fields[name]).parse
        if parse is not None and value is not None:
            value = parse(value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    ConfigError.collect(bound_problems(cls, kwargs), "give a value in the range the message names")
    return cls(**kwargs)


# ---------------------------------------------------------------------------------------------------------
# A function typer can read


def generate(name: str, params: Sequence[Param], run: Callable[[Any, dict[str, Any]], Any]) -> Callable[..., Any]:
    """A function whose signature declares ``params`` (plus the click context); calling it runs
    ``run(ctx, {name: value})``."""
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise TypeError(f"{name}: parameters named twice: {sorted({n for n in names if names.count(n) > 1})}")

    def command(ctx: typer.Context, **values: Any) -> Any:
        return run(ctx, values)

    ctx = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
    parameters = [ctx, *(p.parameter() for p in params)]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__name__ = command.__qualname__ = name.replace("-", "_")
    command.__doc__ = None
    return command


def is_default(ctx: Any, name: str) -> bool:
    """Whether the option ``name`` was left at its default (given neither as a flag nor in --config)."""
    source = ctx.get_parameter_source(name)
    return source is None or source.name == "DEFAULT"


# ---------------------------------------------------------------------------------------------------------
# --config x.yaml


def config_file_param(callback: Callable[..., Any]) -> Param:
    """``--config`` (eager, so it is read before the options it provides defaults for)."""
    return param(
        CONFIG_FILE,
        Optional[Path],
        "YAML file of options, keyed by option name (lora-r or lora_r); flags given here override it.",
        "--config",
        default=None,
        metavar="YAML",
        is_eager=True,
        callback=callback,
    )


def _yaml_value(value: Any, multiple: bool) -> Any:
    """A YAML value as the command line would give it: a list for a repeatable option (a mapping becomes
    NAME=VALUE items), else a comma-joined string for a list or mapping."""
    if isinstance(value, Mapping):
        items = [f"{k}={v}" for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        return [value] if multiple and value is not None else value
    return items if multiple else ",".join(map(str, items))


MAX_CONFIG_BYTES = 1024 * 1024
MAX_CONFIG_NODES = 100_000  # values in the file once every alias is expanded


class _TooManyValues(Exception):
    pass


def _expanded_size(node: Any, memo: dict[int, int], open_: set[int]) -> int:
    """How many YAML nodes ``node`` stands for with every alias expanded (a shared node counts each time it is
    used, as a reader of the values sees it); a node that contains itself counts as too many."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in open_:
        return MAX_CONFIG_NODES + 1
    open_.add(key)
    total = 1
    if isinstance(node.value, list):
        for item in node.value:
            for part in item if isinstance(item, tuple) else (item,):
                total += _expanded_size(part, memo, open_)
                if total > MAX_CONFIG_NODES:
                    break
    open_.discard(key)
    memo[key] = total
    return total


def _bounded_loader() -> type:
    """PyYAML's safe loader that refuses a document standing for more than ``MAX_CONFIG_NODES`` values with its
    aliases expanded (a "billion laughs" of nested aliases is a few lines that expand to 10**9 values)."""
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        def compose_document(self) -> Any:
            node = super().compose_document()
            if node is not None and _expanded_size(node, {}, set()) > MAX_CONFIG_NODES:
                raise _TooManyValues
            return node

    return BoundedLoader


def read_config_file(path: str | Path, command: Any) -> dict[str, Any]:
    """The options in a ``--config`` YAML file, as a click ``default_map`` for ``command``."""
    import yaml

    where = f"--config {path}"
    hint = f"keys are the option names of cstool {command.name} (see cstool {command.name} --help)"
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)  # bounded: /dev/zero or a huge file is refused, not read
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read {where}: {getattr(e, 'strerror', None) or e}", "give a YAML file") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise InputError(
            f"{where} is larger than {MAX_CONFIG_BYTES // 1024} KiB: not an options file",
            "give a YAML file of 'option-name: value' lines",
        )
    try:
        data = yaml.load(text, Loader=_bounded_loader())
    except RecursionError:
        raise ConfigError(f"{where} nests too deeply", "write one 'option-name: value' per line") from None
    except _TooManyValues:
        raise ConfigError(
            f"{where} stands for more than {MAX_CONFIG_NODES} values once its aliases (*name) are expanded",
            "write the options out; an options file needs few values",
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(
            f"{where} is not valid YAML: {problem}{at}", "write one 'option-name: value' per line"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where} must be a mapping of option names to values, not a YAML {type(data).__name__}",
            "write one 'option-name: value' per line, e.g. lora-r: 16",
        )
    by_key: dict[str, Any] = {}
    for p in command.params:
        if p.param_type_name != "option" or p.name == CONFIG_FILE:
            continue
        for opt in p.opts:
            if opt.startswith("--"):
                by_key[opt[2:]] = by_key[opt[2:].replace("-", "_")] = p
    unknown = [str(k) for k in data if str(k) not in by_key]
    if unknown:
        raise ConfigError(f"{where}: unknown option{'s' * (len(unknown) > 1)} {', '.join(unknown)}", hint)
    defaults: dict[str, Any] = {}
    for key, value in data.items():
        p = by_key[str(key)]
        if p.name in defaults:
            raise ConfigError(f"{where}: option {key} is given twice (as - and _ spellings)", hint)
        defaults[p.name] = _yaml_value(value, multiple=p.multiple)
    return defaults
