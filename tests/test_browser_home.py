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
