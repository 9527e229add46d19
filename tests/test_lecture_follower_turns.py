"""Followers' page runs take turns (dashboard/lecture.py, ``run_page``): at most ``FOLLOWER_RUNS_AT_ONCE`` at
once, a turn given back when a run stops early, and nobody else waits for a turn.

The page and the lecture's own parts are fakes here, so that many "sessions" can run ``run_page`` on
threads at once; tests/test_bench_follow.py and tests/test_browser_lecture.py run the real thing.
"""

from __future__ import annotations

import threading
import time

import pytest

from dashboard import lecture

pytestmark = pytest.mark.unit


class Page:
    """A page whose run lasts a moment and counts how many runs overlap."""

    def __init__(self, fail: bool = False):
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.fail = fail

    def run(self):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.05)
            if self.fail:
                raise RuntimeError("stopped early, as a rerun request stops a run")
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def viewer(monkeypatch):
    """Make ``run_page`` see a follower (or, set ``role["following"] = False``, anyone else)."""
    role = {"following": True}
    for name in ("_take_link", "_notice", "follower_banner", "_poll", "start_button", "_check_detached"):
        monkeypatch.setattr(lecture, name, lambda *args: None)
    monkeypatch.setattr(lecture, "is_lecturer", lambda: False)
    monkeypatch.setattr(lecture, "is_follower", lambda: role["following"])
    monkeypatch.setattr(lecture, "following", lambda: role["following"])
    return role


def run_at_once(page: Page, sessions: int) -> list[BaseException]:
    errors: list[BaseException] = []

    def one():
        try:
            lecture.run_page(page)
        except BaseException as exc:  # noqa: BLE001 - collected for the test to read
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_followers_page_runs_take_turns(viewer):
    page = Page()
    assert run_at_once(page, 8) == []
    assert page.most == lecture.FOLLOWER_RUNS_AT_ONCE


def test_a_run_that_stops_early_gives_its_turn_back(viewer):
    failing = Page(fail=True)
    errors = run_at_once(failing, 2 * lecture.FOLLOWER_RUNS_AT_ONCE)
    assert len(errors) == 2 * lecture.FOLLOWER_RUNS_AT_ONCE
    page = Page()
    assert run_at_once(page, 4) == []  # every turn came back: these runs are not stuck waiting
    assert page.most == lecture.FOLLOWER_RUNS_AT_ONCE


def test_nobody_else_waits_for_a_turn(viewer):
    viewer["following"] = False
    page = Page()
    assert run_at_once(page, 8) == []
    assert page.most > lecture.FOLLOWER_RUNS_AT_ONCE
