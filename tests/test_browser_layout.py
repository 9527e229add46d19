"""What a projector, presenter mode and a phone show, measured in Chromium (issue 17 item 5).

One server whose store holds the chapter's run (trained for real, so calibration has its numbers)
and a diverged one. In every chart the browser measures the boxes plotly drew: no title, subplot
title, note or legend cut at the chart's edge, no title or note on a legend or on another note.
Screenshots of every view land in ``test-artifacts/screenshots/layout_*.png``: look at them.
"""

from __future__ import annotations

import pytest
import torch

from tests.browser import COUNT_STATE_CHANGES, VISIBLE_PROBLEMS, running_streamlit, screenshot, wait_for_rerun
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser

PROJECTOR, PHONE = (1280, 720), (390, 844)

# Every problem a viewer would see in the charts and tables of a page, as sentences.
# Glyph boxes include the font's leading: two lines of digits 3 px into each other's boxes do not touch.
_LAYOUT_PROBLEMS = """(checkTables) => {
    const problems = [];
    const box = e => e.getBoundingClientRect();
    const text = e => (e.textContent || '').trim().slice(0, 40);
    const overlap = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 3 && b.top < a.bottom - 3;
    const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
        .filter(c => c.offsetParent);
    charts.forEach((chart, i) => {
        const frame = box(chart.querySelector('.main-svg'));
        const titles = [...chart.querySelectorAll('.gtitle, .annotation-text')].filter(e => text(e));
        const labels = [...titles, ...chart.querySelectorAll('.legendtext, .g-xtitle text, .g-ytitle text')];
        for (const e of labels) {
            const r = box(e);
            if (r.width && (r.top < frame.top - 1 || r.bottom > frame.bottom + 1 || r.left < frame.left - 1
                            || r.right > frame.right + 1)) {
                problems.push(`chart ${i}: "${text(e)}" cut at the chart's edge`);
            }
        }
        const legend = chart.querySelector('.legend .bg');
        for (const e of titles) {
            if (legend && overlap(box(e), box(legend))) problems.push(`chart ${i}: "${text(e)}" on the legend`);
        }
        for (const e of titles) for (const axis of chart.querySelectorAll('.g-xtitle text, .g-ytitle text')) {
            if (overlap(box(e), box(axis))) problems.push(`chart ${i}: "${text(e)}" on the axis title "${text(axis)}"`);
        }
        for (let a = 0; a < titles.length; a++) for (let b = a + 1; b < titles.length; b++) {
            if (overlap(box(titles[a]), box(titles[b]))) {
                problems.push(`chart ${i}: "${text(titles[a])}" on "${text(titles[b])}"`);
            }
        }
    });
    for (const grid of checkTables ? document.querySelectorAll('[data-testid="stDataFrame"] .dvn-scroller') : []) {
        if (grid.offsetParent && grid.scrollWidth > grid.clientWidth + 2) {
            problems.push(`a table is cut at the right (${grid.scrollWidth} px in ${grid.clientWidth} px)`);
        }
    }
    const captions = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')].filter(c => c.offsetParent);
    const tickCounts = charts.map(c => c.querySelectorAll('.ytick text').length);
    return {problems, captions: captions.length, tickCounts, charts: charts.length};
}"""


@pytest.fixture(scope="module")
def layout_url(tmp_path_factory, fmnist):
    from softmax_core.run_store import RunStore, run_key
    from softmax_core.training import TrainConfig, TrainResult, train

    runs = tmp_path_factory.mktemp("layout-runs")
    store = RunStore(runs)
    chapter = train(TrainConfig().validated(), fmnist)
    confusion = torch.eye(10, dtype=torch.int64) * 1000
    store.save(run_key(chapter.config, fmnist.fingerprint), chapter, confusion, fmnist.fingerprint)
    config = TrainConfig(lr=100.0, epochs=1).validated()
    blown = TrainResult(config, (), "diverged", "Loss became inf in epoch 1 (batch 2): lower the learning rate.",
                        torch.zeros(784, 10), torch.zeros(10), 0.1, batch_losses=(2.34,), diverged_at=(1, 2))  # fmt: skip
    store.save(run_key(config, fmnist.fingerprint), blown, confusion, fmnist.fingerprint)
    with running_streamlit({"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(runs)}) as url:
        yield url


def look(tab, url: str, path: str, size: tuple[int, int], name: str, theme: str = "light") -> dict:
    """Open a view, wait for its charts, screenshot the whole page and measure it."""
    page = tab(size, theme)
    page.goto(f"{url}/{path}", wait_until="domcontentloaded")
    wait_for_rerun(page, timeout_ms=60_000)
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=60_000)
    wait_for_rerun(page, timeout_ms=60_000)
    screenshot(page, f"layout_{name}", whole_page=True)
    found = page.evaluate(_LAYOUT_PROBLEMS, size == PROJECTOR)  # a phone scrolls a wide table sideways
    assert not page.locator('[data-testid="stException"]').count()
    return found


PRESENTER = [
    ("calibration?present=1", "presenter_calibration"),
    ("inside_model?present=1", "presenter_inside_model"),
    ("softmax_temperature?present=1&sm_preset=fashion", "presenter_softmax_fashion"),
    ("softmax_temperature?present=1&sm_preset=custom&sm_logits=3,3,1&sm_T=0.05", "presenter_softmax_tied"),
]


@pytest.mark.parametrize("path, name", PRESENTER, ids=[name for _, name in PRESENTER])
def test_presenter_mode_on_a_projector(tab, layout_url, path, name):
    """Titles cut at the top, every other class unlabelled, captions left, notes on notes: all gone."""
    found = look(tab, layout_url, path, PROJECTOR, name)
    assert not found["problems"], found["problems"]
    assert found["captions"] == 0
    if name == "presenter_inside_model":  # the score and the probability bars: all ten classes named
        assert found["tickCounts"].count(10) >= 2, found["tickCounts"]


PHONE_VIEWS = [
    ("training", "phone_training"),
    ("calibration", "phone_calibration"),
    ("training?train_lr=100&train_epochs=1", "phone_training_diverged"),
]


@pytest.mark.parametrize("path, name", PHONE_VIEWS, ids=[name for _, name in PHONE_VIEWS])
def test_a_phone_sees_no_title_on_a_legend_and_no_titles_on_each_other(tab, layout_url, path, name):
    found = look(tab, layout_url, path, PHONE, name, theme="dark" if name == "phone_calibration" else "light")
    assert not found["problems"], found["problems"]


def test_the_calibration_table_fits_a_projector(tab, layout_url):
    """The before/after table was cut at its "T = 0.9 (yours)" column at 1280x720."""
    found = look(tab, layout_url, "calibration", PROJECTOR, "projector_calibration")
    assert not found["problems"], found["problems"]


def test_enter_in_the_epochs_field_does_not_train(tab, layout_url):
    page = tab(PROJECTOR)
    page.goto(f"{layout_url}/training?train_epochs=3", wait_until="domcontentloaded")
    wait_for_rerun(page, timeout_ms=60_000)
    field = page.get_by_role("spinbutton", name="Epochs")  # the empty chart's text names the epochs too
    field.fill("4")
    before = page.evaluate(COUNT_STATE_CHANGES)
    field.press("Enter")
    page.wait_for_timeout(1_500)  # a form submit would have started a script run by now
    assert page.evaluate(COUNT_STATE_CHANGES) == before
    assert page.get_by_text("No stored run for these settings yet").count() == 1
    assert page.get_by_test_id("stButton").get_by_role("button", name="Stop").count() == 0


def test_the_cross_entropy_steps_fit_a_projector(tab, layout_url):
    """Step 4's formula ran past the column's right edge at 1280x720 (the tour checks step 1 only)."""
    page = tab(PROJECTOR)
    for step in (4, 5):
        page.goto(f"{layout_url}/cross_entropy_steps?step={step}", wait_until="domcontentloaded")
        wait_for_rerun(page, timeout_ms=60_000)
        screenshot(page, f"layout_projector_cross_entropy_step{step}", whole_page=True)
        found = page.evaluate(VISIBLE_PROBLEMS, 150)
        assert not found["problems"], found["problems"]
