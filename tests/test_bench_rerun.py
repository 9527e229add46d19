"""``bench_rerun.py``: one session's warm runs of a page, with the server's CPU per run."""

from __future__ import annotations

import pytest

from scripts.bench_rerun import measure
from scripts.local_server import start_streamlit, stop_streamlit
from tests.async_loop import run_async

pytestmark = [pytest.mark.server, pytest.mark.xdist_group("measures")]  # its figures: no other benchmark beside it


def test_bench_rerun_reports_the_servers_cpu_per_run_and_stops_on_a_page_that_fails(shared_data_dir, tmp_path):
    proc, url = start_streamlit({"SOFTMAX_DATA_DIR": str(shared_data_dir), "SOFTMAX_RUNS_DIR": str(tmp_path)})
    try:
        with pytest.raises(SystemExit, match="no_such_page: page not found"):
            run_async(measure(url, proc.pid, "no_such_page", "", 3))
        result = run_async(measure(url, proc.pid, "loss_curves", "loss_y_hat=1.3", 20))
    finally:
        stop_streamlit(proc)
    assert result["page"] == "loss_curves"
    assert result["cpu_ms_per_run"] > 0 and result["wall_ms_per_run"] > 0
    assert result["kb"] > 100  # the losses page: six charts, two tables
