"""The CLI uses typer's and click's public API only: no private name, and none of typer's internal modules
(``typer.core``, ``typer.models``, ``typer.main``, ``typer.rich_utils``, the vendored ``typer._click``), which
any typer release may change."""

from __future__ import annotations

import ast
from pathlib import Path

import cstool.cli

CLI = Path(cstool.cli.__file__).parent
LIBRARIES = ("typer", "click")
TYPER_INTERNALS = {"core", "models", "main", "rich_utils", "completion", "params", "utils"}


def _bad(module: str) -> bool:
    """Whether the dotted name ``module`` (``typer.core.TyperGroup``) is a library internal."""
    parts = module.split(".")
    if parts[0] not in LIBRARIES:
        return False
    if any(p.startswith("_") for p in parts[1:]):
        return True
    return parts[0] == "typer" and len(parts) > 1 and parts[1] in TYPER_INTERNALS


def internals(source: str) -> list[str]:
    """The typer/click internals ``source`` imports or reaches by attribute, as dotted names."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # local name -> the dotted library name it stands for
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if _bad(a.name):
                    found.append(a.name)
                aliases[(a.asname or a.name).split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                if _bad(f"{node.module}.{a.name}"):
                    found.append(f"{node.module}.{a.name}")
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain = []
            value: ast.expr = node
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in aliases:
                dotted = ".".join([aliases[value.id], *reversed(chain)])
                if _bad(dotted):
                    found.append(dotted)
    return sorted(set(found))


def test_the_checker_finds_internals():
    assert internals("from typer.main import get_command_from_info") == ["typer.main.get_command_from_info"]
    assert internals("from typer.models import CommandInfo") == ["typer.models.CommandInfo"]
    assert internals("import typer.core") == ["typer.core"]
    assert internals("import typer\nx = typer.core.TyperGroup") == ["typer.core", "typer.core.TyperGroup"]
    assert internals("import typer as t\nt._click.Context") == ["typer._click", "typer._click.Context"]
    assert internals("from click.core import _check_iter") == ["click.core._check_iter"]
    assert internals("import click\nclick.Group._x") == ["click.Group._x"]
    assert internals("import typer\n@typer.Option\ndef f(ctx: typer.Context): typer.echo(ctx.args)") == []


def test_the_cli_uses_no_typer_or_click_internal():
    files = sorted(CLI.rglob("*.py"))
    assert len(files) >= 5
    found = {str(f.relative_to(CLI)): internals(f.read_text(encoding="utf-8")) for f in files}
    assert {f: names for f, names in found.items() if names} == {}
