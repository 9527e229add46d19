"""Replicas behind a real HAProxy (deploy/serve.sh 2): the class benchmark through it, one run store
shared by both, single-flight training across processes, and a browser that survives losing its replica."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from scripts.class_sessions import Session, cpu_seconds, one_trainer
from scripts.local_server import wait_healthy
from tests.async_loop import run_async
from tests.class_bench import run_bench_class
from tests.conftest import ROOT, SHARED_DATA

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
pytestmark = pytest.mark.skipif(not Path(HAPROXY).exists(), reason="HAProxy is not installed (apt-get install haproxy)")


def free_port_pair() -> int:
    """A port p with p and p + 10, p + 11 free (balancer, then two replicas: serve.sh's layout)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        try:
            for other in (port + 10, port + 11):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", other))
            return port
        except OSError:
            continue
    raise RuntimeError("no free ports for the balancer and two replicas")


class Replicas:
    def __init__(self, proc: subprocess.Popen, url: str, log: Path, runs: Path):
        self.proc, self.url, self.log, self.runs = proc, url, log, runs
        self.replicas: dict[str, tuple[int, int]] = {}  # name -> (pid, port)
        self.balancer_pid = 0

    def read_pids(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.balancer_pid:
            for line in self.log.read_text().splitlines():
                words = line.split()
                if line.startswith("serve.sh: replica"):
                    self.replicas[words[2]] = (int(words[4]), int(words[6]))
                elif line.startswith("serve.sh: haproxy pid"):
                    self.balancer_pid = int(words[3])
            time.sleep(0.1)

    def replica_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.replicas[name][1]}"


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    runs = tmp_path_factory.mktemp("replica-runs")
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    port = free_port_pair()
    env = {
        **os.environ,
        "SOFTMAX_DATA_DIR": str(SHARED_DATA),
        "SOFTMAX_RUNS_DIR": str(runs),
        "BIND": "127.0.0.1",
        "PYTHON": sys.executable,
        "HAPROXY": HAPROXY,
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["deploy/serve.sh", "2", str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    r = Replicas(proc, f"http://127.0.0.1:{port}", log, runs)
    try:
        r.read_pids()
        assert len(r.replicas) == 2 and r.balancer_pid, log.read_text()
        for name in r.replicas:
            wait_healthy(r.replica_url(name), timeout=90)
        wait_healthy(r.url, timeout=30)
        # Each replica runs the main script once (what a lecturer's warm-up does).
        run_async(_load_all([(r.replica_url(name), "", "") for name in r.replicas]))
        yield r
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    pids = [pid for pid, _ in r.replicas.values()] + [r.balancer_pid]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
        time.sleep(0.2)
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids), "Ctrl-C left a replica or HAProxy running"


async def _load_all(targets):
    async def one(url, page, query):
        session = Session(url)
        await session.connect(60)
        try:
            return await session.load(page, query, timeout=120)
        finally:
            await session.close()

    return await asyncio.gather(*(one(*t) for t in targets))


def test_the_balancer_health_checks_and_sets_a_sticky_cookie(replicas):
    with urllib.request.urlopen(replicas.url + "/", timeout=10) as response:
        cookie = response.headers.get("Set-Cookie", "")
    assert cookie.startswith("STREAMLIT_REPLICA=r") and "HttpOnly" in cookie
    with urllib.request.urlopen(replicas.url + "/_stcore/health", timeout=10) as response:
        assert response.status == 200


def test_class_benchmark_through_the_balancer_uses_both_replicas(replicas):
    pids = [pid for pid, _ in replicas.replicas.values()]
    before = [cpu_seconds([pid]) for pid in pids]
    report, _ = run_bench_class("--url", replicas.url, "--sessions", "4", *[f"--server-pid={pid}" for pid in pids])
    assert report["errors"] == 0 and report["page_loads"] == 4 * len(report["pages"])
    after = [cpu_seconds([pid]) for pid in pids]
    assert all(a > b for a, b in zip(after, before))  # round robin over new browsers: both replicas served pages


def test_a_run_trained_through_one_replica_is_cached_on_the_other(replicas):
    query = "train_epochs=1&train_batch_size=2048&train_seed=71"
    trained: dict = {}
    run_async(one_trainer(replicas.replica_url("r1"), query, 120, trained))
    assert trained.get("shown", "").startswith("Trained just now"), trained
    [shown] = run_async(_load_all([(replicas.replica_url("r2"), "training", query)]))
    assert not shown.error and any(t.startswith("**Cached**") for t in shown.texts), shown.texts


def test_two_replicas_asked_for_the_same_new_config_at_once_train_it_once(replicas):
    query = "train_epochs=2&train_batch_size=2048&train_seed=72"
    results: list[dict] = [{}, {}]

    async def both():
        await asyncio.gather(
            one_trainer(replicas.replica_url("r1"), query, 120, results[0]),
            one_trainer(replicas.replica_url("r2"), query, 120, results[1]),
        )

    run_async(both())
    shown = sorted(r.get("shown", r.get("error", "?"))[:16] for r in results)
    assert shown == ["**Cached**: load", "Trained just now"], results
    folders = [p for p in replicas.runs.iterdir() if not p.name.startswith(".")]
    run = [
        json.loads((p / "run.json").read_text())
        for p in folders
        if json.loads((p / "run.json").read_text())["config"]["seed"] == 72
    ]
    assert len(run) == 1 and len(list((folders[0].parent / run[0]["key"]).glob("weights-*.pt"))) == 1


@pytest.mark.browser
def test_a_browser_comes_back_on_the_other_replica_with_the_same_view(replicas, chromium):
    from tests.browser import assert_no_error, move_slider, open_page, screenshot

    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    try:
        open_page(page, replicas.url)
        open_page(page, f"{replicas.url}/loss_curves?loss_y_hat=-1.5&loss_view=Compare+the+three")  # as Share gives it
        slider = page.get_by_role("slider", name="prediction ŷ").first
        assert slider.input_value() == "-1.5"
        [first] = [c["value"] for c in context.cookies() if c["name"] == "STREAMLIT_REPLICA"]
        os.kill(replicas.replicas[first][0], signal.SIGKILL)  # the replica this browser is stuck to dies
        # Streamlit's page notices, pings the server through the balancer until it answers (the other
        # replica: the dead one fails its health check, redispatch moves the cookie) and reconnects.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = [c["value"] for c in context.cookies() if c["name"] == "STREAMLIT_REPLICA"]
            state = page.evaluate(
                "() => document.querySelector('[data-testid=\"stApp\"]').getAttribute('data-test-connection-state')"
            )
            if now and now[0] != first and state == "CONNECTED":
                break
            time.sleep(0.25)
        assert now[0] != first and state == "CONNECTED", (now, state)
        # The first move after a failover may be lost while the new replica rebuilds the view from the URL
        # (seen under load); then the next one counts.
        move_slider(page, "prediction ŷ", presses=1, key="ArrowLeft")
        if page.get_by_role("slider", name="prediction ŷ").first.input_value() == "-1.5":
            assert page.get_by_role("radio", name="Compare the three").is_checked()
            move_slider(page, "prediction ŷ", presses=1, key="ArrowLeft")
        assert page.get_by_role("slider", name="prediction ŷ").first.input_value() == "-1.6"
        assert "loss_view=Compare" in page.url and "loss_y_hat=-1.6" in page.url
        assert page.get_by_role("radio", name="Compare the three").is_checked()
        # And a reload (a student pressing F5) gets the same view from the URL on the surviving replica.
        open_page(page, page.url)
        assert page.get_by_role("slider", name="prediction ŷ").first.input_value() == "-1.6"
        assert page.get_by_role("radio", name="Compare the three").is_checked()
        assert_no_error(page)
        screenshot(page, "replica_failover_losses")
    finally:
        context.close()


def test_a_photo_uploaded_through_the_balancer_is_classified_by_the_replica_holding_its_session(replicas):
    """The upload PUT and the websocket must reach the same replica (the sticky cookie), and a picture
    under the balancer's body cap passes it."""
    import io

    import numpy as np
    from PIL import Image

    from softmax_core.data import load_fashion_mnist
    from softmax_core.run_store import RunStore
    from softmax_core.train_or_load import train_or_load
    from softmax_core.training import TrainConfig
    from tests.upload_client import open_inside_page

    data = load_fashion_mnist(SHARED_DATA, download=False)
    train_or_load(RunStore(replicas.runs), TrainConfig(epochs=1, batch_size=4096, seed=73), data)
    pixels = np.full((1200, 900, 3), 235, np.uint8)
    pixels[200:1000, 250:650] = (40, 30, 90)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")

    async def upload_through_balancer():
        session = await open_inside_page(replicas.url)
        try:
            return await session.upload(buffer.getvalue(), "garment.png", "image/png")
        finally:
            await session.close()

    texts = run_async(upload_through_balancer())
    assert any(t.startswith("The model says") for t in texts), texts[-4:]
