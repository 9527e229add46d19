"""Starting the local server (browser tests, benchmarks): a port taken first is retried, another early exit says why."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from scripts import local_server
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.server


def test_a_taken_port_is_retried_on_another(monkeypatch, tmp_path):
    with socket.socket() as held:  # someone else grabs the port streamlit was about to get
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        offered = iter([taken])
        real_free_port = local_server.free_port
        monkeypatch.setattr(local_server, "free_port", lambda: next(offered, None) or real_free_port())
        proc, url = local_server.start_streamlit(
            {"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(tmp_path)}
        )
        try:
            assert url != f"http://127.0.0.1:{taken}"
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as response:
                assert response.status == 200
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_a_server_that_exits_for_another_reason_says_why_and_is_not_retried(monkeypatch):
    ports = []
    real_free_port = local_server.free_port
    monkeypatch.setattr(local_server, "free_port", lambda: ports.append(real_free_port()) or ports[-1])
    with pytest.raises(local_server.ServerExited, match="No such option '--server.noSuchOption'"):
        local_server.start_streamlit({}, ["--server.noSuchOption", "1"])
    assert len(ports) == 1  # a bad option is not a port race
