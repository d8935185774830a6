"""The package's shape: a folder per stage, each importing only the stages below it, and no import cycle.

Every import counts: at module level, inside functions and under ``TYPE_CHECKING``, because a cycle hidden in a
function is still a cycle a reader must untangle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "benchsuite"
PLUGINS = ROOT / "plugins"
BUILTINS = "benchsuite_builtins"
SHARED = f"{BUILTINS}._shared"

STAGES = ["contract", "inputs", "extraction", "metrics", "inference", "results", "plugin", "kit", "run",
          "contributions", "testing", "api", "cli"]
"""The data flow from the bottom up: a module may import its own stage and the stages before it, never one after.
``plugin`` (the public plugin API) re-exports helpers of the stages below it; ``kit`` documents and checks it."""


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path, top: str) -> dict[str, Path]:
    """Every module under ``root/top`` by its dotted name."""
    return {module_name(path, root): path for path in sorted((root / top).rglob("*.py"))}


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The known modules that ``path`` (module ``name``) imports anywhere in its body."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        found.update(target for target in targets if target in known and target != name)
    return found


def import_graph() -> dict[str, set[str]]:
    found = {**modules(ROOT, "benchsuite"), **modules(PLUGINS, BUILTINS)}
    known = set(found)
    return {name: imported(path, name, known) for name, path in found.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that starts and ends at the same module, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def stage_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if parts[0] == "benchsuite" and len(parts) > 1 else None


def test_no_import_cycle_anywhere() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_core_module_belongs_to_a_stage() -> None:
    strays = [name for name in modules(ROOT, "benchsuite") if name != "benchsuite" and stage_of(name) not in STAGES]
    assert strays == []


def test_each_stage_imports_only_stages_below_it() -> None:
    upward = []
    for name, targets in import_graph().items():
        stage = stage_of(name)
        if stage is None:
            continue
        for target in targets:
            other = stage_of(target)
            if other is not None and STAGES.index(other) > STAGES.index(stage):
                upward.append(f"{name} -> {target}")
    assert upward == []


def test_built_in_plugins_import_only_the_public_plugin_api_of_the_core() -> None:
    graph = import_graph()
    reached = sorted(f"{name} -> {target}" for name, targets in graph.items() if name.startswith(BUILTINS)
                     for target in targets if target.startswith("benchsuite.") and target != "benchsuite.plugin")
    assert reached == []


def test_the_core_never_imports_a_built_in_plugin() -> None:
    reached = sorted(f"{name} -> {target}" for name, targets in import_graph().items()
                     if name.startswith("benchsuite.") for target in targets if target.startswith(BUILTINS))
    assert reached == []


def built_in_of(name: str) -> str | None:
    """The built-in plugin (``benchsuite_builtins.<plugin>``) a module belongs to; None for the namespace itself."""
    parts = name.split(".")
    return ".".join(parts[:2]) if parts[0] == BUILTINS and len(parts) > 1 else None


def test_no_built_in_imports_another_built_in() -> None:
    """Each built-in reaches only itself and the private shared helpers, as a third party's plugin would reach only
    itself; the shared helpers reach no plugin."""
    crossing = []
    for name, targets in import_graph().items():
        owner = built_in_of(name)
        for target in targets:
            other = built_in_of(target)
            if owner is not None and other is not None and other != owner and other != SHARED:
                crossing.append(f"{name} -> {target}")
    assert crossing == []


def test_every_built_in_is_registered_by_its_own_entry_point() -> None:
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["benchsuite"]
    packages = {path.name for path in (PLUGINS / BUILTINS).iterdir() if (path / "__init__.py").exists()}
    assert {f"{BUILTINS}.{name}" for name in packages - {"_shared"}} == set(declared.values())
    assert all(value == f"{BUILTINS}.{name}" for name, value in declared.items())


def test_the_checker_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from pkg.b import thing\n")
    (tmp_path / "pkg" / "b.py").write_text("def thing():\n    from pkg import a\n")
    found = modules(tmp_path, "pkg")
    graph = {name: imported(path, name, set(found)) for name, path in found.items()}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]


@pytest.mark.parametrize("source", ["from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import x\n",
                                    "from . import a\n", "import pkg.a\n"])
def test_the_checker_counts_every_kind_of_import(tmp_path: Path, source: str) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("")
    (tmp_path / "pkg" / "b.py").write_text(source)
    found = modules(tmp_path, "pkg")
    assert imported(found["pkg.b"], "pkg.b", set(found)) == {"pkg.a"}


def test_the_tests_mirror_the_package() -> None:
    """A test folder per stage and ``builtins/`` for the built-in plugins; the faces' tests at ``tests/`` top."""
    folders = {path.name for path in (ROOT / "tests").iterdir() if path.is_dir() and any(path.glob("test_*.py"))}
    stages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert folders == stages | {"builtins"}
    faces = {path.stem.removeprefix("test_") for path in (ROOT / "tests").glob("test_*.py")}
    assert {"api", "cli", "public_api"} <= faces


MAX_FUNCTION_LINES = 55
"""About 50 lines: a function longer than this does more than one thing (docstring and signature included)."""


def test_no_function_is_longer_than_about_fifty_lines() -> None:
    long = []
    for path in sorted([*PACKAGE.rglob("*.py"), *PLUGINS.rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert long == []
