"""The page benchmark stays runnable: every control it moves exists and reruns cleanly (no timing asserted)."""

import pytest

from scripts.bench_pages import MOVES, bench

pytestmark = pytest.mark.app


@pytest.mark.parametrize("move", MOVES, ids=lambda m: f"{m.page}:{m.key}")
def test_each_benchmarked_control_exists_and_reruns(move, clear_streamlit_caches):
    row = bench(move, runs=2)  # raises if the control is gone or the page raises
    assert row["page"] == move.page and row["runs"] == 2
    assert row["median_ms"] > 0
