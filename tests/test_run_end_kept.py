"""A rerun asked for in the moment a run ends: the ended run's messages still reach the browser.

A real ``AppSession`` and its ``ScriptRunner`` threads on an event loop of the test's own (no server, no
socket). The test holds the event loop while a full run ends, so every event of that run waits on it, then
asks for a fragment run as a browser's timer would, in that moment: the race a lecture follower met when its
poll's timer fired as the server's push run ended (``streamlit_internals.keep_the_end_of_each_run``).
"""

from __future__ import annotations

import ast
import asyncio
import time
from unittest import mock

import pytest
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.script_data import ScriptData
from streamlit.runtime.scriptrunner.script_cache import ScriptCache

from dashboard import streamlit_internals as internals
from tests.async_loop import run_async
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

SCRIPT = """
import streamlit as st

st.markdown("the full run's last element")

@st.fragment(run_every=60)
def timer():
    st.markdown("the timer's element")

timer()
"""


async def _idle(session: AppSession, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while session._scriptrunner is not None:
        assert time.monotonic() < deadline, "the session's runs did not end"
        await asyncio.sleep(0.01)


async def _asked_as_a_run_ends(script_path: str, requests) -> list[ForwardMsg]:
    """What the browser is sent from the start of a full run to the end of the runs that ``requests(fragment id
    of the page's timer)`` (client states, in order) ask for in the moment it ended."""
    session = AppSession(ScriptData(script_path), MemoryUploadedFileManager("/upload"), ScriptCache(), None, {})
    try:
        session.request_rerun(None)  # the page's first run registers the timer's fragment
        await _idle(session)
        (fragment_id,) = [f for f in session._fragment_storage._fragments if session.has_fragment(f)]
        session.flush_browser_queue()

        session.request_rerun(None)  # a full run (a lecture's push, in the app)
        session._scriptrunner._script_thread.join(30)  # the loop is held: the run ends, its events wait here
        for client_state in requests(fragment_id):  # in that moment
            session.request_rerun(client_state)
        await _idle(session)
        return session.flush_browser_queue()
    finally:
        session.shutdown()


def _the_timer(fragment_id: str) -> list[ClientState]:
    return [ClientState(fragment_id=fragment_id, is_auto_rerun=True)]


def _a_click_then_the_timer(fragment_id: str) -> list[ClientState]:
    return [
        ClientState(query_string="clicked=1"),  # a click: a full run
        ClientState(fragment_id=fragment_id, is_auto_rerun=True, query_string="clicked=1"),
    ]


def _what_arrived(messages: list[ForwardMsg]) -> tuple[list[str], list[int]]:
    texts = [
        m.delta.new_element.markdown.body
        for m in messages
        if m.WhichOneof("type") == "delta" and m.delta.new_element.WhichOneof("type") == "markdown"
    ]
    finishes = [m.script_finished for m in messages if m.WhichOneof("type") == "script_finished"]
    return texts, finishes


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "app.py"
    path.write_text(SCRIPT)
    # No server: the runner's media and dataframe bookkeeping goes to a stand-in.
    with mock.patch("streamlit.runtime.get_instance"):
        yield str(path)


@pytest.fixture
def upstream_request_rerun():
    """Streamlit's own ``request_rerun`` for this test, whatever an earlier test in this process installed."""
    installed = AppSession.request_rerun
    AppSession.request_rerun = internals.UPSTREAM_REQUEST_RERUN
    yield
    AppSession.request_rerun = installed


def test_the_ended_run_reaches_the_browser_before_the_timers_run(script, upstream_request_rerun):
    assert internals.keep_the_end_of_each_run() is True
    assert internals.keep_the_end_of_each_run() is False  # once per process

    texts, finishes = _what_arrived(run_async(_asked_as_a_run_ends(script, _the_timer)))

    assert "the full run's last element" in texts
    assert finishes == [ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY]


def test_streamlit_alone_still_drops_the_ended_run_so_the_workaround_is_needed(script, upstream_request_rerun):
    """When this fails, Streamlit delivers the end of a run whatever comes after it: the workaround can go."""
    texts, finishes = _what_arrived(run_async(_asked_as_a_run_ends(script, _the_timer)))

    assert "the full run's last element" not in texts
    assert finishes == [ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY]


def test_requests_held_for_an_ending_run_are_made_in_the_order_they_came(script, upstream_request_rerun):
    """Two requests in the moment a run ends (a click, then the timer). The click's full run follows the ended run,
    and the timer's run comes after it (or is folded into it), in every order the threads take: the click's run
    may itself have ended before the timer's request is made (this small page runs in about a millisecond)."""
    internals.keep_the_end_of_each_run()

    for _ in range(50):  # the threads' order varies from one try to the next
        texts, finishes = _what_arrived(run_async(_asked_as_a_run_ends(script, _a_click_then_the_timer)))
        # Nothing flushed the queue in between, so the click's run took the ended run's place, as Streamlit does
        # when a full run starts before the browser was sent the last one: its finish says it ended for a rerun.
        assert finishes[:2] == [ForwardMsg.FINISHED_EARLY_FOR_RERUN, ForwardMsg.FINISHED_SUCCESSFULLY]
        assert finishes[2:] in ([], [ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY])
        assert texts.count("the full run's last element") == 1


def test_the_app_installs_it_before_any_page_runs():
    """``streamlit_app.py`` calls it at module level, before ``st.navigation`` (so on the server's first run)."""
    tree = ast.parse((ROOT / "streamlit_app.py").read_text())
    calls = [
        node.value.func.id
        for node in tree.body
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
    ]
    assert "keep_the_end_of_each_run" in calls
    assert calls.index("keep_the_end_of_each_run") < calls.index("run_page")


def test_a_reimport_after_the_install_still_finds_streamlits_own(upstream_request_rerun):
    """A reload of the module (Streamlit's file watcher, in development) must not take the installed one as
    Streamlit's own: it would call itself."""
    import importlib

    internals.keep_the_end_of_each_run()
    reloaded = importlib.reload(internals)
    try:
        assert reloaded.UPSTREAM_REQUEST_RERUN is AppSession.request_rerun.upstream
        assert reloaded.UPSTREAM_REQUEST_RERUN.__qualname__ == "AppSession.request_rerun"
    finally:
        importlib.reload(internals)  # leave one module object behind, as the other tests found it
