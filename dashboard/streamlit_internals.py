"""Every use of Streamlit's private internals, in one place, each a named function.

Streamlit 1.67 has no public API for any of these. Each function says why the app needs it and
names the upstream issue (or says that none was found); ``tests/test_streamlit_internals.py`` has
a test per workaround that fails when Streamlit changes what it relies on, or when the reason for
it is gone: then the workaround can go, or must follow Streamlit.

Nothing else in ``dashboard/`` or ``pages/`` should import ``streamlit.runtime``, ``streamlit.commands``
or a private name; ``tests/test_streamlit_internals.py`` checks that too.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import weakref
from collections.abc import Callable
from urllib.parse import urlencode

from streamlit.commands.execution_control import _force_yield_point
from streamlit.file_util import get_main_script_directory
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime import Runtime
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.runtime_util import MESSAGE_FLUSH_INTERVAL_SECS
from streamlit.runtime.scriptrunner import RerunData, get_script_run_ctx
from streamlit.runtime.scriptrunner_utils.script_requests import ScriptRequestType
from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState
from streamlit.runtime.state.query_params import _coerce_value_for_query_url, _format_number_for_query_url

# ---------------------------------------------------------------- the pages/ folder and st.navigation


def leave_pages_directory_mode() -> bool:
    """Switch off Streamlit's folder-based multipage mode; True if it was on (the caller then reruns).

    Streamlit starts in that mode whenever a ``pages/`` folder sits beside the main script, and leaves
    it only when ``st.navigation`` first runs: a deep link arriving first after a server start would run
    the page file on its own (no page config, file names in the sidebar). The project keeps ``pages/``
    (its agreed layout), which Streamlit's own log advises against ("st.navigation was called in an app
    with a pages/ directory"). Upstream: no open issue found for this case; the nearest,
    streamlit/streamlit#9624 and #9992 (a deep link on first load with ``st.navigation``), are closed.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        return True
    return False


def registered_pages() -> list[dict]:
    """The pages of this run's app (Streamlit's PageInfo dicts: ``script_path``, ``page_script_hash``, ...).

    One page when a page file runs alone (AppTest of one page), every page of ``st.navigation`` inside
    the app. Streamlit has no public way to list an app's pages from a page; upstream: no issue found.
    """
    ctx = get_script_run_ctx()
    return list(ctx.pages_manager.get_pages().values()) if ctx is not None else []


def current_page_hash() -> str:
    """The running page's script hash ("" outside a script run): a key that tells pages apart.

    No public API names the running page from inside it; upstream: no issue found.
    """
    ctx = get_script_run_ctx()
    return ctx.page_script_hash if ctx is not None else ""


def _page_hash(pages_manager: PagesManager, main_script_path: str, target: str) -> str | None:
    """The script hash of page file ``target`` (relative to the main script, as for ``st.switch_page``), or
    None if the app has no such page."""
    wanted = os.path.realpath(os.path.join(get_main_script_directory(main_script_path), target))
    hashes = [p["page_script_hash"] for p in pages_manager.get_pages().values() if p["script_path"] == wanted]
    return hashes[0] if hashes else None


def running_page_is(target: str) -> bool:
    """Whether this run runs page file ``target`` (relative to the main script, as for ``st.switch_page``).

    Lecture mode's poll asks it of the run the push started (dashboard/lecture.py, ``shows``). No public
    API names the running page's file from inside it; upstream: no issue found.
    """
    ctx = get_script_run_ctx()
    if ctx is None:
        return False
    return _page_hash(ctx.pages_manager, ctx.main_script_path, target) == ctx.page_script_hash


# ---------------------------------------------------------------- a browser's clear-cache request

UPSTREAM_CLEAR_CACHE_HANDLER = AppSession._handle_clear_cache_request


def clear_cache_handler() -> Callable[[AppSession], None]:
    """What every session runs when a browser sends ``BackMsg(clear_cache=True)``."""
    return AppSession._handle_clear_cache_request


def set_clear_cache_handler(handler: Callable[[AppSession], None]) -> None:
    """Every session's clear-cache request goes to ``handler`` (see dashboard/clear_cache_guard.py for why).

    Streamlit clears ``st.cache_data`` and ``st.cache_resource`` for every user of the server when
    any session asks, whatever ``client.toolbarMode`` shows, and offers no setting to refuse it.
    Upstream: no issue found that asks for one; streamlit/streamlit#16954 (open) asks only to rebind
    the "c" shortcut.
    """
    AppSession._handle_clear_cache_request = handler


# ---------------------------------------------------------------- a rerun request in the moment a run ends

# Streamlit's own (``upstream``: what an earlier import of this module installed kept it, e.g. after a reload in development)
UPSTREAM_REQUEST_RERUN = getattr(AppSession.request_rerun, "upstream", AppSession.request_rerun)

_held: weakref.WeakKeyDictionary[AppSession, list] = weakref.WeakKeyDictionary()  # session -> requests held, in order
_held_lock = threading.Lock()


def _runner_is_ending(session: AppSession) -> bool:
    """The session's runner has stopped (its run ended, or a stop was asked) and its end has not been handled yet."""
    runner = session._scriptrunner
    return runner is not None and runner._requests._state is ScriptRequestType.STOP


def _request_rerun_in_order(session: AppSession, client_state=None) -> None:
    """``AppSession.request_rerun``, except that a request reaching a session whose runner has stopped, but whose
    last events still wait on the event loop, is held until they are handled; held requests are made in the
    order they came.

    Streamlit 1.67 starts a new runner for such a request at once, and the session then ignores every event of
    the stopped runner still queued ("Ignoring event from non-current ScriptRunner"): the end of its last run,
    its last elements and its ``script_finished``, never reach the browser. A follower whose browser timer asked
    for the lecture poll just as the server's push run ended kept a half-drawn page and missed that change
    (docs/lecture-mode.md). On a busy server the window is long: the event loop handles a runner's events up to
    half a second after they were sent. A runner queues its run's events before it stops, so one turn of the
    event loop is enough. Upstream: no issue found.
    """
    with _held_lock:
        held = _held.get(session)
        if held is None and _runner_is_ending(session):
            held = _held[session] = []
            session._call_soon_on_event_loop(functools.partial(_release_held, session, session._scriptrunner))
        if held is not None:
            held.append(client_state)
            return
    UPSTREAM_REQUEST_RERUN(session, client_state)


def _release_held(session: AppSession, waited_for=None) -> None:
    """On the event loop, after the events that runner ``waited_for`` queued: make the first held request. The
    next one waits in the same way for the run this one starts, which on a small page may have ended already."""
    runner = session._scriptrunner
    if runner is not waited_for and _runner_is_ending(session):
        session._event_loop.call_soon(_release_held, session, runner)
        return
    with _held_lock:
        held = _held.get(session)
        if not held:
            _held.pop(session, None)
            return
        client_state = held.pop(0)
        if not held:
            del _held[session]
    UPSTREAM_REQUEST_RERUN(session, client_state)
    if held:
        session._event_loop.call_soon(_release_held, session, None)


def keep_the_end_of_each_run() -> bool:
    """Once per process: every session's rerun requests go through :func:`_request_rerun_in_order`. True if
    installed now."""
    if AppSession.request_rerun is _request_rerun_in_order:
        return False
    _request_rerun_in_order.upstream = UPSTREAM_REQUEST_RERUN
    AppSession.request_rerun = _request_rerun_in_order
    return True


# ---------------------------------------------------------------- controls bound to the URL


def bound_query_param_names() -> list[str]:
    """The query parameters bound to a widget (``bind="query-params"``) in this run.

    Upstream: no public list of the bindings; no issue found.
    """
    ctx = get_script_run_ctx()
    query_params = getattr(ctx.session_state._state, "query_params", None) if ctx is not None else None
    return list(getattr(query_params, "_bindings_by_param", {}))


def bound_values_in_url_form(session_state) -> dict[str, str | list[str] | None]:
    """Each control bound to the URL in this run, with the text its binding writes to the address bar
    for its current value in ``session_state`` (None for its default value, which the binding leaves out).

    ``st.query_params`` is not refreshed on same-page reruns in Streamlit 1.67, so a control the user
    just moved may still show its old value there; this reads the widget's value and serialises it as
    the binding does. Upstream: streamlit/streamlit#16989 (merged) syncs ``st.query_params`` on
    same-page back/forward only; no issue found for same-page widget changes.
    """
    ctx = get_script_run_ctx()
    state = ctx.session_state._state if ctx is not None else None
    query_params = getattr(state, "query_params", None)
    if query_params is None:
        return {}
    widgets = state._new_widget_state.widget_metadata
    drawn = ctx.shared.widget_ids_this_run  # a page switch keeps the last page's bindings until the run ends
    values: dict[str, str | list[str] | None] = {}
    for name, binding in list(query_params._bindings_by_param.items()):
        meta = widgets.get(binding.widget_id)
        if meta is None or name not in session_state or binding.widget_id not in drawn:
            continue
        value = session_state[name]
        if value == meta.deserializer(None):
            values[name] = None
            continue
        serialized = meta.serializer(value)
        values[name] = (
            _format_number_for_query_url(serialized)  # 1.0 -> "1", as the binding writes it
            if binding.value_type == "double_value"
            else _coerce_value_for_query_url(serialized, binding.value_type)
        )
    return values


# ---------------------------------------------------------------- going to a page as the Back button does


def navigate_as_history(target: str, pairs: list[tuple[str, str]]) -> bool:
    """Open page file ``target`` (relative to the main script) with query ``pairs`` as the browser's Back
    button would: every bound control takes its value from the URL (its default when the URL leaves it out).

    ``st.switch_page`` refuses a query that names a control bound on the current page and keeps the
    controls' session values over the URL; Streamlit's history navigation is the one rerun where the URL
    wins. This is the body of ``st.switch_page`` (Streamlit 1.67) with that flag set. False if the app has
    no such page (nothing happens); otherwise the rerun is taken here and this does not return.
    Upstream: streamlit/streamlit#16998 (open) restores bound widgets on back/forward; no public API
    switches page with the URL winning.
    """
    ctx = get_script_run_ctx()
    page_hash = _page_hash(ctx.pages_manager, ctx.main_script_path, target)
    if page_hash is None:
        return False
    query_string = urlencode(pairs)
    with ctx.session_state.query_params() as query_params:
        query_params.populate_from_query_string(query_string)
        query_params._send_query_param_msg()  # the browser's address bar
    time.sleep(2 * MESSAGE_FLUSH_INTERVAL_SECS)  # as st.switch_page: the address reaches the browser first
    ctx.script_requests.request_rerun(
        RerunData(
            query_string=query_string,
            page_script_hash=page_hash,
            is_history_navigation=True,
            cached_message_hashes=ctx.cached_message_hashes,
            context_info=ctx.context_info,
        )
    )
    _force_yield_point()  # the runner takes the rerun here, as in st.switch_page
    return True


# ---------------------------------------------------------------- the server starting a session's fragment


def this_session_id() -> str | None:
    """The running session's id (None outside a server, e.g. in AppTest)."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None and Runtime.exists() else None


def this_fragment_id() -> str | None:
    """The id of the fragment whose body is running, in a full run or its own (None outside a fragment)."""
    return ThreadState.get().fragment_id if get_script_run_ctx() is not None else None


def _when_idle(session_id: str, fragment_id: str, start: Callable[[AppSession], None]) -> bool:
    """Call ``start(session)`` on session ``session_id``'s event loop if, by then, it has no run going or waiting
    and its last run drew fragment ``fragment_id``; False if the session is gone (closed tab, ended,
    disconnected).

    Called from a watcher thread, so the request is made on the session's event loop, where the browser's
    own messages are handled. A session with a run going or pending is left alone (its own run reads the
    room too, and a request here would replace that run's page and query with the last ones); so is one whose
    page no longer draws the fragment (it stopped following). The watcher asks again.
    """
    if not Runtime.exists():
        return False
    info = Runtime.instance()._session_mgr.get_active_session_info(session_id)
    if info is None:
        return False
    session = info.session

    def on_event_loop() -> None:
        if session._scriptrunner is None and session.has_fragment(fragment_id):
            start(session)

    session._call_soon_on_event_loop(on_event_loop)
    return True


def _start_fragment(session: AppSession, fragment_id: str) -> None:
    """An idle session's run of ``fragment_id`` with its last run's page and query, as its browser's timer
    would ask for it, except that the controls keep the values they have (``widget_states=None``: the saved
    client state holds no widget states)."""
    last = session._client_state  # the last finished run's page, query and browser context
    session._create_scriptrunner(
        RerunData(
            query_string=last.query_string,
            page_script_hash=last.page_script_hash,
            fragment_id=fragment_id,
            is_auto_rerun=True,
            widget_states=None,  # the controls keep their values (the browser's last message set them)
            context_info=last.context_info if last.HasField("context_info") else None,
        )
    )


def run_fragment(session_id: str, fragment_id: str) -> bool:
    """Ask session ``session_id`` to run fragment ``fragment_id`` now, as its browser's timer would; False if the
    session is gone.

    Lecture mode's push (dashboard/lecture.py, ``catch_up``) for an ended room or a page this version lacks:
    the follower's poll says so or stays. This is ``AppSession.request_rerun`` for an idle session with the
    last run's page and query (see :func:`_when_idle`, :func:`_start_fragment`). Upstream:
    streamlit/streamlit#2838 (open, "Trigger a script re-run from another thread") asks for a public way.
    """
    return _when_idle(session_id, fragment_id, lambda session: _start_fragment(session, fragment_id))


def run_page_as_history(session_id: str, fragment_id: str, target: str, query_for: Callable[[str], str]) -> bool:
    """Ask idle session ``session_id`` to open page file ``target`` with the query ``query_for(its last query)``,
    as :func:`navigate_as_history` would from inside the session's run; False if the session is gone.

    Lecture mode's push (dashboard/lecture.py, ``catch_up``): one run shows the follower the lecturer's page,
    where starting the follower's poll fragment (:func:`run_fragment`) costs a second run, the fragment's,
    before it (a fragment run is about 5 ms of server CPU here: docs/lecture-mode.md). The same guards as
    :func:`run_fragment` (:func:`_when_idle`). The address goes to the browser first, as ``st.switch_page``
    sends it (a run's start keeps a queued ``page_info_changed``). A ``target`` the app does not have starts
    the fragment instead. Upstream: streamlit/streamlit#2838 (open) for a public way to start a session's run
    from another thread.
    """

    def start(session: AppSession) -> None:
        page_hash = _page_hash(session._pages_manager, session._script_data.main_script_path, target)
        if page_hash is None:
            _start_fragment(session, fragment_id)
            return
        last = session._client_state
        query_string = query_for(last.query_string)
        address = ForwardMsg()
        address.page_info_changed.query_string = query_string
        session._enqueue_forward_msg(address)
        session._create_scriptrunner(
            RerunData(
                query_string=query_string,
                page_script_hash=page_hash,
                is_history_navigation=True,  # the URL wins over the controls' session values
                widget_states=None,
                cached_message_hashes=frozenset(last.cached_message_hashes),
                context_info=last.context_info if last.HasField("context_info") else None,
            )
        )

    return _when_idle(session_id, fragment_id, start)
