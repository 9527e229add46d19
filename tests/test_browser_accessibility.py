"""axe-core on every page and the states a student reaches by using it: 0 WCAG 2.1 A/AA violations (issue 23).

One server per module, whose store holds the chapter's run (``TrainConfig()``, trained for real, so
the calibration and inside-the-model pages draw everything) and a diverged one. Every page is
loaded at a projector's 1280x720 and a phone's 390x844 (one browser tab per size, reused from page
to page) and checked in light, then in dark (the app follows the system's theme live); then the
states reached by using a page: a training just finished (curves and confusion matrix), a photo
uploaded inside the model, presenter mode, and a lecture (the lecturer's panel and QR code, a
follower's banner). See docs/accessibility.md.
"""

from __future__ import annotations

import re

import pytest

from tests.accessibility import assert_no_violations
from tests.browser import garment_png, open_page, rerun_after, upload, wait_for_rerun

pytestmark = pytest.mark.browser

PAGES = {
    "home": "",
    "softmax": "softmax_temperature",
    "cross_entropy": "cross_entropy_steps",
    "losses": "loss_curves",
    "training": "training",
    "inside_model": "inside_model",
    "calibration": "calibration",
}
SIZES = {"1280x720": (1280, 720), "390x844": (390, 844)}
THEMES = ("light", "dark")
LOAD_MS = 90_000  # the first load of a page builds its caches on a loaded machine
TRAIN_TIMEOUT_MS = 240_000
QUICK_TRAINING = "training?train_epochs=1&train_batch_size=4096&train_seed=5"


@pytest.fixture(scope="module")
def tabs(chromium, chapter_runs_url):
    """One browser tab per (theme, size), opened lazily and reused by every page checked in that view."""
    contexts, opened = [], {}

    def tab(theme: str, size: str):
        if (theme, size) not in opened:
            width, height = SIZES[size]
            context = chromium.new_context(viewport={"width": width, "height": height}, color_scheme=theme)
            contexts.append(context)
            page = context.new_page()
            page.set_default_timeout(LOAD_MS)
            open_page(page, chapter_runs_url)  # the home page first: it registers st.navigation's pages
            opened[(theme, size)] = page
        return opened[(theme, size)]

    yield tab
    for context in contexts:
        context.close()


def load(page, url: str) -> None:
    """Open a view and wait until the script is idle and every chart drawn."""
    page.goto(url, wait_until="domcontentloaded")
    wait_for_rerun(page, timeout_ms=LOAD_MS)
    assert not page.locator('[data-testid="stException"]').count(), page.url


def check_both_themes(page, where: str) -> None:
    """axe in the page's current state in light, then the same state in dark (the app follows the system)."""
    for theme in THEMES:
        page.emulate_media(color_scheme=theme)
        page.wait_for_function(
            "(dark) => { const bg = getComputedStyle(document.querySelector('[data-testid=stApp]')).backgroundColor;"
            " const [r, g, b] = bg.match(/\\d+/g).map(Number); return (r + g + b < 384) === dark; }",
            arg=theme == "dark",
        )
        wait_for_rerun(page)
        assert_no_violations(page, f"{where}, {theme}")


@pytest.mark.parametrize("name", PAGES)
@pytest.mark.parametrize("size", SIZES)
def test_page_has_no_violations(tabs, chapter_runs_url, size, name):
    """Loaded at that size, checked in light, then in dark without a reload (the app follows the system)."""
    page = tabs("light", size)
    load(page, f"{chapter_runs_url}/{PAGES[name]}")
    check_both_themes(page, f"{name}, {size}")
    page.emulate_media(color_scheme="light")


@pytest.mark.parametrize("name", PAGES)
def test_presenter_mode_has_no_violations(tabs, chapter_runs_url, name):
    page = tabs("light", "1280x720")
    load(page, f"{chapter_runs_url}/{PAGES[name]}?present=1")
    check_both_themes(page, f"{name} in presenter mode, 1280x720")
    page.emulate_media(color_scheme="light")


def test_a_finished_training_has_no_violations(chromium, chapter_runs_url):
    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        page.set_default_timeout(LOAD_MS)
        open_page(page, chapter_runs_url)
        load(page, f"{chapter_runs_url}/{QUICK_TRAINING}")
        page.get_by_role("button", name="Train", exact=True).click()
        page.get_by_text("Trained just now").wait_for(timeout=TRAIN_TIMEOUT_MS)
        wait_for_rerun(page)
        check_both_themes(page, "training page after a training (curves)")
        rerun_after(page, lambda: page.get_by_role("tab", name="Confusion matrix").click())
        check_both_themes(page, "training page after a training (confusion matrix)")
    finally:
        context.close()


def test_an_uploaded_photo_inside_the_model_has_no_violations(tabs, chapter_runs_url):
    page = tabs("light", "1280x720")
    load(page, f"{chapter_runs_url}/inside_model")
    upload(page, "trousers.png", garment_png(), "image/png")
    page.get_by_text("The model says").wait_for(timeout=LOAD_MS)
    wait_for_rerun(page)
    check_both_themes(page, "inside the model after an upload")
    page.emulate_media(color_scheme="light")


def test_a_lecture_has_no_violations(chromium, chapter_runs_url):
    """The lecturer's panel and its QR dialog on a projector; a follower's banner on a phone."""
    projector = chromium.new_context(viewport={"width": 1280, "height": 720})
    phone = chromium.new_context(viewport={"width": 390, "height": 844})
    try:
        lecturer = projector.new_page()
        lecturer.set_default_timeout(LOAD_MS)
        open_page(lecturer, chapter_runs_url)
        load(lecturer, f"{chapter_runs_url}/softmax_temperature")
        rerun_after(lecturer, lambda: lecturer.get_by_role("button", name="Start a lecture").click())
        code = lecturer.locator(".st-key-lecture_panel code").first.inner_text().replace(" ", "")
        check_both_themes(lecturer, "a lecturer's softmax page")
        rerun_after(lecturer, lambda: lecturer.get_by_role("button", name="Show the QR code large").click())
        lecturer.get_by_role("dialog").locator("img").wait_for()
        check_both_themes(lecturer, "the lecture's QR code dialog")

        follower = phone.new_page()
        follower.set_default_timeout(LOAD_MS)
        open_page(follower, f"{chapter_runs_url}/?lecture={code}")
        follower.wait_for_url(re.compile(r"/softmax_temperature\?"))
        wait_for_rerun(follower)
        follower.locator(".st-key-lecture_banner").wait_for()
        check_both_themes(follower, "a follower's phone")
    finally:
        projector.close()
        phone.close()
