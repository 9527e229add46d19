"""The queue's address is the one HAProxy saw (deploy/serve.sh trusts only its X-Forwarded-For), not one a client wrote.

Clients on this machine come from different loopback addresses (127.0.0.2, 127.0.0.3, ...); every
browser carries the same replica cookie, so they all meet one replica's queue.
"""

from __future__ import annotations

import pytest

from scripts.class_sessions import Session
from tests.async_loop import run_async
from tests.factories import LONG, SHORT, TIMEOUT, follow, has, needs_haproxy, press, progress_of

pytestmark = [pytest.mark.server, needs_haproxy]


async def browser_at(url: str, host: str, replica: dict, forged: str | None = None) -> Session:
    headers = {"X-Forwarded-For": forged} if forged else None
    session = Session(url, cookies=dict(replica), headers=headers, local_host=host)
    await session.connect(TIMEOUT)
    return session


def test_the_balancers_address_orders_the_queue_and_a_forged_one_does_not(replicas):
    async def scenario():
        holder = Session(replicas.url, local_host="127.0.0.5")
        await holder.connect(TIMEOUT)
        replica = {"STREAMLIT_REPLICA": holder.cookies["STREAMLIT_REPLICA"]}
        hold_q = f"{LONG}&train_seed=91"
        held = await follow(holder, hold_q, await press(holder, hold_q), has("Epoch "))  # the worker is busy
        # One client (127.0.0.3) poses as three: a forged X-Forwarded-For on each of three fresh browsers.
        flood = [await browser_at(replicas.url, "127.0.0.3", replica, forged=f"10.0.0.{i}") for i in range(3)]
        for i, s in enumerate(flood):
            shown = await press(s, f"{SHORT}&train_seed={900 + i}")
            assert progress_of(shown).startswith(f"Queued: place {i + 1},"), shown.texts  # one address: in order
        student = await browser_at(replicas.url, "127.0.0.2", replica)
        shown = await press(student, f"{SHORT}&train_seed=950")
        assert progress_of(shown).startswith("Queued: place 2,"), shown.texts  # after the flood's first only
        await press(holder, hold_q, "Stop", shown=held)  # else each replica's exit waits for the training to end
        for s in (holder, *flood, student):
            await s.close()

    run_async(scenario())
