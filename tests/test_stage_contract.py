"""One contract per stage: ``<Command>Config``, ``run(config, *, …, output) -> <Command>Result``, and a CLI
that calls ``run`` and nothing else of the stage.

Every module under ``cstool/stages/`` is one command. Its ``run`` takes the config first and everything else
by keyword; what it writes is the keyword ``output`` (a file or a folder, whichever the command writes); it
returns a dataclass named ``<Command>Result``. The CLI modules import from a stage only its ``run``, its
config and its result class (what the console shows is a method of the result).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import typing
from pathlib import Path

import pytest

STAGES = Path(__file__).resolve().parents[1] / "cstool" / "stages"
CLI = STAGES.parent / "cli"
MODULES = sorted(p.stem for p in STAGES.glob("*.py") if p.stem != "__init__")


def _classes(module, suffix: str) -> list[type]:
    return [
        c
        for name, c in vars(module).items()
        if inspect.isclass(c) and name.endswith(suffix) and c.__module__ == module.__name__
    ]


@pytest.mark.parametrize("name", MODULES)
def test_a_stage_has_its_contract(name):
    module = importlib.import_module(f"cstool.stages.{name}")
    results = _classes(module, "Result")
    assert len(results) == 1 and dataclasses.is_dataclass(results[0]), f"{name}: one <Command>Result dataclass"
    assert callable(getattr(module, "run", None)), f"{name} has no run()"
    sig = inspect.signature(module.run)
    params = list(sig.parameters.values())
    assert params[0].name == "config" and params[0].kind is params[0].POSITIONAL_OR_KEYWORD, name
    assert all(p.kind is p.KEYWORD_ONLY for p in params[1:]), f"{name}: run(config, *, …) takes the rest by keyword"
    assert "output" in sig.parameters, f"{name}: what run writes is the keyword 'output'"
    hints = typing.get_type_hints(module.run)
    config = hints["config"]
    assert dataclasses.is_dataclass(config) and config.__name__.endswith("Config"), f"{name}: config is a *Config"
    assert hints["return"] is results[0], f"{name}: run returns {results[0].__name__}"


def _stage_imports(path: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cstool.stages."):
            found.setdefault(node.module, set()).update(a.name for a in node.names)
    return found


@pytest.mark.parametrize("path", sorted(CLI.glob("*.py")), ids=lambda p: p.name)
def test_the_cli_calls_run_and_nothing_else(path):
    wrong = {
        module: sorted(n for n in names if n != "run" and not n.endswith(("Config", "Result")))
        for module, names in _stage_imports(path).items()
    }
    wrong = {m: n for m, n in wrong.items() if n}
    assert not wrong, f"{path.name} imports from stages more than run, Config, Result: {wrong}"
