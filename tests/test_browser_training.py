"""Real browser: train two short runs through the form, watch the curves, evaluate, compare."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from tests.browser import (
    assert_no_error,
    open_page,
    rerun_after,
    screenshot,
    start_streamlit,
    stop_button,
    wait_for_rerun,
)
from tests.conftest import ROOT, SHARED_DATA

pytestmark = pytest.mark.browser

SHORT = "train_batch_size=2048"  # with 2 epochs: a few seconds per run
TRAIN_TIMEOUT_MS = 240_000


def plot_data(page, index: int) -> list[dict]:
    return json.loads(
        page.evaluate(
            """(i) => { const p = document.querySelectorAll('.js-plotly-plot')[i];
                    return JSON.stringify(p ? p.data.map(t => ({name: t.name, x: t.x, y: t.y})) : []); }""",
            index,
        )
    )


_LAST_PLOT = """() => { const p = [...document.querySelectorAll('.js-plotly-plot')].pop();
                         return JSON.stringify(p && p.data ? p.data.map(t => ({name: t.name, x: t.x, y: t.y})) : []); }"""


def last_plot_with(page, names: list[str], timeout_ms: int = 30_000) -> list[dict]:
    """The last chart's traces once it draws a trace of each name (the page redraws a few times after a training
    ends); fails with the names it drew if it does not within ``timeout_ms``."""
    try:
        page.wait_for_function(
            f"(names) => {{ const have = JSON.parse(({_LAST_PLOT})()).map(t => t.name); return names.every(n => have.includes(n)); }}",
            arg=names,
            timeout=timeout_ms,
        )
    except PlaywrightTimeoutError:
        drawn = [t["name"] for t in json.loads(page.evaluate(_LAST_PLOT))]
        raise AssertionError(f"the last chart never drew {names} in {timeout_ms} ms; it drew {drawn}") from None
    return json.loads(page.evaluate(_LAST_PLOT))


def set_number(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Tab")


def train(page) -> None:
    page.get_by_role("button", name="Train", exact=True).click()
    page.mouse.move(0, 0)
    page.get_by_text("Trained just now").wait_for(timeout=TRAIN_TIMEOUT_MS)
    wait_for_rerun(page)


def test_train_evaluate_and_compare_in_chromium(app_url, page):
    open_page(page, app_url)  # arrive at home, as a student does, and follow the menu
    page.get_by_role("link", name="Train on Fashion-MNIST").first.click()
    wait_for_rerun(page)
    expect(page.get_by_role("heading", name="Train on Fashion-MNIST")).to_be_visible()
    expect(page.get_by_text("No stored run for these settings yet")).to_be_visible()  # the page's text can come late
    set_number(page, "Batch size", "2048")
    set_number(page, "Epochs", "2")

    page.get_by_role("button", name="Train", exact=True).click()
    page.mouse.move(0, 0)  # no tooltip over the form in the screenshots
    # The bar and Stop are drawn together and, for two quick epochs, only for a moment (the page reruns
    # as soon as the training ends): one in-page check per animation frame sees both, where two
    # Playwright round trips could arrive after the bar had gone.
    page.wait_for_function(
        "() => document.querySelector('[role=progressbar]')"
        " && [...document.querySelectorAll('[data-testid=stButton] button')].some(b => b.textContent.trim().endsWith('Stop'))",
        polling="raf",
        timeout=60_000,
    )
    page.get_by_text("Trained just now").wait_for(timeout=TRAIN_TIMEOUT_MS)
    wait_for_rerun(page)
    assert_no_error(page)
    assert "train_epochs=2" in page.url and SHORT in page.url  # the link opens this run

    curves = plot_data(page, 0)
    assert [t["name"] for t in curves] == ["train loss", "train acc", "test acc"]
    assert all(t["x"] == [1, 2] for t in curves)
    test_acc = curves[2]["y"]
    assert 0.6 < test_acc[-1] < 0.9
    screenshot(page, "training_done")

    page.get_by_role("tab", name="Predictions").scroll_into_view_if_needed()
    rerun_after(page, lambda: page.get_by_role("switch", name="Only mistakes").click(force=True))
    page.get_by_role("tab", name="Predictions").scroll_into_view_if_needed()
    titles = page.evaluate(
        "() => [...document.querySelectorAll('.js-plotly-plot')[1].layout.annotations].map(a => a.text)"
    )
    assert len(titles) == 12 and all(t.endswith("✗") for t in titles)  # only mistakes, each marked
    screenshot(page, "training_predictions")
    page.get_by_role("tab", name="Confusion matrix").click()
    wait_for_rerun(page)
    page.get_by_role("tab", name="Confusion matrix").scroll_into_view_if_needed()
    screenshot(page, "training_confusion")
    page.get_by_role("tab", name="One test image").click()
    rerun_after(page, lambda: page.get_by_role("button", name="Next mistake →").click())
    assert_no_error(page)
    page.get_by_role("tab", name="One test image").scroll_into_view_if_needed()
    screenshot(page, "training_one_image")

    # The same settings with the concise implementation, then both overlaid.
    page.get_by_text("concise, torch.nn (d2l 3.7)").click()
    train(page)
    assert "train_impl=concise" in page.url
    assert_no_error(page)  # the run on screen joined the comparison beside the scratch one
    expected = ["concise · lr 0.1 · batch 2048 · 2 ep · seed 0", "scratch · lr 0.1 · batch 2048 · 2 ep · seed 0"]
    # Both runs are overlaid (other tests of this session may have stored more runs that join too).
    overlay = last_plot_with(page, expected)
    assert set(expected) <= {t["name"] for t in overlay}
    scratch = next(t for t in overlay if t["name"] == expected[1])
    assert scratch["y"] == pytest.approx(test_acc)  # the stored scratch run is the one trained above
    page.get_by_text("Scratch against concise.").wait_for(timeout=30_000)
    page.get_by_text("Scratch against concise.").scroll_into_view_if_needed()
    screenshot(page, "training_compare")

    # A fresh visit with the scratch link (a reload) shows the stored run at once; this server trained it
    # moments ago, so it says so rather than "cached".
    open_page(page, f"{app_url}/training?train_epochs=2&{SHORT}")
    assert page.get_by_text("Trained just now").first.is_visible()
    assert stop_button(page).count() == 0
    assert_no_error(page)


@pytest.fixture
def dark_page(tab):
    """A browser that prefers dark: the app follows it (config sets per-mode palettes only)."""
    return tab((1400, 1000), "dark")


def test_training_page_in_dark_mode(app_url, dark_page):
    page = dark_page
    open_page(page, f"{app_url}/training?train_epochs=1&train_batch_size=4096")
    background = page.evaluate("() => getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor")
    assert sum(int(c) for c in background[4:-1].split(",")[:3]) < 150, background  # really dark
    train(page)
    assert_no_error(page)
    assert len(plot_data(page, 0)) == 3
    screenshot(page, "training_dark")
    page.get_by_role("tab", name="Confusion matrix").click()
    wait_for_rerun(page)
    page.get_by_role("tab", name="Confusion matrix").scroll_into_view_if_needed()
    screenshot(page, "training_dark_confusion")


def test_a_run_filled_by_the_cli_shows_at_once_after_a_server_restart(chromium, tmp_path):
    """A lecturer fills the store before class; after a (re)start the page shows the run as cached."""
    import subprocess
    import sys

    runs = tmp_path / "runs"
    cli = [
        sys.executable,
        "-m",
        "softmax_core.cli",
        "--epochs",
        "1",
        "--batch-size",
        "4096",
        "--seed",
        "3",
        "--data-dir",
        str(SHARED_DATA),
        "--runs-dir",
        str(runs),
        "--json",
    ]
    filled = json.loads(
        subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()[-1]
    )
    assert filled["cached"] is False

    for _ in range(2):  # two server starts on the same store: the run is read, never retrained
        proc, url = start_streamlit({"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(runs)})
        context = chromium.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            open_page(page, f"{url}/training?train_epochs=1&train_batch_size=4096&train_seed=3")
            page.get_by_text("Cached").first.wait_for(timeout=30_000)
            assert stop_button(page).count() == 0
            curves = plot_data(page, 0)
            assert [round(y, 6) for y in curves[2]["y"]] == [round(e["test_acc"], 6) for e in filled["epochs"]]
            assert_no_error(page)
        finally:
            context.close()
            proc.terminate()
            proc.wait(timeout=10)
    assert json.loads(
        subprocess.run(cli, cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()[-1]
    )["cached"]
