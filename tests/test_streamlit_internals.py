"""Each workaround in dashboard/streamlit_internals.py: it still works, and a test that fails when it is no
longer needed (Streamlit changed the behaviour it works around) or can no longer work (the internal moved).
Also: no other module of the app uses Streamlit's internals."""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest
import streamlit as st
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner.script_runner import ScriptRunner
from streamlit.testing.v1 import AppTest

from dashboard import streamlit_internals as internals
from tests.conftest import ROOT

pytestmark = pytest.mark.app

# ---------------------------------------------------------------- a two-page app, written for each test

MAIN = """
import streamlit as st
st.navigation([st.Page("first.py", default=True), st.Page("second.py")]).run()
"""
FIRST = """
import streamlit as st
from dashboard import streamlit_internals as internals
st.write(f"pages:{len(internals.registered_pages())}")
st.write(f"hash:{internals.current_page_hash()}")
"""
SECOND = """
import json
import streamlit as st
from dashboard import streamlit_internals as internals
v = st.slider("v", 0.0, 5.0, 1.0, key="v", bind="query-params")
st.write(f"v:{v}")
st.write(f"hash:{internals.current_page_hash()}")
st.write("bound:" + json.dumps([internals.bound_query_param_names(), internals.bound_values_in_url_form(st.session_state)]))
if st.button("history to 4"):
    internals.navigate_as_history("second.py", [("v", "4")])
if st.button("history without v"):
    internals.navigate_as_history("second.py", [])
if st.button("history to a page the app lacks"):
    st.write(f"went:{internals.navigate_as_history('nowhere.py', [('v', '4')])}")
if st.button("switch_page to 4"):
    st.switch_page("second.py", query_params={"v": "4"})
"""


@pytest.fixture
def app(tmp_path, clear_streamlit_caches):
    for name, source in (("app.py", MAIN), ("first.py", FIRST), ("second.py", SECOND)):
        (tmp_path / name).write_text(textwrap.dedent(source))
    return tmp_path


def lines(at, prefix: str) -> list[str]:
    return [m.value.removeprefix(prefix) for m in at.markdown if m.value.startswith(prefix)]


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def on_second_page(app) -> AppTest:
    at = AppTest.from_file(str(app / "app.py"), default_timeout=30).run()
    at.switch_page("second.py").run()
    assert not at.exception and lines(at, "v:") == ["1.0"]
    return at


# ---------------------------------------------------------------- the pages/ folder


@pytest.fixture
def folder_mode_unset():
    saved = PagesManager.uses_pages_directory
    PagesManager.uses_pages_directory = None
    yield
    PagesManager.uses_pages_directory = saved


def test_a_pages_folder_still_starts_streamlit_in_folder_mode(tmp_path, folder_mode_unset):
    """When this fails, a pages/ folder no longer puts Streamlit in its old mode (or the runner no longer
    runs a page alone in it): ``leave_pages_directory_mode`` and dashboard/deep_links.py can go."""
    (tmp_path / "pages").mkdir()
    PagesManager(str(tmp_path / "app.py"))
    assert PagesManager.uses_pages_directory is True
    assert "PagesManager.uses_pages_directory" in inspect.getsource(ScriptRunner._run_script)
    assert internals.leave_pages_directory_mode() is True
    assert PagesManager.uses_pages_directory is False
    assert internals.leave_pages_directory_mode() is False  # once: nothing left to switch off


# ---------------------------------------------------------------- the app's pages, the running page


def test_a_page_sees_every_page_of_the_navigation_and_only_itself_alone(app):
    at = AppTest.from_file(str(app / "app.py"), default_timeout=30).run()
    assert not at.exception and lines(at, "pages:") == ["2"]
    first_hash = lines(at, "hash:")
    at.switch_page("second.py").run()
    assert lines(at, "hash:") != first_hash and all(first_hash + lines(at, "hash:"))  # two pages, two keys
    alone = AppTest.from_file(str(app / "first.py"), default_timeout=30).run()
    assert not alone.exception and lines(alone, "pages:") == ["1"]


def test_outside_a_script_run_there_are_no_pages_and_no_page():
    assert internals.registered_pages() == [] and internals.current_page_hash() == ""
    assert internals.bound_query_param_names() == [] and internals.bound_values_in_url_form({}) == {}


# ---------------------------------------------------------------- controls bound to the URL


def test_a_bound_control_is_named_with_the_text_its_binding_writes(app):
    at = on_second_page(app)
    assert lines(at, "bound:") == ['[["v"], {"v": null}]']  # the default leaves the address
    at.slider[0].set_value(2.5).run()
    assert lines(at, "bound:") == ['[["v"], {"v": ["2.5"]}]']
    at.slider[0].set_value(3.0).run()
    assert lines(at, "bound:") == ['[["v"], {"v": ["3"]}]']  # 3.0 is written 3, as the binding does


# ---------------------------------------------------------------- going to a page as the Back button does


def test_history_navigation_lets_the_url_set_every_bound_control(app):
    at = on_second_page(app)
    at.slider[0].set_value(2.0).run()
    button(at, "history to 4").click().run()
    assert not at.exception and lines(at, "v:") == ["4.0"] and at.query_params == {"v": "4"}
    button(at, "history without v").click().run()
    assert not at.exception and lines(at, "v:") == ["1.0"]  # left out of the URL: the default
    button(at, "history to a page the app lacks").click().run()
    assert lines(at, "went:") == ["False"] and lines(at, "v:") == ["1.0"]


def test_switch_page_still_refuses_a_query_for_a_bound_control(app):
    """When this fails, ``st.switch_page`` takes a bound control's value from its query: then
    ``navigate_as_history`` may go (dashboard/lecture.py can call ``st.switch_page``)."""
    at = on_second_page(app)
    at.slider[0].set_value(2.0).run()
    button(at, "switch_page to 4").click().run()
    assert at.exception  # "Cannot directly set query parameter 'v' - it is bound to a widget"
    assert lines(at, "v:") == ["2.0"]


# ---------------------------------------------------------------- a browser's clear-cache request


class _SessionState:
    def __init__(self):
        self.cleared = 0

    def clear(self):
        self.cleared += 1


def test_streamlits_own_handler_still_clears_every_users_caches(clear_streamlit_caches):
    """When this fails, Streamlit no longer clears everyone's caches on one browser's request: drop
    dashboard/clear_cache_guard.py and ``set_clear_cache_handler``."""
    source = inspect.getsource(AppSession.handle_backmsg)
    assert 'msg_type == "clear_cache"' in source and "self._handle_clear_cache_request()" in source
    calls = []

    @st.cache_resource
    def shared(x: int) -> int:
        calls.append(x)
        return x

    session = object.__new__(AppSession)  # no server: the clear-cache path reads only its session state
    session._session_state = _SessionState()
    shared(1)
    internals.UPSTREAM_CLEAR_CACHE_HANDLER(session)
    shared(1)
    assert calls == [1, 1]  # computed again: the cache every session shares was emptied


def test_the_clear_cache_handler_is_swapped_and_read_back():
    before = internals.clear_cache_handler()

    def refuse(session):
        return None

    try:
        internals.set_clear_cache_handler(refuse)
        assert internals.clear_cache_handler() is refuse and AppSession._handle_clear_cache_request is refuse
    finally:
        internals.set_clear_cache_handler(before)


def test_an_idle_session_still_starts_its_runs_as_run_fragment_does_it():
    """When this fails, ``run_fragment`` (lecture mode's push) must follow Streamlit: an idle session still
    makes a new ScriptRunner in ``request_rerun``, saves no widget states with its last run, and checks that a
    fragment still exists. tests/test_lecture_protocol.py checks the push itself over the websocket."""
    source = inspect.getsource(internals.UPSTREAM_REQUEST_RERUN)  # Streamlit's own, whatever an app run installed
    assert "self._create_scriptrunner(rerun_data)" in source and "self._scriptrunner is not None" in source
    assert "fragment_id and not self.has_fragment(fragment_id)" in source
    saved = inspect.getsource(inspect.getmodule(ScriptRunner))
    assert (
        "final_client_state.query_string = ctx.query_string" in saved
        and "widget_states"
        not in saved.split("final_client_state = ClientState()")[1].split("client_state = final_client_state")[0]
    )


def test_a_run_start_still_keeps_a_queued_address_as_run_page_as_history_needs():
    """When this fails, ``run_page_as_history`` (lecture mode's push) must send the address another way: it
    queues the lecturer's query for the browser, then starts the run, whose start clears the session's queue
    but for a few kinds of message, ``page_info_changed`` among them."""
    from streamlit.runtime.forward_msg_queue import ForwardMsgQueue

    queue = ForwardMsgQueue()
    address = ForwardMsg()
    address.page_info_changed.query_string = "loss_y=1&lecture=ABC234"
    queue.enqueue(address)
    queue.clear(retain_lifecycle_msgs=True)  # what AppSession._clear_queue does when a run starts
    assert [m.page_info_changed.query_string for m in queue.flush()] == ["loss_y=1&lecture=ABC234"]
    assert "self._clear_queue(" in inspect.getsource(AppSession._handle_scriptrunner_event_on_event_loop)
    for private in ("_pages_manager", "_script_data", "_client_state", "_scriptrunner"):
        assert f"self.{private}" in inspect.getsource(AppSession.__init__), private


def test_outside_a_server_there_is_no_session_to_start():
    assert internals.this_session_id() is None and internals.this_fragment_id() is None
    assert internals.run_fragment("no-such-session", "no-such-fragment") is False
    assert internals.run_page_as_history("no-such-session", "no-such-fragment", "pages/home.py", str) is False
    assert internals.running_page_is("pages/home.py") is False


def test_apptest_still_scans_every_installed_package_on_each_run_so_the_suite_scans_once():
    """When this fails, AppTest no longer makes a component manager that scans every installed package's
    metadata on each run: drop ``_scan_installed_components_once`` in tests/conftest.py."""
    source = inspect.getsource(AppTest._run)
    assert "BidiComponentManager()" in source and "discover_and_register_components" in source
    from streamlit.components.v2 import manifest_scanner

    assert hasattr(manifest_scanner.scan_component_manifests, "cache_info")  # the suite's one scan


# ---------------------------------------------------------------- one place

# Modules that still reach Streamlit's internals themselves, each with the wrapper it should call instead.
# The lead empties this list at the merge (the owners of these files were editing them meanwhile).
NOT_YET_THROUGH_THE_WRAPPERS = {}
PUBLIC_SUBMODULES = {"streamlit.errors"}  # documented exceptions (StreamlitAPIException, ...)


def internals_used(path) -> list[str]:
    """The imports in ``path`` of a Streamlit submodule other than the public ones, or of a private name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [alias.name for alias in node.names]
            if node.module.startswith("streamlit.") and node.module not in PUBLIC_SUBMODULES:
                found.append(node.module)
            found += [f"{node.module}.{name}" for name in names if name.startswith("_") and name != "__future__"]
            if node.module.split(".")[0].startswith("_") and node.module != "__future__":
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("streamlit.") or a.name.startswith("_")]
    return found


def test_only_streamlit_internals_uses_streamlits_internals():
    files = [
        *sorted((ROOT / "dashboard").rglob("*.py")),
        *sorted((ROOT / "pages").glob("*.py")),
        ROOT / "streamlit_app.py",
    ]
    offenders = {}
    for path in files:
        name = path.relative_to(ROOT).as_posix()
        if name in ("dashboard/streamlit_internals.py", *NOT_YET_THROUGH_THE_WRAPPERS):
            continue
        used = internals_used(path)
        if used:
            offenders[name] = used
    assert offenders == {}
    assert internals_used(ROOT / "dashboard" / "streamlit_internals.py")  # the check sees what it looks for
