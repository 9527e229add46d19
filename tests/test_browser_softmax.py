"""Real browser: the softmax & temperature page reacts to its slider, its table and bad input, and restores links."""

import pytest
from playwright.sync_api import expect

from tests.browser import (
    assert_no_error,
    edit_grid_cell,
    move_slider,
    open_page,
    plot_signature,
    rerun_after,
    screenshot,
    wait_for_rerun,
)

pytestmark = pytest.mark.browser

SLIDER = "Temperature T"
LOGITS = "Logits o"


def open_softmax_page(page, app_url, query: str = "") -> None:
    # Open the home page first: until one session has run streamlit_app.py (st.navigation), Streamlit
    # treats pages/ as a legacy multipage folder and runs a deep-linked page file on its own.
    open_page(page, app_url)
    open_page(page, f"{app_url}/softmax_temperature{query}")
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=30_000)
    wait_for_rerun(page)


def test_slider_moves_both_charts_and_the_link(app_url, page):
    open_softmax_page(page, app_url)
    assert page.get_by_role("heading", name="Softmax, temperature and confidence").is_visible()
    assert page.get_by_role("link", name="Softmax & temperature").first.is_visible()  # the app's navigation
    bars, curves = plot_signature(page, 0), plot_signature(page, 1)
    assert bars and curves
    screenshot(page, "softmax_temperature")

    move_slider(page, SLIDER, presses=5, key="ArrowLeft")  # 1 -> 0.9 -> 0.8 -> 0.71 -> 0.63 -> 0.56
    # Five quick presses may reach the server as two reruns: wait for the last one's value in the URL.
    page.wait_for_function("() => location.search.includes('sm_T=0.56')", timeout=30_000)
    wait_for_rerun(page)
    assert plot_signature(page, 0) != bars
    assert plot_signature(page, 1) != curves
    assert "sm_T=0.56" in page.url
    assert page.get_by_role("slider", name=SLIDER).first.get_attribute("aria-valuetext") == "0.56"
    assert_no_error(page)
    screenshot(page, "softmax_temperature_T056")


def test_bad_logits_show_a_message_not_a_traceback(app_url, page):
    open_softmax_page(page, app_url)
    bars = plot_signature(page, 0)
    box = page.get_by_role("textbox", name=LOGITS)
    box.fill("1, abc, 3")
    rerun_after(page, lambda: box.press("Enter"))
    assert page.get_by_text("“abc”, is not a number").is_visible()
    assert page.get_by_text("Still showing the last valid logits: 1, 2, 3").is_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    assert plot_signature(page, 0) == bars  # the last valid view stays on screen
    screenshot(page, "softmax_temperature_bad_input")

    box.fill("4, 0")
    rerun_after(page, lambda: box.press("Enter"))
    assert_no_error(page)
    assert plot_signature(page, 0) != bars
    assert "sm_logits=4" in page.url and "sm_preset=Your+own+logits" in page.url


def test_editing_the_table_updates_the_logits(app_url, page):
    open_softmax_page(page, app_url)
    bars = plot_signature(page, 0)
    edit_grid_cell(page, 0, "5", "() => [...document.querySelectorAll('input')].some(i => i.value === '5, 2, 3')")
    assert plot_signature(page, 0) != bars
    assert "sm_logits=5" in page.url and "sm_preset=Your+own+logits" in page.url
    assert_no_error(page)
    screenshot(page, "softmax_temperature_table_edit")


def test_typing_1e308_in_a_table_cell_keeps_the_e_and_gets_a_sentence(app_url, page):
    """The number editor read 1e308 as 1308; the text cell passes it to the logits parser as typed."""
    open_softmax_page(page, app_url)
    edit_grid_cell(
        page, 1, "1e308", "() => [...document.querySelectorAll('input')].some(i => i.value === '1, 1e308, 3')"
    )
    errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    assert any("too large" in text for text in errors), errors
    assert page.get_by_text("Still showing the last valid logits: 1, 2, 3").is_visible()
    assert_no_error(page)


def test_link_opens_the_large_logits_view_with_the_stability_story(app_url, page):
    open_softmax_page(page, app_url, "?sm_preset=large&sm_T=0.5")
    expect(page.get_by_role("textbox", name=LOGITS)).to_have_value("1000, 1001, 1002")  # mounts empty first
    assert page.get_by_text("Naive exp/sum fails.").first.is_visible()
    assert page.get_by_text("Subtracting the max fixes it.").first.is_visible()
    rerun_after(page, lambda: page.get_by_role("tab", name="float16").click())
    expect(page.get_by_text("≈ 11.09 in float16")).to_be_visible()  # exp overflows far sooner in float16
    assert_no_error(page)
    screenshot(page, "softmax_temperature_large")
