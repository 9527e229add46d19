"""Real browser: train a short run, open Inside the model, move the epoch slider, explain, upload, follow the link."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from softmax_core.logit_presets import parse_logits
from softmax_core.run_store import StoredRun
from tests.browser import (
    assert_no_error,
    garment_png,
    move_slider,
    open_page,
    rerun_after,
    screenshot,
    upload,
    wait_for_rerun,
)
from tests.factories import GARMENT_STEPS

pytestmark = pytest.mark.browser

TRAINING = "training?train_epochs=1&train_batch_size=4096&train_seed=11"
TRAIN_TIMEOUT_MS = 240_000
SLIDER = "Epoch (0 = the random initial weights)"
SIZES = {"1280x720": (1280, 720), "1400x1000": (1400, 1000), "390x844": (390, 844)}


def chart_z(page, key: str, trace: int) -> str:
    return page.evaluate(
        """([key, i]) => { const el = document.querySelector(`.st-key-${key} .js-plotly-plot`)
                           || [...document.querySelectorAll('.js-plotly-plot')][0];
                           return JSON.stringify(el && el.data ? el.data[i].z : null); }""",
        [key, trace],
    )


def click_confusion_cell(page, true_class: int, predicted_class: int) -> None:
    """Click the centre of one cell of the training page's confusion matrix (10 x 10, true class down the side)."""
    # Plotly sometimes takes a click on a freshly drawn chart as the end of a hover, selecting nothing:
    # click again (at most three times) until the page lists the cell's images; else fail with what it shows.
    # Each click waits for the run it starts (on a busy machine it may outlast a fixed wait, and a second
    # click on the same cell would clear the selection), and the chart is found and measured again before
    # each click, since a run in between may have redrawn or moved it.
    listed = page.get_by_text("test images of")
    for _ in range(3):
        wait_for_rerun(page)
        index = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
                                      .findIndex(p => p.data && p.data.length === 2 && p.data[0].type === 'heatmap')""")
        assert index >= 0, "no confusion matrix on the page"
        plot = page.locator(".js-plotly-plot").nth(index)
        plot.scroll_into_view_if_needed()
        box = plot.locator(".nsewdrag").first.bounding_box()
        x = box["x"] + (predicted_class + 0.5) / 10 * box["width"]
        y = box["y"] + (true_class + 0.5) / 10 * box["height"]
        page.mouse.move(x, y)
        page.wait_for_timeout(300)
        page.mouse.click(x, y)
        wait_for_rerun(page)
        try:
            listed.first.wait_for(timeout=2_000)
        except PlaywrightTimeoutError:
            continue
        wait_for_rerun(page)  # the listing's text comes before its grid of images is drawn
        return
    shown = page.get_by_test_id("stMain").inner_text()[-600:]
    raise AssertionError(
        f"three clicks on cell (true {true_class}, predicted {predicted_class}) listed no test images; "
        f"the page ends with: {shown!r}"
    )


def test_train_then_look_inside_in_chromium(app_url, page):
    open_page(page, f"{app_url}/{TRAINING}")
    page.get_by_role("button", name="Train", exact=True).click()
    page.mouse.move(0, 0)
    page.get_by_text("Trained just now").wait_for(timeout=TRAIN_TIMEOUT_MS)
    wait_for_rerun(page)

    # Click a confusion cell (true Shirt, predicted T-shirt/top): its test images are listed, with a link inside.
    page.get_by_role("tab", name="Confusion matrix").click()
    wait_for_rerun(page)
    click_confusion_cell(page, true_class=6, predicted_class=0)
    listed = page.get_by_text("test images of Shirt predicted as T-shirt/top")
    listed.wait_for(timeout=30_000)
    count = int(listed.inner_text().split()[0].replace(",", ""))
    assert count > 0
    grid_titles = """() => [...document.querySelectorAll('.js-plotly-plot')]
                             .map(p => (p.layout.annotations || []).map(a => a.text))
                             .find(t => t.length && t.every(x => x.startsWith('Shirt<br><i>T-shirt/top')))"""
    page.wait_for_function(grid_titles, timeout=30_000)  # drawn after the sentence that counts them
    titles = page.evaluate(grid_titles)
    assert titles and len(titles) == min(count, 18)
    listed.scroll_into_view_if_needed()
    screenshot(page, "training_confusion_click")

    # The link opens that image inside the model, for the run just trained.
    rerun_after(page, lambda: page.get_by_role("link", name="Why? Open the first one inside the model").click())
    assert page.get_by_role("heading", name="Inside the trained model").is_visible()
    assert_no_error(page)
    assert "run=" in page.url and "in_image=" in page.url
    main_text = page.locator('[data-testid="stMain"]').inner_text()
    assert "is a Shirt; the model" in main_text and "says T-shirt/top" in main_text
    assert page.get_by_text("Run: scratch · lr 0.1 · batch 4096 · 1 ep · seed 11").is_visible()
    screenshot(page, "inside_model_templates")

    if hasattr(StoredRun, "load_snapshots"):  # the run store keeps W and b after every epoch
        before = chart_z(page, "in_templates", 0)
        move_slider(page, SLIDER, presses=1, key="ArrowLeft")  # epoch 1 -> epoch 0, the initial noise
        assert "in_epoch=0" in page.url
        assert chart_z(page, "in_templates", 0) != before
        move_slider(page, SLIDER, presses=1, key="ArrowRight")
    else:  # until the snapshot change is merged: the page explains why there is no slider
        assert page.get_by_text("kept only the final weights").is_visible()
        assert page.get_by_role("slider", name=SLIDER).count() == 0

    # A random mistake, with its contribution maps.
    rerun_after(page, lambda: page.get_by_role("button", name="A random mistake").click())
    assert_no_error(page)
    assert page.get_by_text("a mistake.").first.is_visible()
    page.get_by_role("heading", name="Why this image got its label").scroll_into_view_if_needed()
    screenshot(page, "inside_model_explanation")

    # Your own picture: every step shown, then the prediction; a bad file gets a sentence.
    upload(page, "trousers.png", garment_png(), "image/png")
    page.get_by_text("The model says").wait_for(timeout=30_000)
    assert_no_error(page)
    steps = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
                                  .map(p => (p.layout.annotations || []).map(a => a.text))
                                  .find(t => t.includes('8-bit grey'))""")
    assert steps == GARMENT_STEPS  # Zalando's steps, after the photo's background is made white
    items = page.locator('[data-testid="stMarkdownContainer"] ol').last.locator("li").all_inner_texts()
    assert [item.split(":")[0] for item in items] == GARMENT_STEPS  # a real numbered list of plain text
    page.get_by_role("heading", name="Your own picture").scroll_into_view_if_needed()
    screenshot(page, "inside_model_upload")
    upload(page, "not-a-picture.png", b"just some text\n" * 10, "image/png")
    page.get_by_text("This file is not a PNG, JPEG, WebP or GIF picture").wait_for(timeout=30_000)
    assert page.get_by_text("The model says").count() == 0

    # The scores travel to the softmax page, bit for bit.
    link = page.get_by_role("link", name="Open these scores on the softmax page")
    link.scroll_into_view_if_needed()
    link.click()
    wait_for_rerun(page)
    assert "/softmax_temperature" in page.url
    query = {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}
    sent = parse_logits(query["sm_logits"])
    # sm_labels=fashion is read (Streamlit 1.67's binding then drops that short form from the address bar).
    assert len(sent) == 10
    expect(page.get_by_text("Ankle boot")).not_to_have_count(0, timeout=30_000)  # the class names came along
    box = page.get_by_role("textbox", name="Logits o (comma-separated, 2 to 10 classes)")
    # Streamlit's text input mounts empty and takes its value a moment later (4 to 200 ms here, in a one-line
    # app too: docs/testing.md); a busy machine widens that moment, so read the box once it has a value.
    expect(box).not_to_have_value("", timeout=30_000)
    typed = box.input_value()
    assert parse_logits(typed) == sent
    assert_no_error(page)


def test_inside_model_screenshots_light_and_dark(app_url, tab):
    """The page at three window sizes in both themes (saved for a person to look at): loaded once per
    theme, then resized as a phone or a laptop window would be."""
    key = None
    for scheme in ("light", "dark"):
        first_size = next(iter(SIZES.values()))
        page = tab(first_size, scheme)
        if key is None:  # train (or reuse) the short run once, then open it by its key
            open_page(page, f"{app_url}/{TRAINING}")
            page.get_by_role("button", name="Train", exact=True).click()
            page.get_by_text("Cached").or_(page.get_by_text("Trained just now")).first.wait_for(
                timeout=TRAIN_TIMEOUT_MS
            )
            wait_for_rerun(page)
            link = page.get_by_role("link", name="Inside the model").first
            rerun_after(page, link.click)
            key = parse_qs(urlsplit(page.url).query)["run"][0]
        open_page(page, f"{app_url}/inside_model?run={key}&in_image=12")
        for name, (width, height) in SIZES.items():
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(500)  # the layout reflows and plotly redraws at the new width
            assert_no_error(page)
            first_chart = page.locator(".js-plotly-plot").first.bounding_box()
            if name == "1280x720":  # the templates start within the first screen
                assert first_chart is not None and first_chart["y"] < height
            screenshot(page, f"inside_model_{scheme}_{name}")
            screenshot(page, f"inside_model_{scheme}_{name}_whole", whole_page=True)
    assert key is not None
