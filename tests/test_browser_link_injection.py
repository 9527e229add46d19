"""Real browser: hostile link values put no foreign link or image on the page, and fetch nothing foreign.

Every link parameter of every page carries a markdown link, a markdown image, a backtick that would
close a code span, or HTML. Playwright intercepts every request: anything not for the app's own
server is recorded and refused.
"""

from __future__ import annotations

from urllib.parse import quote, urlparse

import pytest

from tests.browser import open_page, screenshot
from tests.test_link_sweep import PAGES

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
        value = quote(HOSTILE[name], safe="")
        query = "&".join(f"{key}={value}" for key in PAGES[page_name])
        open_page(page, f"{app_url}/{page_name}?{query}")
        links = page.eval_on_selector_all("[data-testid=stMain] a[href]", "els => els.map(e => e.href)")
        images = page.eval_on_selector_all("[data-testid=stMain] img", "els => els.map(e => e.src)")
        alerts = page.locator("[data-testid=stAlert]").all_inner_texts()
        if name == "link":
            screenshot(page, f"hostile_link_{page_name}")
        assert not [url for url in foreign if urlparse(url).hostname not in APP_MADE], foreign
        assert not [href for href in links if urlparse(href).netloc != own], links
        assert not [src for src in images if urlparse(src).netloc not in (own, "")], images
        assert alerts  # the page says something about the values it could not take
        assert any("evil.example" in text or FOREIGN in text for text in alerts), alerts  # shown, as text
        assert max(len(text) for text in alerts) < 600
    finally:
        context.close()
