"""The class benchmark keeps running: a tiny class (2 sessions, 2 waves, 1 training) against its own server."""

from __future__ import annotations

import pytest

from dashboard.catalog import PAGES
from tests.class_bench import run_bench_class

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("measures")]  # its figures: no other benchmark beside it


def test_bench_class_reports_every_page_of_every_session(shared_data_dir, tmp_path):
    report, text = run_bench_class(
        "--sessions",
        "2",
        "--waves",
        "2",
        "--storm",
        "1",
        "--clear-cache-rate",
        "4",
        "--data-dir",
        str(shared_data_dir),
        "--runs-dir",
        str(tmp_path),
    )
    pages = report["pages"]
    assert len(pages) == len(PAGES) + 1 and "training" in pages  # home and every catalogued page
    assert report["errors"] == 0 and report["page_loads"] == 2 * 2 * len(pages)
    assert set(report["per_page"]) == {p or "home" for p in pages}
    assert all(
        s["n"] == 4 and s["bytes"] > 1000 and s["median"] <= s["p95"] <= s["max"] for s in report["per_page"].values()
    )
    assert report["server_cpu_seconds"] > 0 and report["rss_mb_after"] > 100
    assert len(report["rss_mb_after_each_wave"]) == 2
    assert report["during_storm"]["errors"] == 0 and report["during_storm"]["page_loads"] == 2 * len(pages)
    assert report["storm_finished"] == 1
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 1  # the storm's run was stored
    assert "page loads during the storm" in text
    assert report["clear_cache_requests"] >= 1 and "clear-cache requests sent meanwhile" in text


def test_bench_class_times_a_training_on_screen_in_chromium(shared_data_dir, tmp_path):
    """``--latency``: the page's own marks of the first progress and of the final curves are read back."""
    rows, _ = run_bench_class("--latency", "1", "--data-dir", str(shared_data_dir), "--runs-dir", str(tmp_path))
    assert [r["impl"] for r in rows] == ["scratch", "concise"]
    assert all(r["click_to_progress"] > 0 and r["end_to_curves"] > 0 and r["train_seconds"] > 0 for r in rows)
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 2  # both trainings were stored


def test_bench_class_tabs_all_finish_in_the_order_pressed(shared_data_dir, tmp_path):
    """``--tabs``: three Chromium tabs press Train at once; the later ones queue, then all three show their run."""
    [wave], _ = run_bench_class(
        "--tabs", "3", "--tab-waves", "1", "--timeout", "120", "--data-dir", str(shared_data_dir),
        "--runs-dir", str(tmp_path),
    )  # fmt: skip
    assert wave["done"] == 3 and wave["stalled"] == 0  # the order is checked exactly in test_jobs (FIFO)
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(".")]) == 3
