"""The project's imports, read from the source with ``ast``: no import circle anywhere, no import hidden in a function.

An import placed inside a function is how a circle gets dodged: the module imports fine, and the circle
is still there for the next reader. So the graph below counts every import, wherever it stands, and a
function-level import in the package code is allowed only for an optional or heavy dependency, each with
its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.unit

PACKAGES = ("softmax_core", "dashboard")  # the importable code; pages and scripts import it, nothing imports them
ENTRY_FOLDERS = ("pages", "scripts")

# (file, imported module) -> why it is imported where it is used, not at the top of the file.
FUNCTION_LEVEL_ALLOWED = {
    ("softmax_core/data.py", "torchvision.datasets"): "optional: only to download Fashion-MNIST when it is missing",
}


def project_files() -> dict[str, Path]:
    """Every Python file of the project by module name: the packages, the pages, the scripts, the app."""
    files = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for folder in ENTRY_FOLDERS:
        for path in sorted((ROOT / folder).glob("*.py")):
            files[f"{folder}.{path.stem}"] = path
    files["streamlit_app"] = ROOT / "streamlit_app.py"
    return files


def imported_names(tree: ast.AST, module: str, is_package: bool) -> list[tuple[ast.stmt, str]]:
    """(import statement, dotted name) for every name an import statement reaches, relative ones resolved."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module
            found += [(node, f"{stem}.{alias.name}") for alias in node.names] + [(node, stem)]
    return found


def project_module(name: str, modules: set[str]) -> str | None:
    """The longest project module that ``name`` is or lies inside (``softmax_core.training.train`` -> training)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def import_graph() -> dict[str, set[str]]:
    files = project_files()
    modules = set(files)
    graph = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        targets = {project_module(name, modules) for _, name in imported_names(tree, module, path.stem == "__init__")}
        graph[module] = {t for t in targets if t is not None and t != module}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm), each sorted."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def function_level_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import statement inside a function body."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, ast.Import):
                    found += [(node.lineno, alias.name) for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    found.append((node.lineno, "." * node.level + (node.module or "")))
    return sorted(set(found))


def test_the_walk_sees_the_project():
    graph = import_graph()
    assert {"softmax_core.training", "softmax_core.cli", "dashboard.training_jobs", "pages.training"} <= set(graph)
    assert "softmax_core.training_settings" in graph["softmax_core.sgd_trainer"]
    assert "softmax_core.training_queue" in graph["dashboard.training_jobs"]


def test_the_circle_finder_finds_a_circle_and_the_modules_in_it():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def circles_of_the_scripts(inside: bool) -> list[list[str]]:
    """The project's import circles that pass through a module of scripts/ (``inside``), or through none."""
    return [c for c in circles(import_graph()) if any(m.startswith("scripts.") for m in c) == inside]


def test_no_import_circle_in_the_app_and_its_packages():
    """softmax_core, dashboard, the pages and streamlit_app.py, every import counted wherever it stands."""
    found = circles_of_the_scripts(inside=False)
    assert found == [], "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_no_import_circle_in_the_scripts():
    found = circles_of_the_scripts(inside=True)
    assert found == [], "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_training_settings_are_a_leaf():
    """The settings, results and limits import nothing else of the project: every part of it may read them."""
    assert import_graph()["softmax_core.training_settings"] == set()


def test_the_finder_sees_an_import_in_a_function(tmp_path):
    source = tmp_path / "late.py"
    source.write_text("import os\n\ndef f():\n    from softmax_core import training\n    import json\n")
    assert function_level_imports(source) == [(4, "softmax_core"), (5, "json")]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_inside_a_function_but_an_optional_or_heavy_dependency(package):
    unexplained = []
    for path in sorted((ROOT / package).rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        for line, module in function_level_imports(path):
            if (name, module) not in FUNCTION_LEVEL_ALLOWED:
                unexplained.append(f"{name}:{line} imports {module}")
    assert unexplained == [], "imports inside functions: " + "; ".join(unexplained)


def test_every_allowed_function_level_import_is_still_there():
    """An allowance outlives its import only by mistake: a stale one would let the next late import in unread."""
    present = {
        (path.relative_to(ROOT).as_posix(), module)
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        for _, module in function_level_imports(path)
    }
    assert set(FUNCTION_LEVEL_ALLOWED) <= present
