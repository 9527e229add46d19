"""Real browser: the address keeps what the calibration and inside pages show, and "Share this view" reopens it.

A server whose store holds two really trained one-epoch runs, seed 1 first and seed 0 (the chapter's
seed, the newest, so the calibration page's default) second. The address bar is read after the page
has loaded and settled, as a student copying it would.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from softmax_core import training
from softmax_core.data import load_fashion_mnist
from softmax_core.run_store import RunStore, run_key
from softmax_core.training import TrainConfig
from tests.browser import assert_no_error, running_streamlit, screenshot, wait_for_rerun
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser

SLOW_MS = 120_000  # a cold page (torch, the data, the first calibration) on a busy 2-core machine


@pytest.fixture(scope="module")
def links_server(tmp_path_factory):
    runs_dir = tmp_path_factory.mktemp("links-runs")
    data = load_fashion_mnist(SHARED_DATA)
    store = RunStore(runs_dir)
    keys = {}
    for seed in (1, 0):  # seed 0 last: the newest run, the calibration page's default
        config = TrainConfig(impl="concise", epochs=1, seed=seed).validated()
        result = training.train(config, data)
        confusion = training.confusion_matrix(result.weight, result.bias, data.test_images, data.test_labels)
        keys[seed] = run_key(config, data.fingerprint)
        store.save(keys[seed], result, confusion, data.fingerprint)
    with running_streamlit({"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(runs_dir)}) as url:
        yield url, keys


def goto(page, url: str, charts: int = 1) -> None:
    page.goto(url, wait_until="domcontentloaded")
    wait_for_rerun(page, timeout_ms=SLOW_MS)
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length >= {charts}", timeout=SLOW_MS)
    wait_for_rerun(page, timeout_ms=SLOW_MS)


def address(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def shown_run(page) -> str:
    """The calibration page's run menu as the student sees it (the chosen run's label)."""
    menu = page.get_by_role("combobox", name=re.compile("Run")).first
    return menu.input_value() or menu.get_attribute("aria-label") or ""


def shared_link(page) -> str:
    """Open "Share this view" and read the link it offers."""
    button = page.get_by_role("button", name=re.compile("Share this view"))
    button.scroll_into_view_if_needed()
    button.click()
    code = page.locator('[data-testid="stPopoverBody"] [data-testid="stCode"]').first
    code.wait_for(timeout=10_000)
    text = code.inner_text().strip()
    page.keyboard.press("Escape")
    return text


def test_calibration_keeps_the_linked_run_and_its_share_link_reopens_it(links_server, chromium):
    url, keys = links_server
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(url, wait_until="domcontentloaded")  # the home page first, as a student arrives
        wait_for_rerun(page, timeout_ms=SLOW_MS)
        goto(page, f"{url}/calibration?run={keys[1]}", charts=3)
        page.wait_for_timeout(1_500)  # anything the page still writes to the address arrives by now
        assert address(page).get("run") == [keys[1]], page.url  # was dropped: a copy reopened seed 0
        assert address(page).get("cal_compare") == [keys[0], keys[1]]  # the compared runs, newest first
        assert_no_error(page)
        assert "seed 1" in shown_run(page), shown_run(page)
        link = shared_link(page)
        assert urlsplit(link).path.endswith("/calibration") and parse_qs(urlsplit(link).query)["run"] == [keys[1]]
        screenshot(page, "links_calibration_share")

        other = chromium.new_context(viewport={"width": 1400, "height": 1000}).new_page()  # another student
        try:
            goto(other, link, charts=3)
            assert address(other).get("run") == [keys[1]]
            assert address(other).get("cal_compare") == [keys[0], keys[1]]
            assert "seed 1" in shown_run(other), shown_run(other)
            assert_no_error(other)
        finally:
            other.context.close()
    finally:
        context.close()


def test_a_temperature_between_stops_is_said_and_the_address_shows_the_stop(links_server, page):
    url, keys = links_server
    page.goto(url, wait_until="domcontentloaded")
    wait_for_rerun(page, timeout_ms=SLOW_MS)
    goto(page, f"{url}/calibration?run={keys[1]}&cal_T=0.95", charts=3)
    assert page.get_by_text("cal_T=0.95").first.is_visible()
    assert address(page).get("cal_T") == ["1"] and address(page).get("run") == [keys[1]]
    slider = page.get_by_role("slider", name=re.compile("Your temperature T")).first
    assert slider.get_attribute("aria-valuetext") == "1"
    assert_no_error(page)


@pytest.mark.parametrize("epoch", ["3.0", "3"])
def test_an_epoch_past_the_runs_last_is_said_not_an_error_box(links_server, page, epoch):
    url, keys = links_server
    page.goto(url, wait_until="domcontentloaded")
    wait_for_rerun(page, timeout_ms=SLOW_MS)
    goto(page, f"{url}/inside_model?run={keys[1]}&in_epoch={epoch}&in_image=12")
    assert_no_error(page)  # 3.0 was StreamlitValueAboveMaxError's box on this one-epoch run
    assert page.get_by_text(f"in_epoch={epoch}").first.is_visible()
    assert "in_epoch" not in address(page) and address(page).get("in_image") == ["12"]
    assert address(page).get("run") == [keys[1]]
    slider = page.get_by_role("slider", name=re.compile("Epoch")).first
    assert slider.get_attribute("aria-valuenow") in ("1", None) or slider.get_attribute("aria-valuetext") == "1"
    link = shared_link(page)
    assert parse_qs(urlsplit(link).query) == {"run": [keys[1]], "in_image": ["12"]}
    screenshot(page, f"links_inside_epoch_{epoch}")
