"""The server tells a following student's session that the lecturer moved: no polling from 100 browsers.

One thread per server process ``stat``-s each room that has followers in this process, every
``TICK_SECONDS``. When a room's file changed (the lecturer published), every follower session here that
has not yet seen the new file is asked to catch up now (``lecture.catch_up``: one run of the lecturer's page
with her query, whose poll reads the room as a timer's poll did before). A session busy with a run of its
own is asked again on a later tick, until its poll has seen the change.

Why: with each follower's browser rerunning a poll fragment every second, 100 idle followers cost a
quarter of a core, and the change waited up to a second for the next poll (docs/lecture-mode.md). The
room file lives in the run store's folder, so a follower on one replica sees a lecturer on another.

The logic here takes its two effects as functions (``signature``: the room file's identity or None;
``poke(session_id, code, fragment_id)``: ask a session to catch up with the room, False if it is gone),
so ``tests/test_room_watch.py`` checks it without a server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

TICK_SECONDS = 0.1  # a stat of each followed room this often: ~10 µs each (docs/lecture-mode.md)
RETRY_SECONDS = 0.5  # a session asked but not yet seen to read the change is asked again after this

_LOGGER = logging.getLogger(__name__)


@dataclass
class _Follower:
    code: str
    fragment_id: str
    seen: Hashable  # the room file's signature its last poll read
    asked_at: float = 0.0  # when it was last asked to poll (0: not since it last polled)


class RoomWatch:
    """Which follower sessions of this process follow which room, and a loop that wakes them on a change."""

    def __init__(
        self,
        signature: Callable[[str], Hashable],
        poke: Callable[[str, str, str], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._signature = signature
        self._poke = poke
        self._clock = clock
        self._lock = threading.Lock()
        self._followers: dict[str, _Follower] = {}
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def polled(self, session_id: str, code: str, fragment_id: str, seen: Hashable) -> None:
        """A follower's poll ran and read room ``code`` at signature ``seen``; wake it when that changes."""
        with self._lock:
            self._followers[session_id] = _Follower(code, fragment_id, seen)
        self._start()

    def forget(self, session_id: str) -> None:
        """The session explores on its own, left, or became the lecturer: no more wake-ups."""
        with self._lock:
            self._followers.pop(session_id, None)

    def nudge(self) -> None:
        """A lecturer in this process just wrote her room: look now, not at the next tick (up to
        ``TICK_SECONDS`` later). A lecturer on another replica is found by the tick."""
        self._wake.set()

    def followers(self) -> dict[str, str]:
        """session id -> room code: who is watched now (tests/test_room_watch.py)."""
        with self._lock:
            return {sid: f.code for sid, f in self._followers.items()}

    def tick(self) -> int:
        """Stat every followed room once; ask each follower behind on it to poll. Returns how many were asked."""
        with self._lock:
            followers = list(self._followers.items())
        signatures = {code: self._signature(code) for code in {f.code for _, f in followers}}
        now = self._clock()
        asked = 0
        for session_id, follower in followers:
            if signatures[follower.code] == follower.seen:
                continue
            if follower.asked_at and now - follower.asked_at < RETRY_SECONDS:
                continue
            follower.asked_at = now
            asked += 1
            if not self._poke(session_id, follower.code, follower.fragment_id):
                self.forget(session_id)  # the tab closed or the session ended
        return asked

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="lecture-room-watch", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            self._wake.wait(TICK_SECONDS)
            self._wake.clear()
            try:
                self.tick()
            except Exception:  # one bad tick (a file mid-replace, a session mid-shutdown) must not end the loop
                _LOGGER.exception("lecture room watch: tick failed")
