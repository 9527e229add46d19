"""softmax_core is what one would import in a notebook: numerics and training, nothing of the dashboard.

tests/test_app.py imports every module in a fresh interpreter and checks streamlit stays out of it; this
reads each module's imports, so it also catches an import inside a function that the import run skips.
"""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.unit

CORE = ROOT / "softmax_core"
FORBIDDEN_PACKAGES = {"streamlit", "dashboard", "scripts", "tests"}


def imported_modules(tree: ast.AST) -> list[tuple[str, list[str]]]:
    """(module, names) of every import anywhere in ``tree`` (relative imports as '.module')."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append(("." * node.level + (node.module or ""), [alias.name for alias in node.names]))
    return found


def boundary_breaks(source: str) -> list[str]:
    """What in ``source`` reaches beyond the core: the dashboard, Streamlit, or another package's private parts."""
    breaks = []
    for module, names in imported_modules(ast.parse(source)):
        top = module.split(".")[0]
        if top in FORBIDDEN_PACKAGES:
            breaks.append(module)
        elif module != "__future__" and not module.startswith("softmax_core") and not module.startswith("."):
            if top.startswith("_"):
                breaks.append(module)
            breaks += [f"{module}.{name}" for name in names if name.startswith("_")]
    return breaks


def test_the_check_sees_each_kind_of_break():
    assert boundary_breaks("import streamlit as st") == ["streamlit"]
    assert boundary_breaks("def f():\n    from dashboard.caches import shared") == ["dashboard.caches"]
    assert boundary_breaks("from _plotly_utils.utils import to_typed_array_spec") == ["_plotly_utils.utils"]
    assert boundary_breaks("from torch.nn.functional import _in_projection") == ["torch.nn.functional._in_projection"]
    assert boundary_breaks("from softmax_core.data import _private\nimport numpy as np\nfrom torch import nn") == []


def test_softmax_core_imports_nothing_of_the_dashboard_nor_anyones_private_parts():
    modules = sorted(CORE.rglob("*.py"))
    assert len(modules) >= 15
    breaks = {path.relative_to(ROOT).as_posix(): boundary_breaks(path.read_text()) for path in modules}
    assert {name: found for name, found in breaks.items() if found} == {}
