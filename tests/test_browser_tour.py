"""A newcomer's tour: every page at a projector's 1280x720, a phone's 390x844 and 1400x1000, light and dark.

Fails on what a student would trip over: a formula wider than its box (clipped or
scrolled), a button whose label is cut to "…", no chart in the first screen at
1280x720, or an uncaught exception. One server and one browser for the whole tour;
a page is loaded once per theme and the window resized, as a user rotating a phone or
moving to the projector would. The first screen of every stop lands in
``test-artifacts/screenshots/tour_*.png`` (at 1400x1000 the whole page): look at them.

The page list comes from ``dashboard/catalog.py``: a page added there joins the tour.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.catalog import PAGES
from tests import mixed_store
from tests.browser import VISIBLE_PROBLEMS, running_streamlit, screenshot, wait_for_rerun
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser

SIZES = ((1280, 720), (390, 844), (1400, 1000))
PROJECTOR = (1280, 720)
MIN_CHART_VISIBLE = 150  # px of the main chart that must show in the first screen at 1280x720
TOUR = [("home", "")] + [(Path(p.path).stem, Path(p.path).stem) for p in PAGES]
NO_CHART = {"home"}  # pages whose first screen is text and formulas by design


@pytest.fixture(scope="module")
def tour_url(tmp_path_factory, fmnist):
    """One server whose run store holds a run at the training page's default settings, so it has a chart."""
    import torch

    from softmax_core.run_store import RunStore, run_key
    from softmax_core.training import EpochMetrics, TrainConfig, TrainResult

    runs = tmp_path_factory.mktemp("tour-runs")
    config = TrainConfig().validated()
    history = tuple(
        EpochMetrics(e, 0.9 / e**0.5, 0.7 + 0.015 * e, 0.69 + 0.015 * e, 0.15) for e in range(1, config.epochs + 1)
    )
    result = TrainResult(config, history, "finished", "", torch.zeros(784, 10), torch.zeros(10), 1.5)
    confusion = torch.eye(10, dtype=torch.int64) * 800 + 20
    RunStore(runs).save(run_key(config, fmnist.fingerprint), result, confusion, fmnist.fingerprint)
    with running_streamlit({"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(runs)}) as url:
        yield url


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("name, path", TOUR, ids=[name for name, _ in TOUR])
def test_tour(tab, tour_url, name, path, theme):
    page = tab(SIZES[0], theme)
    uncaught: list[str] = []

    def note_error(exc):
        uncaught.append(str(exc))

    page.on("pageerror", note_error)
    problems: list[str] = []
    try:
        page.goto(f"{tour_url}/{path}", wait_until="domcontentloaded")
        wait_for_rerun(page, timeout_ms=60_000)
        if name not in NO_CHART:  # a first visit may rerun once more (theme, URL state) before its charts come
            page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=60_000)
            wait_for_rerun(page, timeout_ms=60_000)
        if not page.locator("h1").first.is_visible():
            problems.append(f"{name} {theme}: no page title")
        for width, height in SIZES:
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(500)  # the layout reflows and plotly redraws at the new width
            found = page.evaluate(VISIBLE_PROBLEMS, MIN_CHART_VISIBLE)
            where = f"{name} {width}x{height} {theme}"
            problems += [f"{where}: {p}" for p in found["problems"]]
            if (width, height) == PROJECTOR and name not in NO_CHART:
                if found["chartTop"] is None:
                    problems.append(f"{where}: no chart on the page")
                elif found["chartTop"] > height - MIN_CHART_VISIBLE:
                    problems.append(
                        f"{where}: the main chart starts at {found['chartTop']:.0f} px, "
                        f"below the first screen of {height} px"
                    )
            print(where, "first chart at", found["chartTop"], "of", found["charts"], "charts")
            screenshot(page, f"tour_{name}_{width}x{height}_{theme}", whole_page=(width, height) == SIZES[-1])
    finally:
        page.remove_listener("pageerror", note_error)
    problems += [f"{name} {theme}: uncaught browser error: {e}" for e in uncaught]
    assert not problems, "\n".join(problems)


def test_presenter_mode_on_a_projector(tab, tour_url):
    """?present=1: no sidebar, no share row, the charts in the first screen; a page link keeps the flag."""
    page = tab(PROJECTOR)
    page.goto(f"{tour_url}/loss_curves?present=1", wait_until="domcontentloaded")
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=60_000)
    wait_for_rerun(page, timeout_ms=60_000)
    found = page.evaluate(VISIBLE_PROBLEMS, MIN_CHART_VISIBLE)
    screenshot(page, "tour_presenter_loss_curves_1280x720")
    assert not found["problems"], found["problems"]
    assert page.locator('[data-testid="stSidebarNav"]').count() == 0
    assert page.get_by_text("Share this view").count() == 0
    assert found["chartTop"] < PROJECTOR[1] - 250  # at least 250 px of the picture (about 190 without)
    assert "present=1" in page.url


# ---------------------------------------------------------------- a store holding one run of every kind

# (page, kind of run): the pages that show stored runs, opened on each kind they can show (tests/mixed_store.py).
MIXED_STOPS = (
    [("home", None)]
    + [("inside_model", kind) for kind in ("newest", "scratch", "lbfgs", "lbfgs_converged", "diverged", "no_snapshots")]
    + [("calibration", kind) for kind in ("lbfgs", "diverged", "no_snapshots")]
    + [("training", kind) for kind in ("concise", "diverged", "no_snapshots")]
)


@pytest.fixture(scope="module")
def mixed_tour(tmp_path_factory, fmnist):
    """One server on a store with one run of each kind (the L-BFGS fit newest); yields (url, runs by kind)."""

    runs_dir = tmp_path_factory.mktemp("tour-mixed") / "runs"
    runs = mixed_store.fill(runs_dir, fmnist)
    with running_streamlit({"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(runs_dir)}) as url:
        yield url, runs


def _mixed_query(page: str, run) -> str:
    if run is None:
        return ""
    if page == "training":
        c = run.config
        return (f"?train_impl={c.impl}&train_lr={c.lr:g}&train_batch_size={c.batch_size}&train_epochs={c.epochs}"
                f"&train_seed={c.seed}")  # fmt: skip
    return f"?run={run.key}"


@pytest.mark.parametrize("name, kind", MIXED_STOPS, ids=[f"{n}-{k}" for n, k in MIXED_STOPS])
def test_tour_of_every_kind_of_stored_run(tab, mixed_tour, name, kind):
    """Each page on each kind of stored run, at 1280x720 light: no exception, nothing clipped, its first chart."""
    url, runs = mixed_tour
    page = tab(PROJECTOR, "light")
    uncaught: list[str] = []

    def note_error(exc):
        uncaught.append(str(exc))

    page.on("pageerror", note_error)
    try:
        path = "" if name == "home" else name
        page.goto(f"{url}/{path}{_mixed_query(name, runs.get(kind))}", wait_until="domcontentloaded")
        wait_for_rerun(page, timeout_ms=90_000)
        charted = name not in NO_CHART and not (name == "inside_model" and kind == "diverged")
        if charted:
            page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=90_000)
            wait_for_rerun(page, timeout_ms=90_000)
        found = page.evaluate(VISIBLE_PROBLEMS, MIN_CHART_VISIBLE)
        screenshot(page, f"tour_mixed_{name}_{kind}_1280x720_light", whole_page=True)
    finally:
        page.remove_listener("pageerror", note_error)
    problems = list(found["problems"]) + [f"uncaught browser error: {e}" for e in uncaught]
    if charted and found["chartTop"] is None:
        problems.append("no chart on the page")
    assert not problems, "\n".join(problems)
