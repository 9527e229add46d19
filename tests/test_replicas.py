"""Replicas behind a real HAProxy (deploy/serve.sh 2): the class benchmark through it, one run store
shared by both, single-flight training across processes, an upload through the balancer. (A browser that survives
losing its replica: test_browser_replica_failover.py.)"""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from scripts.class_sessions import cpu_seconds, one_trainer
from tests.async_loop import run_async
from tests.class_bench import run_bench_class
from tests.conftest import SHARED_DATA
from tests.factories import load_pages, needs_haproxy
from tests.upload_client import open_inside_page

pytestmark = [pytest.mark.server, needs_haproxy]


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
    [shown] = load_pages([(replicas.replica_url("r2"), "training", query)])
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
