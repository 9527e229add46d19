"""Real browser: the losses page draws its charts, follows a slider, and a link restores the view."""

import pytest

from tests.browser import (
    assert_no_error,
    move_slider,
    open_page,
    plot_signature,
    rerun_after,
    screenshot,
    wait_for_rerun,
)

pytestmark = pytest.mark.browser


def open_losses(page, app_url, query=""):
    # Open the app's root first: on a fresh server Streamlit runs a deep link to a file in pages/
    # as a legacy multipage app (without streamlit_app.py) until the main script has run once.
    open_page(page, app_url)
    open_page(page, f"{app_url}/loss_curves{query}")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 4", timeout=30_000)


def test_losses_page_follows_the_prediction_slider(app_url, page):
    open_losses(page, app_url)
    assert page.get_by_role("heading", name="L1, L2 & Huber losses").is_visible()
    assert page.locator(".katex").count() >= 4
    assert_no_error(page)
    screenshot(page, "losses")

    before = [plot_signature(page, i) for i in range(4)]
    move_slider(page, "prediction ŷ", presses=5)  # 2.5 -> 3.0
    after = [plot_signature(page, i) for i in range(4)]
    assert all(b != a for b, a in zip(before, after))  # every figure carries the marker
    assert "loss_y_hat=3" in page.url
    assert_no_error(page)

    rerun_after(page, lambda: page.get_by_text("Compare the three").click())
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 4", timeout=30_000)
    assert "loss_view=Compare+the+three" in page.url  # the bound radio writes its label
    assert_no_error(page)
    screenshot(page, "losses_compare")


def test_losses_link_restores_the_view(app_url, page):
    open_losses(page, app_url, "?loss_y_hat=-4&loss_lr=2.2&loss_axis=prediction")
    assert page.get_by_role("slider", name="prediction ŷ").first.input_value() == "-4"
    assert page.get_by_role("slider", name="learning rate η").first.input_value() == "2.2"
    assert page.get_by_text("loss rises: diverges").is_visible()
    assert_no_error(page)
    page.get_by_role("heading", name="One gradient step").scroll_into_view_if_needed()
    wait_for_rerun(page)
    screenshot(page, "losses_big_step")
