"""``bench_class.py --follow`` keeps running: 2 followers of a scripted lecturer, every change arrives."""

from __future__ import annotations

import pytest

from tests.class_bench import run_bench_class

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("measures")]  # its figures: no other benchmark beside it


def test_bench_follow_reports_every_change_at_every_follower(shared_data_dir, tmp_path):
    report, text = run_bench_class(
        "--follow", "2", "--follow-changes", "2", "--follow-every", "8",
        "--data-dir", str(shared_data_dir), "--runs-dir", str(tmp_path),
    )  # fmt: skip
    assert report["followers"] == 2 and report["missed"] == 0 and not report["follower_errors"]
    latency = report["latency_s"]
    assert latency["n"] == 4 and 0 < latency["p50"] <= latency["p95"] <= latency["max"] < 8
    assert report["idle_polls_per_s"] > 0  # the followers poll as browsers do
    assert "change -> follower's finished run" in text
