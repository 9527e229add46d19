"""Lecture mode in Chromium: a lecturer's projector and three followers' phones, one on another replica.

The replicas of the HAProxy recipe share nothing but the run store's folder; here the second replica is a
second ``streamlit run`` on the same folder (the balancer only routes browsers to one or the other). The
lecturer starts a lecture, moves the temperature and changes page; the followers move with her, one
detaches by moving a control of its own and stays, then follows again and lands where she is.
"""

from __future__ import annotations

import re

import pytest

from tests.browser import (
    FOLLOW_MS,
    PHONE,
    T_SLIDER,
    assert_no_error,
    banner,
    lecturer_moves_the_temperature,
    move_slider,
    open_page,
    rerun_after,
    screenshot,
    temperature,
    wait_for_rerun,
)
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser


def test_a_lecture_with_three_followers_one_on_another_replica(chromium, tmp_path):
    from scripts.local_server import running_streamlit

    env = {"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(tmp_path / "runs")}
    with running_streamlit(env) as url, running_streamlit(env) as other_url:
        projector = chromium.new_context(viewport={"width": 1280, "height": 720})
        phones = [chromium.new_context(viewport=PHONE, color_scheme=s) for s in ("light", "dark", "light")]
        try:
            lecturer = projector.new_page()
            open_page(lecturer, f"{url}/softmax_temperature")
            rerun_after(lecturer, lambda: lecturer.get_by_role("button", name="Start a lecture").click())
            code = lecturer.locator(".st-key-lecture_panel code").first.inner_text().replace(" ", "")
            assert re.fullmatch(r"[2-9A-HJKMNP-Z]{6}", code), code
            assert lecturer.locator(".st-key-lecture_panel img").count() == 1  # the QR code

            # Three ways in: the join link, the code typed on the home page, the link on the other replica.
            followers = [page.new_page() for page in phones]
            open_page(followers[0], f"{url}/?lecture={code}")
            typed = followers[1]
            open_page(typed, url)
            typed.get_by_role("textbox", name="Lecture code").fill(f"{code[:3].lower()} {code[3:].lower()}")
            typed.get_by_role("textbox", name="Nickname (optional)").fill("<b>Ann</b>")
            rerun_after(typed, lambda: typed.get_by_role("button", name="Join the lecture").click())
            open_page(followers[2], f"{other_url}/?lecture={code}")
            for follower in followers:
                follower.wait_for_url(re.compile(r"/softmax_temperature\?"), timeout=FOLLOW_MS)
                wait_for_rerun(follower)
                assert "Following the lecture" in banner(follower)

            wanted = lecturer_moves_the_temperature(lecturer, followers)
            lecturer.get_by_text("3 following").wait_for(timeout=FOLLOW_MS)

            # One explores on her own: a control of her own detaches her.
            explorer = followers[1]
            move_slider(explorer, T_SLIDER, presses=2, key="ArrowLeft")
            assert "exploring on your own" in banner(explorer)
            mine = temperature(explorer)
            assert mine != wanted

            rerun_after(lecturer, lambda: lecturer.get_by_role("link", name="L1, L2 & Huber losses").click())
            for follower in (followers[0], followers[2]):
                follower.wait_for_url(re.compile(r"/loss_curves\?"), timeout=FOLLOW_MS)
                wait_for_rerun(follower)
            wait_for_rerun(explorer)
            assert "/softmax_temperature" in explorer.url and temperature(explorer) == mine

            rerun_after(explorer, lambda: explorer.get_by_role("button", name="Follow the lecture").click())
            explorer.wait_for_url(re.compile(r"/loss_curves\?"), timeout=FOLLOW_MS)
            wait_for_rerun(explorer)
            assert "Following the lecture" in banner(explorer)

            for i, page in enumerate([lecturer, *followers]):
                assert_no_error(page)
                screenshot(page, f"lecture-{'projector' if i == 0 else f'follower-{i}'}")
            rerun_after(lecturer, lambda: lecturer.get_by_role("button", name="Show the QR code large").click())
            qr = lecturer.get_by_role("dialog").locator("img")
            box = qr.bounding_box()
            assert box["height"] >= 400  # big enough to scan from the back of a hall on a 720-pixel projector
            assert box["y"] >= 0 and box["y"] + box["height"] <= 720
            screenshot(lecturer, "lecture-projector-qr")
        finally:
            projector.close()
            for context in phones:
                context.close()
