"""A browser's "Clear cache" request no longer empties the caches every student shares.

Streamlit 1.67 lets any session send ``BackMsg(clear_cache=True)`` (what the menu's "Clear
cache" sends), whatever ``client.toolbarMode`` shows, and handles it by clearing ``st.cache_data``
and ``st.cache_resource`` for every user of the server. Streamlit offers no setting to refuse it.
On a server a class shares, that lets one viewer throw away every figure and result the class
needs (each page load then rebuilds them), again and again. So the request is handled here
in one place: it clears nothing shared, and the server log says it was refused. The handler is
swapped through ``dashboard/streamlit_internals.py``, where every private internal is used. To
empty the caches, restart the server (their keys include each function's source, so code
changes never need a clear).

``tests/test_streamlit_internals.py`` checks Streamlit's own handler still clears for everyone:
when that test fails, Streamlit has changed this and the guard may go.
"""

from __future__ import annotations

import logging
import threading

from dashboard.streamlit_internals import clear_cache_handler, set_clear_cache_handler

_LOGGER = logging.getLogger(__name__)
_lock = threading.Lock()


def _refuse_shared_clear(session) -> None:
    """Streamlit's handler would clear every user's caches: do nothing, and say so in the server log."""
    _LOGGER.info("A browser asked to clear the server's caches; refused: every session shares them.")


def install() -> bool:
    """Once per process: every session's clear-cache request goes to ``_refuse_shared_clear``. True if installed now."""
    with _lock:
        if clear_cache_handler() is _refuse_shared_clear:
            return False
        set_clear_cache_handler(_refuse_shared_clear)
        return True


def installed() -> bool:
    return clear_cache_handler() is _refuse_shared_clear
