"""Shared fixtures (clean Streamlit caches, the shared dataset, an AppTest's settings) and the test lanes.

Every test module names its lane in one line after its imports, ``pytestmark = pytest.mark.unit`` (or app,
process, server, browser: pytest.ini says what each runs). Collection fails for a module without exactly
one lane, and a unit or app test that starts a child process or listens on a socket fails: the fast lane
(``-m "unit or app"``) stays inside the test process.
"""

from __future__ import annotations

import functools
import multiprocessing.process
import os
import re
import socket
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
import torch  # noqa: F401  its first import runs /sbin/ldconfig (a CUDA probe): here, not in a guarded test

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SOFTMAX_TEST_DATA_DIR", ROOT.parent / "shared" / "data" / "fashion-mnist"))

LANES = ("unit", "app", "process", "server", "browser")  # described in pytest.ini's markers
IN_PROCESS_LANES = ("unit", "app")
# Under pytest-xdist (`-n 2`; pytest.ini adds `--dist loadgroup`) each module runs whole on one worker, so
# what its module-scoped fixtures build (a server, a store of trained runs) is built once; a module marked
# `xdist_group("measures")` shares one worker with the others so marked, one after another (the benchmarks
# do not run beside each other).
_LANE = pytest.StashKey[str]()
_REFUSED = pytest.StashKey[list]()


def pytest_configure(config):
    declared = {line.split(":")[0].strip() for line in config.getini("markers")}
    missing = [lane for lane in LANES if lane not in declared]
    if missing:
        raise pytest.UsageError(f"pytest.ini declares no marker for the lane(s) {missing}")
    _scan_installed_components_once()


def _scan_installed_components_once() -> None:
    """Every ``AppTest`` run scans the metadata of every installed package for Streamlit components (its
    ``BidiComponentManager`` is made per AppTest): two thirds of a warm AppTest run of a page, 0.14 s of
    0.22 s (docs/testing.md). The installed packages do not change during a test session: scan once.
    ``tests/test_streamlit_internals.py`` fails when AppTest no longer scans on each run (then this can go)."""
    from streamlit.components.v2 import manifest_scanner

    if not hasattr(manifest_scanner.scan_component_manifests, "cache_info"):
        manifest_scanner.scan_component_manifests = functools.cache(manifest_scanner.scan_component_manifests)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Give each test its module's lane (and its xdist group); stop the run if a module has none, or more than one."""
    problems: dict[str, str] = {}
    for item in items:
        lane, problem = _module_lane(item, Path(str(item.path)))
        if problem:
            problems.setdefault(item.nodeid.split("::")[0], problem)
        else:
            item.stash[_LANE] = lane
            if not item.get_closest_marker("xdist_group"):
                item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    if problems:
        raise pytest.UsageError(
            "every test module names exactly one lane (pytest.ini, docs/testing.md):\n"
            + "\n".join(f"  {path}: {problem}" for path, problem in sorted(problems.items()))
        )


def _module_lane(item, path: Path) -> tuple[str, str]:
    """(the lane, "") from the module's ``pytestmark``, or ("", what is wrong and the line that fixes it)."""
    marks = getattr(item.module, "pytestmark", [])
    module_lanes = [m.name for m in (marks if isinstance(marks, list) else [marks]) if m.name in LANES]
    own_lanes = [
        mark.name
        for node in item.listchain()
        if not isinstance(node, pytest.Module | pytest.Package | pytest.Session)
        for mark in node.own_markers
        if mark.name in LANES
    ]
    if own_lanes:
        return "", (
            f"{item.name} carries its own lane ({own_lanes[0]}): one module is one lane; move the test to a "
            f"module with `pytestmark = pytest.mark.{own_lanes[0]}`"
        )
    if len(module_lanes) == 1:
        return module_lanes[0], ""
    if module_lanes:
        return "", f"names the lanes {module_lanes}: keep one, split the module if its tests differ"
    guess = _guess_lane(path.read_text())
    return "", (
        f"has no lane: add `pytestmark = pytest.mark.{guess}` after its imports (a guess from its text; "
        f"`import pytest` first if it has none)"
    )


def _guess_lane(source: str) -> str:
    """The lane a module's text suggests, for the message that asks for one."""
    hints = [
        ("browser", r"\bchromium\b|\bapp_url\b|tests\.browser"),
        ("server", r"running_streamlit|start_streamlit|serve_replicas|run_bench_class|websockets|\bSession\("),
        ("process", r"\bsubprocess\b|\bmultiprocessing\b"),
        ("app", r"AppTest|apptest_helpers"),
    ]
    return next((lane for lane, pattern in hints if re.search(pattern, source)), "unit")


class LaneViolation(Exception):
    """A unit or app test did something only the process, server and browser lanes may do."""


def _refuse(item, what: str):
    """A stand-in that refuses (and remembers refusing, in case the test catches the exception)."""

    def refused(*args, **kwargs):
        doing = f"{what} ({str(args[1])[:120]})" if what == "starts a child process" and len(args) > 1 else what
        message = (
            f"{item.nodeid} is in the {item.stash[_LANE]} lane, which runs inside the test process, but it {doing}: "
            "move it to a module with `pytestmark = pytest.mark.process` (a child program that ends by itself) "
            "or `pytestmark = pytest.mark.server` (a server)"
        )
        item.stash.setdefault(_REFUSED, []).append(message)
        raise LaneViolation(message)

    return refused


def _guarded(item) -> ExitStack:
    """While a unit or app test runs, starting a process or listening on a socket raises LaneViolation."""
    stack = ExitStack()
    if item.stash.get(_LANE, "") in IN_PROCESS_LANES:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setattr(subprocess.Popen, "__init__", _refuse(item, "starts a child process"))
        patch.setattr(multiprocessing.process.BaseProcess, "start", _refuse(item, "starts a worker process"))
        patch.setattr(socket.socket, "listen", _refuse(item, "listens on a socket (a server)"))
    return stack


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    with _guarded(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with _guarded(item):
        result = yield
    if item.stash.get(_REFUSED, []):
        raise LaneViolation(item.stash[_REFUSED][0])
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    with _guarded(item):
        return (yield)


@pytest.fixture
def clear_streamlit_caches():
    """Caches outlive AppTest instances in one process; start each app test cold."""
    import streamlit as st

    from dashboard.caches.shared import forget_recent

    st.cache_data.clear()
    st.cache_resource.clear()
    forget_recent()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
    forget_recent()


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    if not (SHARED_DATA / "train-images-idx3-ubyte.gz").exists():
        pytest.fail(f"Fashion-MNIST not found at {SHARED_DATA}: put ../shared beside the repository")
    return SHARED_DATA


@pytest.fixture
def env(monkeypatch, tmp_path, shared_data_dir, clear_streamlit_caches) -> Path:
    """An AppTest's server settings: the shared Fashion-MNIST and a fresh run store (returned), caches cold.

    The app still loads the data through its own cached loader on every cold start; only the decoding of the
    shared folder's files (gunzip and checksum, most of an AppTest's time) is done once per test session.
    """
    monkeypatch.setenv("SOFTMAX_DATA_DIR", str(shared_data_dir))
    monkeypatch.setenv("SOFTMAX_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr("dashboard.fashion_data.load_fashion_mnist", _shared_folder_decoded_once)
    return tmp_path / "runs"


@functools.cache
def _decoded(folder: Path):  # imports torch: only when a test needs the data
    from softmax_core.data import load_fashion_mnist

    return load_fashion_mnist(folder, download=False)


def _shared_folder_decoded_once(data_dir=None, *, download: bool = True):
    """``load_fashion_mnist``, answered from one decoding per session when it reads the shared folder."""
    from softmax_core.data import load_fashion_mnist, resolve_data_dir

    if resolve_data_dir(data_dir).resolve() == SHARED_DATA.resolve():
        return _decoded(SHARED_DATA)
    return load_fashion_mnist(data_dir, download=download)


@pytest.fixture
def missing_data(monkeypatch, tmp_path, clear_streamlit_caches) -> Path:
    """The data folder names an empty directory (returned): the pages must say where the files should be."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("SOFTMAX_DATA_DIR", str(empty))
    monkeypatch.setenv("SOFTMAX_RUNS_DIR", str(tmp_path / "runs"))
    return empty


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    """One `streamlit run` for the whole test session, on a free localhost port."""
    from scripts.local_server import start_streamlit, stop_streamlit

    runs_dir = tmp_path_factory.mktemp("browser-runs")
    proc, url = start_streamlit({"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(runs_dir)})
    yield url
    stop_streamlit(proc)


@pytest.fixture(scope="module")
def chapter_runs_url(tmp_path_factory, fmnist):
    """A server for one module on a store holding the chapter's run (trained for real) and a diverged one:
    every page has something to show (the accessibility and keyboard tests)."""
    from scripts.local_server import running_streamlit
    from tests.accessibility import store_chapter_runs

    runs = tmp_path_factory.mktemp("chapter-runs")
    store_chapter_runs(runs, fmnist)
    with running_streamlit({"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(runs)}) as url:
        yield url


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    from scripts.chromium import launch_chromium

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def tab(chromium):
    """``tab(viewport, color_scheme, timeout_ms)``: one browser tab per worker that tests take in turn, reset
    (blank, no cookies, no storage) and set to that view. Tests with two people at once (a lecturer and
    a follower, two students) open their own contexts. Why: a page loads in about 2 s in a tab
    that has loaded the app before, against about 4.5 s in a new tab or context, which compiles the
    app's 10 MB of JavaScript again (`docs/testing.md`)."""
    state = {"context": None, "page": None}

    def take(viewport: tuple[int, int] = (1400, 1000), color_scheme: str = "light", timeout_ms: int = 30_000):
        page = state["page"]
        if page is None or page.is_closed():
            if state["context"] is not None:
                state["context"].close()
            state["context"] = chromium.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            page = state["page"] = state["context"].new_page()
        elif page.url.startswith("http"):
            page.evaluate("() => { localStorage.clear(); sessionStorage.clear(); }")  # e.g. a theme picked
        page.goto("about:blank")  # the last test's Streamlit session ends with its websocket
        state["context"].clear_cookies()  # a new XSRF cookie: a new student for the training queue
        page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
        page.emulate_media(color_scheme=color_scheme)
        page.set_default_timeout(timeout_ms)
        return page

    yield take
    if state["context"] is not None:
        state["context"].close()


@pytest.fixture
def page(tab):
    """The worker's reused tab at 1400x1000, light (see ``tab``)."""
    return tab()


@pytest.fixture(scope="session")
def fmnist(shared_data_dir):
    """The real Fashion-MNIST from the shared folder, loaded once for the whole test run."""
    return _decoded(shared_data_dir)


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """deploy/serve.sh 2 (HAProxy in front of two replicas) for one module, each replica warmed up; Ctrl-C must
    leave no replica or HAProxy running."""
    from tests.factories import left_running, load_pages, serve_replicas

    with serve_replicas(2, tmp_path_factory.mktemp("replicas")) as served:
        load_pages([(served.replica_url(name), "", "") for name in served.replicas])
        yield served
    assert not left_running(served.pids()), "Ctrl-C left a replica or HAProxy running"


@pytest.fixture
def held_training(monkeypatch):
    """training.train replaced by one that reports a first epoch and waits to be released or stopped."""
    from softmax_core import training  # imports torch: only when a test needs it
    from tests.factories_training import ControlledTrain

    fake = ControlledTrain()
    monkeypatch.setattr(training, "train", fake)
    yield fake
    fake.release.set()


@pytest.fixture(autouse=True)
def main_module_kept():
    """An AppTest run leaves its script as ``sys.modules["__main__"]``, and a process spawned later in the same
    worker (the benchmark's reference, the run store's writers) re-runs that script first: a script from
    ``AppTest.from_function`` fails there. Every test ends with the worker's own ``__main__`` back."""
    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main
