"""The lecture's push: which follower sessions the watch wakes, and when (no server: its effects are fakes)."""

import threading

import pytest

from dashboard import room_watch
from dashboard.room_watch import RoomWatch

pytestmark = pytest.mark.unit


class Fakes:
    def __init__(self):
        self.signatures = {"ABC234": ("inode", 1), "XYZ789": ("inode", 7)}
        self.gone: set[str] = set()
        self.pokes: list[tuple[str, str, str]] = []
        self.now = 100.0

    def signature(self, code):
        return self.signatures.get(code)

    def poke(self, session_id, code, fragment_id):
        self.pokes.append((session_id, code, fragment_id))
        return session_id not in self.gone

    def watch(self):
        return RoomWatch(self.signature, self.poke, clock=lambda: self.now)


def test_a_follower_up_to_date_is_not_woken():
    fakes = Fakes()
    watch = fakes.watch()
    watch.polled("s1", "ABC234", "frag", ("inode", 1))
    assert watch.tick() == 0
    assert fakes.pokes == []


def test_a_change_wakes_every_follower_of_that_room_and_no_other():
    fakes = Fakes()
    watch = fakes.watch()
    watch.polled("s1", "ABC234", "f1", ("inode", 1))
    watch.polled("s2", "ABC234", "f2", ("inode", 1))
    watch.polled("s3", "XYZ789", "f3", ("inode", 7))
    fakes.signatures["ABC234"] = ("inode", 2)
    assert watch.tick() == 2
    assert sorted(fakes.pokes) == [("s1", "ABC234", "f1"), ("s2", "ABC234", "f2")]


def test_a_woken_follower_is_asked_again_until_its_poll_has_read_the_change():
    fakes = Fakes()
    watch = fakes.watch()
    watch.polled("s1", "ABC234", "f1", ("inode", 1))
    fakes.signatures["ABC234"] = ("inode", 2)
    watch.tick()
    fakes.now += room_watch.RETRY_SECONDS / 2
    watch.tick()  # too soon: its poll may be running
    assert len(fakes.pokes) == 1
    fakes.now += room_watch.RETRY_SECONDS
    watch.tick()  # it was busy and did not poll: asked again
    assert len(fakes.pokes) == 2
    watch.polled("s1", "ABC234", "f1", ("inode", 2))  # its poll read the change
    fakes.now += 10 * room_watch.RETRY_SECONDS
    watch.tick()
    assert len(fakes.pokes) == 2


def test_a_closed_session_is_forgotten_and_a_detached_one_is_not_woken():
    fakes = Fakes()
    watch = fakes.watch()
    watch.polled("closed", "ABC234", "f1", ("inode", 1))
    watch.polled("detached", "ABC234", "f2", ("inode", 1))
    watch.forget("detached")
    fakes.gone.add("closed")
    fakes.signatures["ABC234"] = ("inode", 2)
    watch.tick()
    assert fakes.pokes == [("closed", "ABC234", "f1")]
    assert watch.followers() == {}


def test_an_ended_room_wakes_its_followers_so_they_read_the_sentence():
    fakes = Fakes()
    watch = fakes.watch()
    watch.polled("s1", "ABC234", "f1", ("inode", 1))
    del fakes.signatures["ABC234"]  # removed: no signature
    assert watch.tick() == 1


def test_a_nudge_wakes_the_watch_at_once(monkeypatch):
    """The lecturer's own process does not wait for the next tick: with ticks a minute apart, the nudge
    alone makes the watch ask the follower within seconds."""
    monkeypatch.setattr(room_watch, "TICK_SECONDS", 60.0)
    fakes = Fakes()
    asked = threading.Event()

    def poke(session_id, code, fragment_id):
        asked.set()
        return True

    watch = RoomWatch(fakes.signature, poke)
    watch.polled("s1", "ABC234", "f1", ("inode", 1))  # starts the watch's thread
    fakes.signatures["ABC234"] = ("inode", 2)
    assert not asked.wait(0.5)  # no tick yet
    watch.nudge()
    assert asked.wait(10)
