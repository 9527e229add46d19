"""Real browser: the calibration page on a store holding a real SGD run, the linear ceiling and a diverged run."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import torch
from playwright.sync_api import expect

from softmax_core import linear_ceiling as lc
from softmax_core import training
from softmax_core.data import load_fashion_mnist
from softmax_core.run_store import RunStore, run_key
from softmax_core.train_or_load import train_or_load
from softmax_core.training import TrainConfig, TrainResult
from tests.browser import assert_no_error, move_slider, running_streamlit, screenshot, stop_button, wait_for_rerun
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser

SIZES = {"1280x720": (1280, 720), "1400x1000": (1400, 1000), "390x844": (390, 844)}


def _save(store, data, config, result):
    confusion = training.confusion_matrix(result.weight, result.bias, data.test_images, data.test_labels)
    return store.save(run_key(config, data.fingerprint), result, confusion, data.fingerprint)


@pytest.fixture(scope="module")
def calib_server(tmp_path_factory):
    """A server whose store holds the chapter's run (really trained), the ceiling (60 iterations) and a diverged run."""
    runs_dir = tmp_path_factory.mktemp("calib-runs")
    data = load_fashion_mnist(SHARED_DATA)
    store = RunStore(runs_dir)
    chapter = TrainConfig(impl="concise")
    _save(store, data, chapter, training.train(chapter, data))
    train_or_load(store, lc.ceiling_config(), data)
    bad = TrainConfig(lr=50.0, epochs=1)
    store.save(run_key(bad, data.fingerprint),
               TrainResult(bad.validated(), (), "diverged", "Loss became inf in epoch 1 (batch 3): lower the "
                           "learning rate.", torch.zeros(784, 10), torch.zeros(10), 0.1),
               torch.zeros(10, 10, dtype=torch.int64), data.fingerprint)  # fmt: skip
    with running_streamlit({"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(runs_dir)}) as url:
        yield url, {"chapter": run_key(chapter, data.fingerprint), "bad": run_key(bad, data.fingerprint)}


SLOW_MS = 120_000  # a cold page (torch, the data, the first calibration) on a busy 2-core machine


def goto(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    wait_for_rerun(page, timeout_ms=SLOW_MS)


def open_calibration(page, url: str, query: str = "", charts: int = 3) -> None:
    goto(page, url)  # the home page first: the app's navigation must have run once
    goto(page, f"{url}/calibration{query}")
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length >= {charts}", timeout=SLOW_MS)
    wait_for_rerun(page, timeout_ms=SLOW_MS)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_page_renders_at_every_size(calib_server, tab, scheme):
    """Loaded once per theme at a projector's size, then resized as a phone or a laptop window would be."""
    url, keys = calib_server
    page = tab((1280, 720), scheme)
    open_calibration(page, url, "?train_impl=concise")
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(500)  # the layout reflows and plotly redraws at the new width
        assert_no_error(page)
        assert page.get_by_role("heading", name="Confidence and calibration").is_visible()
        assert "cal_run" not in page.url  # the training page's run is the default, so not in the URL
        if size == "1280x720":
            box = page.locator(".js-plotly-plot").first.bounding_box()
            assert box is not None and box["y"] < height, box  # the reliability diagram starts in the first screen
        screenshot(page, f"calibration_{size}_{scheme}")
        if size == "1400x1000":
            screenshot(page, f"calibration_{size}_{scheme}_whole", whole_page=True)


def test_slider_link_and_softmax_page(calib_server, page):
    url, keys = calib_server
    open_calibration(page, url, "?train_impl=concise")
    move_slider(page, "Your temperature T (log scale)", presses=3)
    assert "cal_T=" in page.url
    assert_no_error(page)
    link = page.get_by_role("link", name=re.compile("Open this model on the softmax page")).first
    href = link.get_attribute("href")
    query = parse_qs(urlsplit(href).query)
    assert urlsplit(href).path.endswith("/softmax_temperature")
    assert len(query["sm_logits"][0].split(",")) == 10 and query["sm_labels"] == ["fashion"]
    goto(page, f"{url}{href}" if href.startswith("/") else href)
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=30_000)
    assert_no_error(page)
    logits = query["sm_logits"][0]
    expect(page.get_by_role("textbox", name="Logits o").first).to_have_value(logits)  # the model's ten logits
    slider = page.get_by_role("slider", name=re.compile("Temperature T")).first
    assert float(slider.get_attribute("aria-valuetext")) == pytest.approx(float(query["sm_T"][0]), rel=0.07)  # snapped
    screenshot(page, "calibration_to_softmax_page")


def test_bad_links_are_explained(calib_server, page):
    url, keys = calib_server
    open_calibration(page, url, "?run=nonexistent-key", charts=1)
    assert page.get_by_text("not in the run store").is_visible()
    assert page.get_by_text("nonexistent-key").first.is_visible()
    screenshot(page, "calibration_unknown_run")
    goto(page, f"{url}/calibration?run={keys['bad']}")
    assert page.get_by_text("This run diverged").is_visible()
    assert_no_error(page)
    screenshot(page, "calibration_diverged_run")


@pytest.fixture
def empty_server(tmp_path):
    """A server with an empty run store: the page offers to fit the ceiling."""
    with running_streamlit({"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(tmp_path / "runs")}) as url:
        yield url


def test_the_ceiling_fit_waits_in_the_queue_shows_progress_and_ends_stored(empty_server, chromium):
    """A training holds the server's slot; the fit queues behind it, then computes, then is the page's run."""
    url = empty_server
    contexts = [chromium.new_context(viewport={"width": w, "height": h}, color_scheme=scheme)
                for w, h, scheme in ((1400, 1000, "light"), (1280, 720, "light"), (390, 844, "dark"))]  # fmt: skip
    trainer, wide, phone = (context.new_page() for context in contexts)
    try:
        goto(trainer, url)
        goto(trainer, f"{url}/training?train_epochs=40")  # about 3 million example-steps: holds the slot a while
        trainer.get_by_role("button", name="Train", exact=True).click()
        stop_button(trainer).wait_for(timeout=SLOW_MS)

        goto(wide, url)
        goto(wide, f"{url}/calibration")
        fit = wide.get_by_role("button", name=re.compile("Fit the best linear model"))
        fit.click()
        wide.mouse.move(0, 0)
        wide.get_by_text(re.compile(r"Queued: place 1, starts in about \d+ s")).wait_for(timeout=SLOW_MS)
        assert stop_button(wide).is_visible()
        assert_no_error(wide)
        screenshot(wide, "calibration_ceiling_queued_1280x720_light")

        goto(phone, url)
        phone.goto(f"{url}/calibration", wait_until="domcontentloaded")  # the poll keeps the page busy: no idle wait
        phone.get_by_text(re.compile("Queued: place 1")).wait_for(timeout=SLOW_MS)
        join = phone.get_by_role("button", name="Wait for it too")  # another student's fit: no Stop, but may join
        join.scroll_into_view_if_needed()  # below the fold on a phone
        screenshot(phone, "calibration_ceiling_queued_390x844_dark")

        stop_button(trainer).click()  # the slot is free: the fit starts
        wide.get_by_text(re.compile(r"L-BFGS iteration \d+ of 60")).wait_for(timeout=SLOW_MS)
        wide.get_by_text(re.compile(r"After \d+ iterations: train loss")).wait_for(timeout=SLOW_MS)  # 5 done
        phone.get_by_text(re.compile(r"After \d+ iterations: train loss")).wait_for(timeout=SLOW_MS)
        screenshot(wide, "calibration_ceiling_fitting_1280x720_light")
        join.scroll_into_view_if_needed()
        screenshot(phone, "calibration_ceiling_fitting_390x844_dark")

        wide.get_by_text("Fitted just now").wait_for(timeout=4 * SLOW_MS)
        wait_for_rerun(wide, timeout_ms=SLOW_MS)
        assert_no_error(wide)
        shown = wide.locator('[data-testid="stSelectbox"]').first.evaluate(
            "(box) => box.textContent + ' ' + [...box.querySelectorAll('input')].map(i => i.value).join(' ')"
        )
        assert "L-BFGS (best linear)" in shown, shown  # the page now calibrates the fitted ceiling
        assert wide.get_by_role("button", name=re.compile("Fit the best linear model")).count() == 0
        screenshot(wide, "calibration_ceiling_done_1280x720_light")
        phone.get_by_text("Fitted just now").wait_for(timeout=SLOW_MS)
        wait_for_rerun(phone, timeout_ms=SLOW_MS)
        screenshot(phone, "calibration_ceiling_done_390x844_dark")
    finally:
        for context in contexts:
            context.close()
