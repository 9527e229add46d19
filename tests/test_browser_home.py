"""Real browser: the home page renders with its formulas and no error."""

import pytest

from tests.browser import assert_no_error, open_page, screenshot, start_streamlit, wait_for_rerun
from tests.conftest import ROOT, SHARED_DATA

pytestmark = pytest.mark.browser


def test_home_page_in_chromium(app_url, page):
    open_page(page, app_url)
    assert page.get_by_role("heading", name="Softmax regression, live").is_visible()
    assert page.locator(".katex").count() >= 4
    assert_no_error(page)
    screenshot(page, "home")


@pytest.mark.parametrize(
    "link, nav_title, query",
    [
        ("softmax_temperature?sm_T=2", "Softmax & temperature", "sm_T=2"),
        ("loss_curves?loss_y_hat=3", "L1, L2 & Huber losses", "loss_y_hat=3"),
        ("cross_entropy_steps?step=3.+Take+%E2%88%92log", "Cross-entropy, step by step", "step=3."),
        ("training?train_epochs=3", "Train on Fashion-MNIST", "train_epochs=3"),
    ],
)
def test_deep_link_as_first_request_after_a_server_start(chromium, tmp_path, link, nav_title, query):
    """A shared link opened on a fresh server still gets the app's navigation and its state."""

    proc, url = start_streamlit({"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(tmp_path)})
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"{url}/{link}", wait_until="domcontentloaded")
        wait_for_rerun(page)
        page.locator('[data-testid="stSidebarNav"] a').first.wait_for()
        nav = [item.inner_text() for item in page.locator('[data-testid="stSidebarNav"] a').all()]
        assert any(nav_title in item for item in nav), nav
        assert not any("url state" in item or "catalog" in item for item in nav), nav
        current = page.locator('[data-testid="stSidebarNav"] a[aria-current="page"]')
        assert nav_title in current.inner_text()
        assert query in page.url
        assert_no_error(page)
    finally:
        context.close()
        proc.terminate()
        proc.wait(timeout=10)


def test_without_the_deep_link_guard_a_first_deep_link_misses_the_navigation(chromium, tmp_path):
    """What dashboard/deep_links.py still guards against, shown with the guard off.

    On a fresh server a deep link as the first request runs the page file on its own (Streamlit's
    old pages/ folder mode): no app navigation, file names in the sidebar. If this test fails,
    Streamlit resolves such links itself and the guard can be deleted.
    """

    proc, url = start_streamlit(
        {"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(tmp_path), "SOFTMAX_NO_DEEP_LINK_GUARD": "1"}
    )
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(f"{url}/loss_curves?loss_y_hat=3", wait_until="domcontentloaded")
        page.get_by_role("heading", name="L1, L2 & Huber losses").wait_for(timeout=60_000)
        page.locator('[data-testid="stSidebarNav"] a').first.wait_for()
        nav = [item.inner_text() for item in page.locator('[data-testid="stSidebarNav"] a').all()]
        assert "loss curves" in nav and "streamlit app" in nav, nav  # file names: the old pages/ folder mode
        assert not any("L1, L2 & Huber losses" in item for item in nav), nav  # not the app's navigation
        assert page.title() != "Softmax regression, live"  # streamlit_app.py's page config never ran
    finally:
        context.close()
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize(
    "scheme, background_is_dark, first_colour", [("light", False, "#0072B2"), ("dark", True, "#56B4E9")]
)
def test_theme_follows_the_viewer_and_charts_use_the_safe_palette(
    app_url, tab, scheme, background_is_dark, first_colour
):
    import tomllib

    palette = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["theme"][scheme][
        "chartCategoricalColors"
    ]
    page = tab((1400, 1000), scheme)
    open_page(page, f"{app_url}/loss_curves")
    rgb = page.evaluate("getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor")
    brightness = sum(int(v) for v in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]) / 3
    assert (brightness < 128) == background_is_dark, rgb
    colorway = page.evaluate("document.querySelector('.js-plotly-plot')._fullLayout.colorway")
    assert colorway == palette and colorway[0] == first_colour
    assert_no_error(page)


def test_the_page_icon_is_served_by_the_app_itself(app_url, page):
    """Offline there is no web font host: the tab's icon must come from this server."""
    open_page(page, app_url)
    page.wait_for_function(
        "() => [...document.querySelectorAll('link[rel~=icon]')].some(l => l.href.includes('/app/static/icon.png'))",
        timeout=30_000,
    )
    hrefs = page.evaluate("() => [...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)")
    assert hrefs and all(h.startswith(app_url) for h in hrefs), hrefs
