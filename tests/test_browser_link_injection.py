"""Real browser: hostile link values put no foreign link or image on the page, and fetch nothing foreign.

Every link parameter of every page carries a markdown link, a markdown image, a backtick that would
close a code span, or HTML. Playwright sees every request the page makes: anything not for the app's
own server is recorded and fails the test (the foreign host here is an unused loopback address).
"""

from __future__ import annotations

from urllib.parse import quote, urlparse

import pytest

from tests.browser import open_page, running_streamlit, screenshot
from tests.conftest import SHARED_DATA
from tests.factories import PAGES, STORE_PAGES, store_with_a_run

pytestmark = pytest.mark.browser

APP_MADE = {"fonts.gstatic.com"}  # Streamlit fetches the material page icon (the favicon) from Google's fonts
FOREIGN = "127.0.0.2"  # a host that is not the app's: an image from it would be a tracking pixel
HOSTILE = {
    "link": "x[Log in again to keep your grade](https://evil.example/login)",
    "image": f"1,![t](http://{FOREIGN}/x.png)",
    "backtick": f"1`, ![t](http://{FOREIGN}/b.png) [a](https://evil.example) `",
    "html": f"<img src='http://{FOREIGN}/h.png'><a href='https://evil.example'>x</a>",
}


@pytest.mark.parametrize("page_name", list(PAGES))
def test_hostile_link_values_render_as_text(app_url, tab, page_name):
    paths = {}
    for name, hostile in HOSTILE.items():
        value = quote(hostile, safe="")
        paths[name] = f"{page_name}?" + "&".join(f"{key}={value}" for key in PAGES[page_name])
    check_pages(tab, app_url, paths, f"hostile_link_{page_name}", in_alert=True)


@pytest.fixture(scope="module")
def store_server(tmp_path_factory):
    """A server whose run store holds one finished run (made-up weights): the run pages draw all their controls."""
    from softmax_core.data import load_fashion_mnist

    runs_dir = tmp_path_factory.mktemp("hostile-runs")
    key = store_with_a_run(runs_dir, load_fashion_mnist(SHARED_DATA))
    with running_streamlit({"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(runs_dir)}) as url:
        yield url, key


@pytest.mark.parametrize(
    "page_name, real_run", [("inside_model", True), ("inside_model", False), ("calibration", False)]
)
def test_hostile_link_values_on_the_run_pages(store_server, tab, page_name, real_run):
    """Every parameter carries the value; with ``real_run`` the run key is the stored one (else the page stops)."""
    url, key = store_server
    paths = {}
    for name, hostile in HOSTILE.items():
        value = quote(hostile, safe="")
        paths[name] = f"{page_name}?" + "&".join(
            f"{k}={key if real_run and k == 'run' else value}" for k in STORE_PAGES[page_name]
        )
    shot = f"hostile_link_{page_name}{'_run' if real_run else ''}"
    check_pages(tab, url, paths, shot, in_alert=real_run)  # else a run key, shown as text


def check_pages(tab, app_url: str, paths: dict[str, str], shot: str, in_alert: bool) -> None:
    """Each hostile kind's link opened in turn, as a fresh visit (its own session) in one tab: no foreign
    request, link or image; the value is on the page as text (``in_alert``: in a message). The tab keeps
    the app's scripts cached between visits."""
    page = tab((1280, 720))
    own = urlparse(app_url).netloc
    foreign: list[str] = []

    def seen(request):
        if urlparse(request.url).netloc != own and not request.url.startswith(("data:", "blob:")):
            foreign.append(request.url)

    page.on("request", seen)  # watched, not intercepted: interception turns the browser's cache off
    try:
        for name, path in paths.items():
            foreign.clear()
            open_page(page, f"{app_url}/{path}")
            links = page.eval_on_selector_all("[data-testid=stMain] a[href]", "els => els.map(e => e.href)")
            images = page.eval_on_selector_all("[data-testid=stMain] img", "els => els.map(e => e.src)")
            alerts = page.locator("[data-testid=stAlert]").all_inner_texts()
            shown = page.locator("[data-testid=stMain]").inner_text()
            if name == "link":
                screenshot(page, shot)
            assert not [url for url in foreign if urlparse(url).hostname not in APP_MADE], (name, foreign)
            assert not [href for href in links if urlparse(href).netloc != own], (name, links)
            assert not [src for src in images if urlparse(src).netloc not in (own, "")], (name, images)
            assert alerts, name  # the page says something about the values it could not take
            quoted = alerts if in_alert else [shown]
            assert any("evil.example" in text or FOREIGN in text for text in quoted), (name, quoted)  # as text
            assert max(len(text) for text in alerts) < 600, name
    finally:
        page.remove_listener("request", seen)
