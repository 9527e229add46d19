"""A browser's clear-cache request leaves the shared caches alone (the upstream behaviour that makes that
needed is checked in tests/test_streamlit_internals.py)."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.runtime.app_session import AppSession

from dashboard import clear_cache_guard

pytestmark = pytest.mark.unit


class _SessionState:
    def __init__(self):
        self.cleared = 0

    def clear(self):
        self.cleared += 1


def _bare_session() -> AppSession:
    """An AppSession without a server: enough for the clear-cache path, which reads only its session state."""
    session = object.__new__(AppSession)
    session._session_state = _SessionState()
    return session


@pytest.fixture
def counted_cache(clear_streamlit_caches):
    """A ``st.cache_resource`` function and how many times it computed."""
    calls = []

    @st.cache_resource
    def shared(x: int) -> int:
        calls.append(x)
        return x

    return shared, calls


def test_a_browsers_clear_cache_message_keeps_the_shared_caches(counted_cache):
    import dashboard.caches  # noqa: F401  (installs the guard, as streamlit_app.py's first run does)

    assert clear_cache_guard.installed() and clear_cache_guard.install() is False  # once per process
    shared, calls = counted_cache
    shared(1)
    session = _bare_session()
    msg = BackMsg()
    msg.clear_cache = True
    for _ in range(4):
        AppSession.handle_backmsg(session, msg)
    shared(1)
    assert calls == [1]
    st.cache_resource.clear()  # the server's own code (and the tests) may still clear
    shared(1)
    assert calls == [1, 1]
