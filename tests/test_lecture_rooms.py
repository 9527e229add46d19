"""Lecture rooms: codes, keys, expiry, the per-client bound, followers and the class's runs, on a real folder."""

from __future__ import annotations

import json
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softmax_core import lecture_rooms as lr
from softmax_core.lecture_rooms import RoomError, RoomLimit, RoomStore

pytestmark = pytest.mark.unit

CONFUSABLE = set("0O1IL")
T0 = 1_800_000_000.0


@pytest.fixture
def store(tmp_path) -> RoomStore:
    return RoomStore(tmp_path / "runs")


def test_codes_use_31_characters_none_of_them_confusable():
    """31 symbols in 6 places: about 887 million codes, none with 0/O, 1/I/L to misread off a projector."""
    seen = set("".join(lr.new_code() for _ in range(400)))  # 2,400 draws: each symbol all but surely turns up
    assert not CONFUSABLE & seen
    assert len(seen) == 31


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10))
def test_new_codes_never_hold_confusable_characters(_):
    code = lr.new_code()
    assert len(code) == lr.CODE_LENGTH
    assert not CONFUSABLE & set(code)
    assert lr.normalize_code(code) == code


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=lr.ALPHABET, min_size=6, max_size=6), st.sampled_from(["", " ", "-"]))
def test_a_code_typed_in_lower_case_or_with_a_dash_reads_back(code, sep):
    typed = (code[:3] + sep + code[3:]).lower()
    assert lr.normalize_code(typed) == code


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_only_six_alphabet_characters_make_a_code(text):
    code = lr.normalize_code(text)
    if code is not None:
        assert len(code) == 6 and set(code) <= set(lr.ALPHABET)


def test_a_room_file_is_inside_the_run_store_and_holds_no_key(store, tmp_path):
    room, key = store.create("10.0.0.1", now=T0)
    path = tmp_path / "runs" / ".rooms" / f"{room.code}.json"
    text = path.read_text()
    assert key not in text
    assert json.loads(text)["key_hash"] == lr.key_hash(key)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]  # the temp file was renamed


def test_the_lecturer_steers_and_every_store_on_the_folder_sees_it(store, tmp_path):
    room, key = store.create("a", now=T0)
    store.publish(room.code, key, "softmax_temperature", [("sm_T", "2")], now=T0 + 1)
    other = RoomStore(tmp_path / "runs")  # another replica, or the server after a restart
    seen = other.get(room.code)
    assert (seen.page, seen.query, seen.version) == ("softmax_temperature", (("sm_T", "2"),), 1)
    store.publish(room.code, key, "softmax_temperature", [("sm_T", "2")], now=T0 + 2)
    assert other.get(room.code).version == 1  # nothing changed: no new version
    store.publish(room.code, key, "softmax_temperature", [("sm_T", "3")], now=T0 + 3)
    assert other.get(room.code).query == (("sm_T", "3"),)
    assert other.get(room.code).version == 2


@settings(max_examples=100, deadline=None)
@given(forged=st.one_of(st.text(max_size=40), st.none(), st.integers(), st.binary(max_size=40)))
def test_a_forged_key_never_steers(tmp_path_factory, forged):
    store = RoomStore(tmp_path_factory.mktemp("forged"))
    room, key = store.create("a", now=T0)
    if forged == key:
        return
    with pytest.raises(RoomError):
        store.publish(room.code, forged, "training", [("train_lr", "9")], now=T0 + 1)
    with pytest.raises(RoomError):
        store.end(room.code, forged, now=T0 + 1)
    assert not store.is_lecturer(room.code, forged, now=T0 + 1)
    after = store.get(room.code)
    assert (after.page, after.query, after.version, after.ended) == ("", (), 0, False)


def test_the_code_itself_and_another_rooms_key_do_not_steer(store):
    room, key = store.create("a", now=T0)
    other, other_key = store.create("b", now=T0)
    for wrong in (room.code, other_key, other.key_hash, room.key_hash, key[:-1], key + "x"):
        with pytest.raises(RoomError):
            store.publish(room.code, wrong, "training", [], now=T0 + 1)
    assert store.is_lecturer(room.code, key, now=T0 + 1)


def test_a_room_expires_hours_after_its_lecturer_was_last_seen(store):
    room, key = store.create("a", now=T0)
    assert store.live(room.code, now=T0 + lr.ROOM_TTL_SECONDS - 1)[0] is not None
    store.publish(room.code, key, "", [], now=T0 + lr.ROOM_TTL_SECONDS - 1)  # a heartbeat
    assert store.live(room.code, now=T0 + 2 * lr.ROOM_TTL_SECONDS - 2)[0] is not None
    gone, sentence = store.live(room.code, now=T0 + 2 * lr.ROOM_TTL_SECONDS)
    assert gone is None and "has ended" in sentence
    with pytest.raises(RoomError):
        store.publish(room.code, key, "x", [], now=T0 + 2 * lr.ROOM_TTL_SECONDS)


def test_an_ended_room_gets_a_sentence_and_takes_no_more_steering(store):
    room, key = store.create("a", now=T0)
    store.end(room.code, key, now=T0 + 5)
    gone, sentence = store.live(room.code, now=T0 + 6)
    assert gone is None and sentence == f"The lecture {room.code} has ended."
    with pytest.raises(RoomError):
        store.publish(room.code, key, "x", [], now=T0 + 7)


def test_wrong_codes_get_a_sentence(store):
    assert "6 letters and digits" in store.live("hello")[1]
    assert store.live("ABCDEF")[1] == "No lecture has the code ABCDEF: check the code on the projector."


def test_creating_rooms_is_bounded_per_client_and_per_hour(store):
    for i in range(lr.ROOMS_PER_CLIENT):
        store.create("phone", now=T0 + i)
    with pytest.raises(RoomLimit):
        store.create("phone", now=T0 + 10)
    store.create("another phone", now=T0 + 10)  # another client is not held back
    store.create("phone", now=T0 + lr.ROOMS_PER_CLIENT_WINDOW + 1)  # an hour later, again


def test_live_rooms_are_bounded_on_the_store(store, monkeypatch):
    monkeypatch.setattr(lr, "MAX_LIVE_ROOMS", 3)
    for i in range(3):
        store.create(f"client {i}", now=T0)
    with pytest.raises(RoomLimit):
        store.create("client 9", now=T0)


def test_old_ended_rooms_are_removed_when_a_room_is_created(store):
    room, key = store.create("a", now=T0)
    store.end(room.code, key, now=T0)
    store.create("b", now=T0 + 60)
    assert store.get(room.code) is not None  # recently ended: its code still says "has ended"
    store.create("b", now=T0 + lr.ROOM_TTL_SECONDS + lr.KEEP_ENDED_SECONDS + 10)
    assert store.get(room.code) is None


def test_followers_are_counted_while_they_poll(store):
    room, _ = store.create("a", now=T0)
    ids = [secrets.token_urlsafe(12) for _ in range(3)]
    for follower in ids:
        store.seen_follower(room.code, follower, now=T0)
    store.seen_follower(room.code, "../../etc", now=T0)  # not an id: ignored
    assert store.follower_count(room.code, now=T0 + 1) == 3
    store.seen_follower(room.code, ids[0], now=T0 + 100)
    assert store.follower_count(room.code, now=T0 + 101) == 1
    store.left(room.code, ids[0])
    assert store.follower_count(room.code, now=T0 + 101) == 0


def test_the_class_runs_count_each_student_and_run_once(store):
    room, _ = store.create("a", now=T0)
    alice, bob = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    assert store.record_run(room.code, "ab" * 32, alice, now=T0 + 1)
    assert not store.record_run(room.code, "ab" * 32, alice, now=T0 + 2)  # the same press again
    assert store.record_run(room.code, "ab" * 32, bob, nickname="  Bob\n<b>the</b>  " * 3, now=T0 + 3)
    assert not store.record_run(room.code, "not hex!", bob, now=T0 + 4)
    runs = store.class_runs(room.code)
    assert [(r.key, r.who) for r in runs] == [("ab" * 32, alice), ("ab" * 32, bob)]
    assert len(runs[1].nickname) == lr.NICKNAME_LIMIT and "\n" not in runs[1].nickname


@given(nickname=st.text(max_size=60))
@settings(max_examples=40, deadline=None)
def test_renaming_a_student_touches_only_their_runs_and_cleans_the_name(tmp_path_factory, nickname):
    store = RoomStore(tmp_path_factory.mktemp("rooms"))
    room, _ = store.create("a", now=T0)
    alice, bob = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    for key, who in (("ab" * 32, alice), ("cd" * 32, alice), ("ab" * 32, bob)):
        store.record_run(room.code, key, who, nickname="Bob" if who == bob else "", now=T0 + 1)
    store.rename_student(room.code, alice, nickname, now=T0 + 2)
    names = {(r.key, r.who): r.nickname for r in store.class_runs(room.code)}
    cleaned = lr.clean_nickname(nickname)
    assert names == {("ab" * 32, alice): cleaned, ("cd" * 32, alice): cleaned, ("ab" * 32, bob): "Bob"}
    assert len(cleaned) <= lr.NICKNAME_LIMIT and "\n" not in cleaned and cleaned == cleaned.strip()


def test_renaming_needs_a_live_room_and_a_student_id(store):
    room, key = store.create("a", now=T0)
    who = secrets.token_urlsafe(12)
    store.record_run(room.code, "ab" * 32, who, now=T0 + 1)
    assert not store.rename_student(room.code, "not an id!", "Eve", now=T0 + 2)
    assert not store.rename_student("ZZZZZZ", who, "Eve", now=T0 + 2)
    store.end(room.code, key, now=T0 + 3)
    assert not store.rename_student(room.code, who, "Eve", now=T0 + 4)
    assert [r.nickname for r in store.class_runs(room.code)] == [""]


def test_an_ended_room_records_nothing(store):
    room, key = store.create("a", now=T0)
    store.end(room.code, key, now=T0 + 1)
    assert not store.record_run(room.code, "cd" * 32, secrets.token_urlsafe(12), now=T0 + 2)


@given(nickname=st.text(max_size=60))
def test_a_cleaned_nickname_cleans_to_itself(nickname):
    """What is stored is what reads back: a cut at the limit that ends on a space drops it."""
    cleaned = lr.clean_nickname(nickname)
    assert lr.clean_nickname(cleaned) == cleaned == cleaned.strip()
    assert len(cleaned) <= lr.NICKNAME_LIMIT


def test_a_cut_that_ends_on_a_space_drops_it():
    assert lr.clean_nickname("0" * 23 + " 0") == "0" * 23
