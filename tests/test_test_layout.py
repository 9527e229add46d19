"""Test modules share helpers through the helper modules (factories, browser, apptest_helpers, conftest), never
by importing one another: a test module that another imports runs its own tests' imports and fixtures there
too, and moving or deleting one test then breaks an unrelated file."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).parent


def _is_test_module(dotted: str) -> bool:
    """``tests.test_x`` or ``test_x`` (an import that names a test module of this folder)."""
    parts = dotted.split(".")
    return parts[-1].startswith("test_") and (len(parts) == 1 or parts[:-1] == ["tests"])


def _trees(source: str):
    """The module's tree, and the tree of every string in it that is Python (scripts run in a child process)."""
    tree = ast.parse(source)
    yield tree
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "import" in node.value:
            try:
                yield ast.parse(textwrap.dedent(node.value))
            except SyntaxError:
                continue


def test_modules_imported(source: str) -> list[str]:
    """The test modules that ``source`` imports, at any depth (in a function too), as dotted names."""
    found = []
    for tree in _trees(source):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [alias.name for alias in node.names if _is_test_module(alias.name)]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""  # "test_x" for `from .test_x import y`, "" for `from . import x`
                if _is_test_module(module):
                    found.append(module)
                elif module in ("", "tests"):  # `from tests import test_x`, `from . import test_x`
                    found += [f"{module}.{a.name}" for a in node.names if a.name.startswith("test_")]
    return found


test_modules_imported.__test__ = False  # a helper whose name starts with "test_", not a test


@pytest.mark.parametrize(
    "source",
    [
        "from tests.test_run_store import make_result\n",
        "import tests.test_run_store\n",
        "from tests import test_run_store\n",
        "from .test_run_store import make_result\n",
        "from . import test_run_store\n",
        "def test_x():\n    from tests.test_page_calibration import weights\n",
        'SCRIPT = """\n    import sys\n    from tests.test_run_store import make_result\n"""\n',
    ],
)
def test_every_way_of_importing_a_test_module_is_seen(source):
    assert len(test_modules_imported(source)) == 1, source


@pytest.mark.parametrize(
    "source",
    [
        "from tests.factories_training import make_result\n",
        "from tests import mixed_store\n",
        "import tests.browser\n",
        "from tests.apptest_helpers import texts as test_texts\n",
        "TEXT = 'import from tests.test_x is words, not code'\n",
    ],
)
def test_helper_modules_are_not_test_modules(source):
    assert test_modules_imported(source) == []


def test_no_test_module_imports_another():
    offenders = {
        path.name: imported
        for path in sorted(TESTS.glob("test_*.py"))
        if path.name != Path(__file__).name and (imported := test_modules_imported(path.read_text()))
    }
    assert offenders == {}, "move what they share to tests/factories*.py, browser.py, apptest_helpers.py or conftest.py"


def test_helper_modules_import_no_test_module():
    offenders = {
        path.name: imported
        for path in sorted(TESTS.glob("*.py"))
        if not path.name.startswith("test_") and (imported := test_modules_imported(path.read_text()))
    }
    assert offenders == {}
