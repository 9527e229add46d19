"""The lecture benchmark's changes: each one a new value a follower can be seen to reach."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from scripts.bench_follow import SLIDER_DEFAULT, SLIDER_PARAM, change_values

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]


def _page_default() -> float:
    """The default the losses page declares for the benchmark's slider (read from its source, not run)."""
    tree = ast.parse((ROOT / "pages" / "loss_curves.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "float_param":
            if node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value == SLIDER_PARAM:
                return node.args[1].value
    raise AssertionError(f"no float_param {SLIDER_PARAM!r} in pages/loss_curves.py")


def test_the_benchmarks_default_is_the_pages():
    assert SLIDER_DEFAULT == _page_default()


@pytest.mark.parametrize("n", [1, 10, 20, 100])
def test_every_change_is_new_in_range_and_never_the_default(n):
    values = change_values(n)
    assert len(values) == n
    assert SLIDER_DEFAULT not in values
    assert all(-5 <= v <= 5 for v in values)
    assert all(a != b for a, b in zip(values, values[1:]))


def test_ten_changes_are_the_values_measured_before():
    assert change_values(10) == [round((-1) ** k * (0.5 + 0.1 * k), 1) for k in range(1, 11)]
