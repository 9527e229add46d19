"""``bench_class.py --follow`` keeps running: 2 followers of a scripted lecturer, every change arrives."""

from __future__ import annotations

import pytest

from dashboard.lecture import HEARTBEAT_SECONDS
from tests.class_bench import run_bench_class

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("measures")]  # its figures: no other benchmark beside it


def test_bench_follow_reports_every_change_at_every_follower(shared_data_dir, tmp_path):
    report, text = run_bench_class(
        "--follow", "2", "--follow-changes", "2", "--follow-every", "6", "--follow-settle", "5", "--follow-idle", "4",
        "--data-dir", str(shared_data_dir), "--runs-dir", str(tmp_path),
    )  # fmt: skip
    assert report["followers"] == 2 and report["missed"] == 0 and not report["follower_errors"]
    latency = report["latency_s"]
    assert latency["n"] == 4 and 0 < latency["p50"] <= latency["p95"] <= latency["max"] < 6
    # The followers keep the browser's timer, a heartbeat (every 10 s, more than the 6 s between changes):
    # the changes reach them because the server starts their poll (tests/test_lecture_protocol.py: with no timer).
    assert report["follower_timers_s"] == [HEARTBEAT_SECONDS] and HEARTBEAT_SECONDS > 6
    assert "change -> follower's finished run" in text


def test_bench_follow_measures_a_class_loading_and_training_meanwhile(shared_data_dir, tmp_path):
    report, text = run_bench_class(
        "--follow", "1", "--follow-changes", "2", "--follow-every", "8", "--follow-sessions", "1", "--storm", "1",
        "--follow-settle", "5", "--follow-idle", "2",
        "--data-dir", str(shared_data_dir), "--runs-dir", str(tmp_path), timeout=600,
    )  # fmt: skip
    assert report["missed"] == 0 and not report["follower_errors"]
    meanwhile = report["class_meanwhile"]
    loads = meanwhile["page_loads"]
    assert loads["errors"] == 0 and loads["page_loads"] == len(loads["per_page"]) == 7  # every page, once
    assert all(row["p95"] > 0 for row in loads["per_page"].values())
    assert meanwhile["storm"] == meanwhile["storm_finished"] == 1 and meanwhile["storm_last_curves_seconds"] > 0
    assert report["server_cpu_s_per_change"] > 0 and 0 < report["server_cpu_share_while_changing"]
    assert "meanwhile 1 students loaded every page" in text
    assert report["followers_per_replica"] == {}  # no balancer: no replica cookie
