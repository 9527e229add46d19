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


@pytest.mark.parametrize("scheme, background_is_dark, first_colour", [("light", False, "#0072B2"), ("dark", True, "#56B4E9")])
def test_theme_follows_the_viewer_and_charts_use_the_safe_palette(app_url, chromium, scheme, background_is_dark, first_colour):
    import tomllib

    from tests.conftest import ROOT

    palette = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["theme"][scheme]["chartCategoricalColors"]
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, color_scheme=scheme)
    try:
        page = context.new_page()
        open_page(page, f"{app_url}/loss_curves")
        rgb = page.evaluate("getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor")
        brightness = sum(int(v) for v in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]) / 3
        assert (brightness < 128) == background_is_dark, rgb
        colorway = page.evaluate("document.querySelector('.js-plotly-plot')._fullLayout.colorway")
        assert colorway == palette and colorway[0] == first_colour
        assert_no_error(page)
    finally:
        context.close()
