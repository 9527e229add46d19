"""A browser that loses its replica comes back on the other one (HAProxy's redispatch) with the same view."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.browser import assert_no_error, move_slider, open_page, screenshot
from tests.factories import needs_haproxy

pytestmark = [pytest.mark.browser, needs_haproxy]


def test_a_browser_comes_back_on_the_other_replica_with_the_same_view(replicas, chromium):
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
        # The balancer's cookie is HttpOnly, out of the page's reach: the test reads it from the context.
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
