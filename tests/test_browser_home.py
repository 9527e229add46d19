"""Real browser: the home page renders with its formulas and no error."""

import pytest

from tests.browser import assert_no_error, open_page, screenshot

pytestmark = pytest.mark.browser


def test_home_page_in_chromium(app_url, page):
    open_page(page, app_url)
    assert page.get_by_role("heading", name="Softmax regression, live").is_visible()
    assert page.locator(".katex").count() >= 4
    assert_no_error(page)
    screenshot(page, "home")


def test_deep_link_as_first_request_after_a_server_start(chromium):
    """A shared link opened on a fresh server still gets the app's navigation and its state."""
    from tests.browser import start_streamlit, wait_for_rerun
    from tests.conftest import SHARED_DATA

    proc, url = start_streamlit({"SOFTMAX_DATA_DIR": str(SHARED_DATA)})
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"{url}/softmax_temperature?sm_T=2", wait_until="domcontentloaded")
        wait_for_rerun(page)
        page.get_by_role("heading", name="Softmax, temperature and confidence").wait_for()
        nav = [link.inner_text() for link in page.locator('[data-testid="stSidebarNav"] a').all()]
        assert any("Softmax & temperature" in item for item in nav), nav
        assert not any("url state" in item or "catalog" in item for item in nav), nav
        assert "sm_T=2" in page.url
        assert_no_error(page)
    finally:
        context.close()
        proc.terminate()
        proc.wait(timeout=10)
