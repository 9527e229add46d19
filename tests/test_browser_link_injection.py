"""Real browser: hostile link values put no foreign link or image on the page, and fetch nothing foreign.

Every link parameter of every page carries a markdown link, a markdown image, a backtick that would
close a code span, or HTML. Playwright intercepts every request: anything not for the app's own
server is recorded and refused.
"""

from __future__ import annotations

from urllib.parse import quote, urlparse

import pytest

from tests.browser import open_page, running_streamlit, screenshot
from tests.conftest import SHARED_DATA
from tests.test_link_sweep import PAGES, STORE_PAGES, store_with_a_run

pytestmark = pytest.mark.browser

APP_MADE = {"fonts.gstatic.com"}  # Streamlit fetches the material page icon (the favicon) from Google's fonts
FOREIGN = "127.0.0.2"  # a host that is not the app's: an image from it would be a tracking pixel
HOSTILE = {
    "link": "x[Log in again to keep your grade](https://evil.example/login)",
    "image": f"1,![t](http://{FOREIGN}/x.png)",
    "backtick": f"1`, ![t](http://{FOREIGN}/b.png) [a](https://evil.example) `",
    "html": f"<img src='http://{FOREIGN}/h.png'><a href='https://evil.example'>x</a>",
}


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("page_name", list(PAGES))
def test_hostile_link_values_render_as_text(app_url, chromium, page_name, name):
    value = quote(HOSTILE[name], safe="")
    query = "&".join(f"{key}={value}" for key in PAGES[page_name])
    check_page(chromium, app_url, f"{page_name}?{query}", f"hostile_link_{page_name}" if name == "link" else None, True)


@pytest.fixture(scope="module")
def store_server(tmp_path_factory):
    """A server whose run store holds one finished run (made-up weights): the run pages draw all their controls."""
    from softmax_core.data import load_fashion_mnist

    runs_dir = tmp_path_factory.mktemp("hostile-runs")
    key = store_with_a_run(runs_dir, load_fashion_mnist(SHARED_DATA))
    with running_streamlit({"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(runs_dir)}) as url:
        yield url, key


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize(
    "page_name, real_run", [("inside_model", True), ("inside_model", False), ("calibration", False)]
)
def test_hostile_link_values_on_the_run_pages(store_server, chromium, page_name, real_run, name):
    """Every parameter carries the value; with ``real_run`` the run key is the stored one (else the page stops)."""
    url, key = store_server
    value = quote(HOSTILE[name], safe="")
    query = "&".join(f"{k}={key if real_run and k == 'run' else value}" for k in STORE_PAGES[page_name])
    shot = f"hostile_link_{page_name}{'_run' if real_run else ''}" if name == "link" else None
    check_page(chromium, url, f"{page_name}?{query}", shot, in_alert=real_run)  # else a run key, shown as text


def check_page(chromium, app_url: str, path: str, shot: str | None, in_alert: bool) -> None:
    """No foreign request, link or image; the hostile value is on the page as text (``in_alert``: in a message)."""
    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    own = urlparse(app_url).netloc
    foreign: list[str] = []

    def route(r):
        if urlparse(r.request.url).netloc == own or r.request.url.startswith(("data:", "blob:")):
            r.continue_()
        else:
            foreign.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    try:
        page = context.new_page()
        open_page(page, f"{app_url}/{path}")
        links = page.eval_on_selector_all("[data-testid=stMain] a[href]", "els => els.map(e => e.href)")
        images = page.eval_on_selector_all("[data-testid=stMain] img", "els => els.map(e => e.src)")
        alerts = page.locator("[data-testid=stAlert]").all_inner_texts()
        shown = page.locator("[data-testid=stMain]").inner_text()
        if shot:
            screenshot(page, shot)
        assert not [url for url in foreign if urlparse(url).hostname not in APP_MADE], foreign
        assert not [href for href in links if urlparse(href).netloc != own], links
        assert not [src for src in images if urlparse(src).netloc not in (own, "")], images
        assert alerts  # the page says something about the values it could not take
        quoted = alerts if in_alert else [shown]
        assert any("evil.example" in text or FOREIGN in text for text in quoted), quoted  # shown, as text
        assert max(len(text) for text in alerts) < 600
    finally:
        context.close()
