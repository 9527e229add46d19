"""A student who joined by link names themselves in the lecture banner (AppTest through ``streamlit_app.py``)."""

from __future__ import annotations

import secrets

import pytest
from streamlit.testing.v1 import AppTest

from softmax_core.lecture_rooms import NICKNAME_LIMIT, RoomStore
from tests.conftest import ROOT

pytestmark = pytest.mark.app

HOSTILE = "[Log in](https://evil.example) <b>hi</b>\n**bold**" + "x" * 100


def joined_by_link(code: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    at.query_params["lecture"] = code
    return at.run()


def shown_texts(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown] + [m.value for m in at.caption]


def test_a_nickname_typed_in_the_banner_goes_on_the_students_runs_before_and_after(env):
    rooms = RoomStore(env)
    room, _ = rooms.create("lecturer")
    earlier, later, someone_elses = (secrets.token_hex(16) for _ in range(3))
    at = joined_by_link(room.code)
    assert not at.exception
    me = at.session_state["_lecture_id"]
    rooms.record_run(room.code, earlier, me)  # trained before naming themselves
    rooms.record_run(room.code, someone_elses, secrets.token_urlsafe(12), nickname="Ann")

    field = at.text_input(key="lecture_nickname_banner")
    assert field.max_chars == NICKNAME_LIMIT and field.value == ""
    field.set_value("  Bo \t the\nfirst ").run()
    assert not at.exception
    assert at.session_state["_lecture_nickname"] == "Bo the first"
    assert at.session_state["_lecture_following"]  # a nickname is not a control of the page: still following
    rooms.record_run(room.code, later, me, at.session_state["_lecture_nickname"])
    names = {run.key: run.nickname for run in rooms.class_runs(room.code)}
    assert names == {earlier: "Bo the first", later: "Bo the first", someone_elses: "Ann"}

    at.text_input(key="lecture_nickname_banner").set_value("").run()  # anonymous again
    assert {run.key: run.nickname for run in rooms.class_runs(room.code)}[earlier] == ""


def test_a_hostile_nickname_is_cut_to_one_short_line_and_never_rendered(env):
    rooms = RoomStore(env)
    room, _ = rooms.create("lecturer")
    at = joined_by_link(room.code)
    rooms.record_run(room.code, secrets.token_hex(16), at.session_state["_lecture_id"])
    at.text_input(key="lecture_nickname_banner").set_value(HOSTILE).run()
    assert not at.exception
    [run] = rooms.class_runs(room.code)
    assert run.nickname == " ".join(HOSTILE.split())[:NICKNAME_LIMIT] and "\n" not in run.nickname
    assert not any("evil.example" in text or "<b>" in text for text in shown_texts(at))
