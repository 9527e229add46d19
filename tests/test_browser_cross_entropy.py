"""Real browser: the cross-entropy page steps, takes an edit in its table, and keeps it all in the URL."""

import pytest
from playwright.sync_api import expect

from tests.browser import assert_no_error, open_page, plot_signature, rerun_after, screenshot, wait_for_rerun

pytestmark = pytest.mark.browser

ROW_HEIGHT = 35  # Streamlit's data editor: header and rows are 35 px
MARKER_WIDTH = 33  # the row-selection column left of "class 0"
SMALL_COLUMN = 75  # column width "small"


def open_cross_entropy(page, app_url, query: str = "") -> None:
    # Visit the app root first: on a fresh server, a first request straight to /cross_entropy_steps is
    # served by Streamlit's pages/ auto-discovery instead of streamlit_app.py's st.navigation.
    open_page(page, app_url)
    open_page(page, f"{app_url}/cross_entropy_steps{query}")
    page.get_by_role("heading", name="Cross-entropy, step by step").wait_for(timeout=60_000)
    page.locator(".js-plotly-plot, [data-testid='stAlertContentError']").first.wait_for(timeout=60_000)
    wait_for_rerun(page)


def click(page, key: str) -> None:
    rerun_after(page, lambda: page.locator(f".st-key-{key} button").first.click())


def type_in_cell(page, row: int, column: int, text: str) -> None:
    """The editor is a canvas: double-click the cell by position, then fill the text box it opens."""
    box = page.locator('[data-testid="stDataFrame"] canvas').first.bounding_box()
    # A stretched editor shares its spare width evenly between the columns.
    columns = page.locator('[data-testid="stDataFrame"] [role="columnheader"]').count()
    width = max(SMALL_COLUMN, (box["width"] - MARKER_WIDTH) / max(columns, 1))
    x = box["x"] + MARKER_WIDTH + width * column + width / 2
    y = box["y"] + ROW_HEIGHT * (row + 1) + ROW_HEIGHT / 2
    page.mouse.move(x, y)  # the grid needs to see the pointer arrive before it takes a double-click
    page.wait_for_timeout(200)
    page.mouse.dblclick(x, y)
    editor = page.locator("#portal textarea, #portal input").first  # the grid's overlay editor
    editor.wait_for(timeout=10_000)
    editor.fill(text)
    rerun_after(page, lambda: editor.press("Enter"))


def test_step_through_edit_and_share(app_url, page):
    open_cross_entropy(page, app_url)
    assert page.get_by_role("heading", name="1. Pick the cells").is_visible()
    assert "[(0, 0), (1, 2)]" in page.locator('[data-testid="stCode"]').all_inner_texts()[-1]
    heatmap = plot_signature(page, 0)
    assert heatmap
    assert_no_error(page)
    screenshot(page, "cross_entropy")

    click(page, "ce_next")
    expect(page.get_by_role("heading", name="2. Read them out")).to_be_visible(timeout=30_000)
    click(page, "ce_next")
    expect(page.get_by_role("heading", name="3. Take −log")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("tensor([2.3026, 0.6931])").first).to_be_visible()
    wait_for_rerun(page)
    assert plot_signature(page, 0) != heatmap  # the -log p curve replaced the heatmap
    assert "step=3" in page.url
    curve = plot_signature(page, 0)

    # Edit row 1 to [0.3, 0.1, 0.6]: the picked probability (y=2), the loss and the chart follow.
    type_in_cell(page, row=1, column=1, text="0.1")
    expect(page.get_by_test_id("glide-cell-2-1")).to_have_text("0.1")
    type_in_cell(page, row=1, column=2, text="0.6")
    expect(page.get_by_test_id("glide-cell-3-1")).to_have_text("0.6")
    expect(page.get_by_text("tensor([2.3026, 0.5108])").first).to_be_visible(timeout=30_000)
    wait_for_rerun(page)
    screenshot(page, "cross_entropy_edited")
    assert plot_signature(page, 0) != curve
    assert "yhat=0.1%2C0.3%2C0.6%3B0.3%2C0.1%2C0.6" in page.url
    assert_no_error(page)

    page.get_by_text("Show all steps").click()
    expect(page.get_by_role("heading", name="5. From logits")).to_be_visible(timeout=30_000)
    wait_for_rerun(page)
    expect(page.locator(".js-plotly-plot")).to_have_count(3)
    assert "all=true" in page.url  # the bound toggle writes true
    screenshot(page, "cross_entropy_all_steps")

    # The link restores the same view in a fresh page.
    link = page.url
    open_page(page, link)
    page.get_by_role("heading", name="5. From logits").wait_for(timeout=60_000)
    assert page.get_by_text("tensor([2.3026, 0.5108])").count() >= 1


def test_bad_link_is_explained_without_a_traceback(app_url, page):
    open_cross_entropy(page, app_url, "?yhat=0.1,abc,0.6;0.3,0.2,0.5&y=0,3")
    errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    assert any("`abc` is not a number" in e or "abc is not a number" in e for e in errors), errors
    assert any("out of range" in e for e in errors), errors
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("Fix the table on the left to run the steps.").is_visible()
    screenshot(page, "cross_entropy_bad_input")


def test_dark_theme_keeps_everything_visible(app_url, tab):
    page = tab((1400, 1000), "dark")
    open_cross_entropy(page, app_url, "?yhat=0,0.4,0.6;0.3,0.2,0.5&step=4")
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "cross_entropy_dark")
    chart = page.locator(".js-plotly-plot")
    assert chart.count() == 1
    assert "mean = ∞" in chart.first.inner_text()  # the infinite mean is named, not drawn
    chart.first.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    screenshot(page, "cross_entropy_dark_chart")
