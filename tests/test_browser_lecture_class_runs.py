"""The class experiment in Chromium: a lecture on the training page, two students train, the projector shows it.

The lecturer opens the training page on a projector and starts a lecture; one student follows by the join link
(what the QR code carries), another joins by the code with a nickname that looks like markup. Both press Train
at the lecturer's settings (one training, two choices), then the second explores on her own and trains another
learning rate. The lecturer shows the class's runs: one point per setting, the count beside the shared one, the
nickname shown as typed in the hover; a click on a point opens that run inside the model, and the student still
following lands there with her.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from tests.browser import FOLLOW_MS, PHONE, assert_no_error, banner, open_page, rerun_after, screenshot, wait_for_rerun
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser

QUICK = "training?train_epochs=1&train_batch_size=4096&train_seed=5"  # a few seconds a training
TRAIN_MS = 240_000
NICKNAME = "<b>Bo</b>"  # plotly would draw this bold if it were read as markup
OWN_LR = "0.5"

CLASS_CHART = """() => { const p = [...document.querySelectorAll('.js-plotly-plot')]
                           .find(p => ((p.layout.title || {}).text || '').includes("The class's runs"));
                         if (!p) return null;
                         const t = p.data.find(t => t.name === 'finished' && (t.xaxis || 'x') === 'x');
                         const title = p.layout.title.text.replace(/<[^>]+>/g, ' ').replace(/\\s+/g, ' ').trim();  // bold, wrapped
                         return JSON.stringify({title: title, x: t.x, text: t.text, keys: t.customdata}); }"""

# The centre of the index-th marker of the first panel's finished points, as a person would point at it.
MARKER_CENTRE = """(i) => { const p = [...document.querySelectorAll('.js-plotly-plot')]
                                .find(p => ((p.layout.title || {}).text || '').includes("The class's runs"));
                            p.scrollIntoView({block: 'center'});
                            const marker = p.querySelector('.subplot.xy .scatterlayer .trace .points path:nth-child(' + (i + 1) + ')');
                            const box = marker.getBoundingClientRect();
                            return [box.x + box.width / 2, box.y + box.height / 2]; }"""


def train(page) -> None:
    """Press Train and wait until the run is on screen (trained now, or the stored run of the same settings)."""
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text("Trained just now").or_(page.get_by_text("Cached")).first.wait_for(timeout=TRAIN_MS)
    wait_for_rerun(page)


def class_chart(page, title: str) -> dict:
    """The class chart's first panel once its title says ``title`` (the panel refreshes every few seconds);
    fails with the chart it saw, or every chart's title if there was none."""
    wanted = f"() => {{ const c = ({CLASS_CHART})(); return c && JSON.parse(c).title === {json.dumps(title)}; }}"
    try:
        page.wait_for_function(wanted, timeout=FOLLOW_MS)
    except PlaywrightTimeoutError:
        every = "() => JSON.stringify([...document.querySelectorAll('.js-plotly-plot')].map(p => p.layout.title))"
        seen = page.evaluate(CLASS_CHART) or page.evaluate(every)
        raise AssertionError(f"no class chart titled {title!r} within {FOLLOW_MS} ms; saw {seen}") from None
    return json.loads(page.evaluate(CLASS_CHART))


def test_the_projector_shows_the_runs_the_class_trained(chromium, tmp_path):
    from scripts.local_server import running_streamlit

    env = {"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(tmp_path / "runs")}
    with running_streamlit(env) as url:
        projector = chromium.new_context(viewport={"width": 1280, "height": 720})
        phones = [chromium.new_context(viewport=PHONE, color_scheme=s) for s in ("light", "dark")]
        try:
            lecturer = projector.new_page()
            open_page(lecturer, f"{url}/{QUICK}")
            rerun_after(lecturer, lambda: lecturer.get_by_role("button", name="Start a lecture").click())
            code = lecturer.locator(".st-key-lecture_panel code").first.inner_text().replace(" ", "")

            ann, bo = (context.new_page() for context in phones)
            open_page(ann, f"{url}/?lecture={code}")  # the join link, which the QR code carries
            open_page(bo, url)
            bo.get_by_role("textbox", name="Lecture code").fill(code)
            bo.get_by_role("textbox", name="Nickname (optional)").fill(NICKNAME)
            rerun_after(bo, lambda: bo.get_by_role("button", name="Join the lecture").click())
            for student in (ann, bo):
                student.wait_for_url(re.compile(r"/training\?"), timeout=FOLLOW_MS)
                wait_for_rerun(student)

            # Both train at the lecturer's settings while following: one run, two choices; Train does not detach.
            train(ann)
            train(bo)
            assert "Following the lecture" in banner(ann) and "Following the lecture" in banner(bo)

            # Bo explores on her own and trains another learning rate.
            rerun_after(bo, lambda: bo.get_by_role("button", name="Explore on my own").click())
            box = bo.get_by_label("Learning rate η", exact=True)
            box.fill(OWN_LR)
            box.press("Tab")
            train(bo)
            assert "exploring on your own" in banner(bo)
            assert f"train_lr={OWN_LR}" in bo.url

            rerun_after(lecturer, lambda: lecturer.get_by_text("Show the class's runs").click())
            drawn = class_chart(lecturer, "The class's runs: 2 settings, 3 choices")
            assert drawn["x"] == [0.1, 0.5]  # the lecturer's learning rate, then Bo's own (log axis, sorted)
            assert drawn["text"] == ["2", ""]  # identical settings count once, with how many chose them
            assert_no_error(lecturer)

            # Bo's point: her nickname as she typed it, not as bold text.
            hover = lecturer.locator(".hoverlayer .hovertext")
            for _ in range(3):  # the panel redraws every few seconds, which can drop a hover: point again
                lecturer.mouse.move(0, 0)
                centre = lecturer.evaluate(MARKER_CENTRE, 1)
                lecturer.mouse.move(*centre)
                try:
                    hover.wait_for(timeout=5_000)
                    break
                except PlaywrightTimeoutError:
                    continue
            expect(hover).to_contain_text("1 student: " + NICKNAME, timeout=10_000)
            assert hover.locator("tspan[style*='bold']").count() == 0
            screenshot(lecturer, "lecture-class-runs-projector")  # the chart in view, Bo's point hovered

            # A click on the point opens that run inside the model; Ann, still following, comes along.
            opened = lecturer.get_by_test_id("stMainBlockContainer").get_by_role("link", name="Inside the model")
            for _ in range(3):  # plotly can take the first click on a chart for a hover
                rerun_after(lecturer, lambda: lecturer.mouse.click(*centre))
                if opened.count():
                    break
            rerun_after(lecturer, opened.click)
            run = f"run={drawn['keys'][1]}"
            assert "/inside_model?" in lecturer.url and run in lecturer.url
            ann.wait_for_url(re.compile(r"/inside_model\?.*" + re.escape(run)), timeout=FOLLOW_MS)
            wait_for_rerun(ann)
            for page in (lecturer, ann, bo):
                assert_no_error(page)
        finally:
            projector.close()
            for context in phones:
                context.close()
