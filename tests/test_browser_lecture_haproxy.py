"""Lecture mode through the HAProxy recipe in Chromium: the lecturer's tab on one replica, a follower's on the other.

``deploy/serve.sh 2`` (the ``replicas`` fixture of tests/conftest.py) starts two replicas on one run store behind a
real HAProxy. Each browser is pinned to a replica by the balancer's own sticky cookie, as a browser is after
its first visit: the projector to r1, the phone to r2. The follower joins through the balancer's address and
follows a slider move and a page change made on the other replica.
"""

from __future__ import annotations

import re

import pytest

from tests.browser import (
    FOLLOW_MS,
    PHONE,
    assert_no_error,
    banner,
    lecturer_moves_the_temperature,
    open_page,
    rerun_after,
    screenshot,
    wait_for_rerun,
)
from tests.factories import needs_haproxy

pytestmark = [pytest.mark.browser, needs_haproxy]

REPLICA_COOKIE = "STREAMLIT_REPLICA"  # deploy/haproxy.cfg: cookie STREAMLIT_REPLICA insert indirect


def pinned(chromium, url: str, replica: str, **options):
    """A browser whose balancer cookie names ``replica``: every request and its websocket go there."""
    context = chromium.new_context(**options)
    context.add_cookies([{"name": REPLICA_COOKIE, "value": replica, "url": url}])
    return context


def replica_of(context) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == REPLICA_COOKIE)


def test_a_follower_on_one_replica_follows_the_lecturer_on_the_other_through_the_balancer(chromium, replicas):
    url = replicas.url
    projector = pinned(chromium, url, "r1", viewport={"width": 1280, "height": 720})
    phone = pinned(chromium, url, "r2", viewport=PHONE, color_scheme="dark")
    try:
        lecturer = projector.new_page()
        open_page(lecturer, f"{url}/softmax_temperature")
        rerun_after(lecturer, lambda: lecturer.get_by_role("button", name="Start a lecture").click())
        code = lecturer.locator(".st-key-lecture_panel code").first.inner_text().replace(" ", "")
        assert re.fullmatch(r"[2-9A-HJKMNP-Z]{6}", code), code
        assert f"{url}/?lecture={code}" in lecturer.locator(".st-key-lecture_panel").inner_text()  # the balancer's

        follower = phone.new_page()
        open_page(follower, f"{url}/?lecture={code}")
        follower.wait_for_url(re.compile(r"/softmax_temperature\?"), timeout=FOLLOW_MS)
        wait_for_rerun(follower)
        assert "Following the lecture" in banner(follower)

        lecturer_moves_the_temperature(lecturer, [follower])
        lecturer.get_by_text("1 following").wait_for(timeout=FOLLOW_MS)

        rerun_after(lecturer, lambda: lecturer.get_by_role("link", name="L1, L2 & Huber losses").click())
        follower.wait_for_url(re.compile(r"/loss_curves\?"), timeout=FOLLOW_MS)
        wait_for_rerun(follower)
        assert "Following the lecture" in banner(follower)

        # Still pinned: the balancer kept each browser on its replica all along.
        assert (replica_of(projector), replica_of(phone)) == ("r1", "r2")
        for name, page in (("projector", lecturer), ("follower", follower)):
            assert_no_error(page)
            screenshot(page, f"lecture-haproxy-{name}")
    finally:
        projector.close()
        phone.close()
