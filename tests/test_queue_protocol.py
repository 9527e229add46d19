"""The training queue as browsers meet it, over Streamlit's own websocket protocol (scripts/bench_class.Session).

Each test runs its own `streamlit run` (the queue is per process). Sessions with their own cookie jar
are different browsers; a session given another's jar is that browser's reload. The server trusts the
X-Forwarded-For of 127.0.0.1, as behind deploy/serve.sh's balancer, so a test can place its clients
at different addresses.
"""

from __future__ import annotations

import asyncio

import pytest

from scripts.class_sessions import Session
from scripts.local_server import running_streamlit
from tests.async_loop import run_async
from tests.factories import LONG, SHORT, TIMEOUT, follow, has, press, progress_of

pytestmark = pytest.mark.server

DONE = ("Trained just now", "**Cached**")


@pytest.fixture
def server(shared_data_dir, tmp_path):
    env = {
        "SOFTMAX_DATA_DIR": str(shared_data_dir),
        "SOFTMAX_RUNS_DIR": str(tmp_path / "runs"),
        "SOFTMAX_TRUSTED_PROXIES": "127.0.0.1",
    }
    with running_streamlit(env) as url:
        yield url


async def browser(url: str, address: str = "192.0.2.1", cookies: dict | None = None) -> Session:
    session = Session(url, cookies=cookies, headers={"X-Forwarded-For": address})
    await session.connect(TIMEOUT)
    return session


def test_clearing_the_cache_during_a_training_keeps_it_and_its_one_worker(server):
    async def scenario():
        a, b, viewer = await browser(server), await browser(server), await browser(server)
        long_q, short_q = f"{LONG}&train_seed=41", f"{SHORT}&train_seed=42"
        shown_a = await follow(a, long_q, await press(a, long_q), has("Epoch "))  # computing
        for _ in range(3):  # what the menu's "Clear cache" sends; the toolbar hides it, the server took it
            await viewer.clear_cache()
        await asyncio.sleep(0.5)
        shown_b = await press(b, short_q)
        assert progress_of(shown_b).startswith("Queued: place 1"), shown_b.texts  # not a second worker
        polled = await follow(a, long_q, shown_a, lambda texts: True)
        assert progress_of(polled), polled.texts  # still shown as running, not "No stored run"
        for _ in range(3):
            await viewer.clear_cache()
        final_a = await follow(a, long_q, polled, has(*DONE))
        assert has("Trained just now")(final_a.texts), final_a.texts  # this server trained it, and says so
        final_b = await follow(b, short_q, shown_b, has(*DONE))
        assert has("Trained just now")(final_b.texts), final_b.texts
        for s in (a, b, viewer):
            await s.close()

    run_async(scenario())


def test_one_students_stop_leaves_the_training_to_the_other(server):
    async def scenario():
        x, y = await browser(server, "192.0.2.1"), await browser(server, "192.0.2.2")
        query = f"{LONG}&train_seed=51"
        shown_x = await press(x, query)
        shown_y = await press(y, query)  # the same settings: joins the one job
        assert progress_of(shown_y), shown_y.texts
        assert has("1 student also waits for it")(shown_y.texts), shown_y.texts
        stopped = await press(x, query, "Stop", shown=shown_x)
        final_y = await follow(y, query, shown_y, has(*DONE, "Nothing was stored"))
        assert has("Trained just now")(final_y.texts), final_y.texts  # x's Stop did not end y's training
        assert "Stop" not in stopped.buttons, stopped.texts  # x no longer waits: no Stop for another's job
        assert has("1 student waits for this training")(stopped.texts), stopped.texts
        for s in (x, y):
            await s.close()

    run_async(scenario())


def test_a_flood_from_one_address_delays_a_student_by_one_and_a_reload_trains_nothing_more(server):
    async def scenario():
        holder = await browser(server, "198.51.100.1")
        hold_q = f"{LONG}&train_seed=61"
        held = await press(holder, hold_q)  # the worker is busy: everything after queues
        held = await follow(holder, hold_q, held, has("Epoch "))
        flood = [await browser(server, "203.0.113.9") for _ in range(6)]  # one client, six fresh browsers
        for i, s in enumerate(flood):
            shown = await press(s, f"{SHORT}&train_seed={700 + i}")
            assert progress_of(shown).startswith("Queued"), shown.texts
        student = await browser(server, "198.51.100.4")
        shown = await press(student, f"{SHORT}&train_seed=800")
        assert progress_of(shown).startswith("Queued: place 2,"), shown.texts  # behind the flood's first only
        reloaded = await browser(server, "198.51.100.4", cookies=student.cookies)  # the same browser, reloaded
        again = await press(reloaded, f"{SHORT}&train_seed=801")
        assert has("You already have a training queued or running")(again.texts), again.texts
        assert not progress_of(again), again.texts
        await press(holder, hold_q, "Stop", shown=held)  # else the server's exit waits for the training to end
        for s in (holder, *flood, student, reloaded):
            await s.close()

    run_async(scenario())
