"""The package's layers: imports only go down, no cycles, and a stage never imports another stage.

Every ``import`` under ``cstool/`` (module level and inside functions) is parsed with ``ast``. Layers, from
the bottom: the core packages ``base`` (errors, console, devices, option fields), ``io`` (artifacts and run
records) and ``models`` (loading transformers/peft/Stanza models), then ``text``, ``lm``, ``vqa``,
``continual``, ``stages``, ``cli``. No module lives at the top of ``cstool/`` but ``__init__`` and ``__main__``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cstool"
LAYERS = ["base", "io", "models", "text", "lm", "vqa", "continual", "stages", "cli"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer(module: str) -> str:
    if module == "cstool.__main__":  # ``python -m cstool`` runs the CLI
        return "cli"
    parts = module.split(".")
    if len(parts) >= 2 and parts[1] in LAYERS:
        return parts[1]
    return "package"  # cstool/__init__.py: the version only


def imports() -> dict[str, set[str]]:
    """module → cstool modules it imports (``from cstool import x`` resolves to ``cstool.x`` when x is a module)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("cstool")}
            elif (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("cstool")
                and node.level == 0
            ):
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    deps.add(full if full in modules else node.module)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


GRAPH = imports()


def test_the_tree_has_its_layers():
    found = {layer(m) for m in GRAPH} - {"package"}
    assert found == set(LAYERS), found
    assert not (PACKAGE / "utils.py").exists()
    flat = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert not flat, f"modules at the top of cstool/ belong in a layer's package: {flat}"


def test_one_module_per_name():
    """No two modules of one name in different layers (``options``/``cli.options`` once were); a stage module
    is named for its command and may share its name with the layer module it drives (``stages.lexicon``)."""
    stems: dict[str, list[str]] = {}
    for m in GRAPH:
        if m.count(".") >= 2 and layer(m) != "stages":
            stems.setdefault(m.rsplit(".", 1)[1], []).append(m)
    clashes = {k: v for k, v in stems.items() if len(v) > 1}
    assert not clashes, clashes


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_only_go_down(module):
    if layer(module) == "package":
        assert not GRAPH[module], GRAPH[module]
        return
    mine = LAYERS.index(layer(module))
    up = [d for d in GRAPH[module] if layer(d) != "package" and LAYERS.index(layer(d)) > mine]
    assert not up, f"{module} ({layer(module)}) imports higher layers: {up}"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if layer(m) == "stages"))
def test_a_stage_never_imports_another_stage(module):
    others = [d for d in GRAPH[module] if layer(d) == "stages" and d != "cstool.stages"]
    assert not others, f"{module} imports {others}"


def test_no_import_cycles():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(GRAPH[m]):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " → ".join(stack[stack.index(d) :] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)


def test_the_checker_finds_what_it_looks_for():
    """The graph sees imports inside functions (where cycles used to hide)."""
    assert "cstool.continual.learner" in GRAPH["cstool.stages.replay_train"]
    assert "cstool.models.stanza_pipelines" in GRAPH["cstool.stages.tag"]


STRATEGY_MODULES = {m for m in GRAPH if m.startswith("cstool.continual.strategies.")}


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if layer(m) in ("stages", "cli")))
def test_no_stage_imports_a_strategy_module(module):
    """Strategies are reached through the registry (cstool.continual.strategies), never by module."""
    direct = GRAPH[module] & STRATEGY_MODULES
    assert not direct, f"{module} imports {sorted(direct)}"


def _compares_strategy_name(tree: ast.AST, names: set[str]) -> list[int]:
    """Line numbers of ``X.strategy == "naive"`` / ``X.strategy in ("replay", …)`` comparisons."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        if not any(isinstance(s, ast.Attribute) and s.attr == "strategy" for s in sides):
            continue
        consts = [c for s in sides for c in ast.walk(s) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
        if any(c.value in names for c in consts):
            lines.append(node.lineno)
    return lines


def test_no_strategy_branches_outside_the_strategies():
    from cstool.continual.strategies import REGISTRY

    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "strategies" in path.parts:
            continue
        if lines := _compares_strategy_name(ast.parse(path.read_text(), str(path)), set(REGISTRY)):
            found[module_name(path)] = lines
    assert not found, f"strategy-specific branches outside cstool/continual/strategies: {found}"
    assert _compares_strategy_name(ast.parse('c.strategy == "naive"'), set(REGISTRY)) == [1]
