"""Join links with values a page cannot take: a sentence, shown as text, and never a lecture joined or steered."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from softmax_core.lecture_rooms import RoomStore
from tests.apptest_helpers import messages
from tests.conftest import ROOT

pytestmark = pytest.mark.app


def home(query: dict) -> AppTest:
    """The app's home page (its default) opened with ``query``, run through ``streamlit_app.py``."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


HOSTILE = ["", "x" * 10_000, "[Log in](https://evil.example)", "ABCDEF", "abc 0O1", "<b>hi</b>", "2345678"]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_bad_join_code_gets_a_sentence(env, value):
    at = home({"lecture": value, "lecturer": value})
    assert not at.exception
    said = [m for m in messages(at) if "lecture" in m.lower()]
    assert said and all("](" not in m and "<b>" not in m for m in said)  # as text: no link, no HTML
    assert "_lecture_code" not in at.session_state and "lecturer" not in at.query_params


def test_the_join_link_follows_and_the_lecturer_link_steers(env):
    rooms = RoomStore(env)
    room, key = rooms.create("lecturer")
    follower = home({"lecture": room.code.lower()})
    assert follower.session_state["_lecture_code"] == room.code and "_lecture_key" not in follower.session_state
    lecturer = home({"lecture": room.code, "lecturer": key})
    assert lecturer.session_state["_lecture_key"] == key
    assert "lecturer" not in lecturer.query_params and "lecture" not in lecturer.query_params  # off the projector
    assert "Lecture" in "".join(m.value for m in lecturer.sidebar.markdown)  # her panel, in the sidebar
