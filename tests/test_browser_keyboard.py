"""Every page's main task with the keyboard alone, and focus always visible (issue 23, part 4).

Nothing here clicks or moves the mouse: Tab and Shift+Tab move the focus, Enter and Space press,
the arrow keys move sliders and the table's selection. Playwright's locators only *find* the
element a test tabs to (``tab_to`` compares it with ``document.activeElement``). One server per
module, whose store holds the chapter's run, as in tests/test_browser_accessibility.py.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from tests.browser import (
    assert_no_error,
    garment_png,
    open_page,
    plot_signature,
    rerun_after,
    wait_for_rerun,
)

pytestmark = pytest.mark.browser

LOAD_MS = 90_000
TRAIN_TIMEOUT_MS = 240_000
MAX_TABS = 250  # more stops than any page has: a control not reached by then is not reachable


@pytest.fixture
def kb_page(tab, chapter_runs_url):
    page = tab((1280, 720), timeout_ms=LOAD_MS)
    open_page(page, chapter_runs_url)  # the home page first: it registers st.navigation's pages
    return page


def load(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    wait_for_rerun(page, timeout_ms=LOAD_MS)


def focused(page) -> str:
    """What has the focus, as a person reading a failure would want it described."""
    return page.evaluate(
        """() => { const e = document.activeElement; if (!e) return 'nothing';
                   const name = e.getAttribute('aria-label') || (e.innerText || e.value || '').trim().slice(0, 40);
                   return `${e.tagName.toLowerCase()}${e.getAttribute('role') ? '[' + e.getAttribute('role') + ']' : ''}`
                          + ` "${name}"`; }"""
    )


def has_focus(locator) -> bool:
    return locator.evaluate("e => e === document.activeElement || e.contains(document.activeElement)")


def tab_to(page, target, backwards: bool = False, limit: int = MAX_TABS) -> None:
    """Press Tab (Shift+Tab) until `target` (a locator) has the focus; fail if it never gets it."""
    target = target.first
    target.wait_for(state="attached")
    seen = []
    for _ in range(limit):
        if has_focus(target):
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        seen.append(focused(page))
    raise AssertionError(f"{limit} presses of Tab never reached it; the focus went through: {seen[:40]} …")


def press_until(page, key: str, done_js: str, attempts: int = 3, arg=None) -> None:
    """Press `key` and wait for `done_js`; a loaded machine can drop a key, so press again (at most `attempts`)."""
    for attempt in range(attempts):
        page.keyboard.press(key)
        try:
            page.wait_for_function(done_js, arg=arg, timeout=10_000)
            return
        except PlaywrightTimeoutError:
            if attempt == attempts - 1:
                raise


def test_softmax_temperature_by_keyboard(kb_page, chapter_runs_url):
    page = kb_page
    load(page, f"{chapter_runs_url}/softmax_temperature")
    bars = plot_signature(page, 0)
    slider = page.get_by_role("slider", name=re.compile("^Temperature T"))
    tab_to(page, slider)
    before = slider.first.get_attribute("aria-valuetext")
    rerun_after(page, lambda: page.keyboard.press("ArrowRight"))
    page.wait_for_function("() => location.search.includes('sm_T=')")
    wait_for_rerun(page)
    assert slider.first.get_attribute("aria-valuetext") != before
    assert plot_signature(page, 0) != bars
    assert_no_error(page)


def selected_cell(page) -> tuple[int, int] | None:
    """The grid's selected (column, row), from its accessibility table (cells are glide-cell-<column>-<row>)."""
    return page.evaluate("""() => { const td = document.querySelector('[data-testid=stDataFrame] td[aria-selected="true"]');
                                    return td ? td.id.split('-').slice(2).map(Number) : null; }""")


def move_selection_to(page, column: int, row: int) -> None:
    """Arrow keys, one at a time, until the grid's selection is on (column, row)."""
    page.wait_for_function("() => document.querySelector('[data-testid=stDataFrame] td[aria-selected=\"true\"]')")
    for _ in range(20):
        now = selected_cell(page)
        if now == [column, row]:
            return
        key = (
            ("ArrowLeft" if now[0] > column else "ArrowRight")
            if now[0] != column
            else ("ArrowUp" if now[1] > row else "ArrowDown")
        )
        press_until(
            page,
            key,
            "(before) => { const td = document.querySelector("
            "'[data-testid=stDataFrame] td[aria-selected=\"true\"]'); return td && td.id !== before; }",
            arg=f"glide-cell-{now[0]}-{now[1]}",
        )
    raise AssertionError(f"the selection stayed at {selected_cell(page)}, not ({column}, {row})")


def test_cross_entropy_table_cell_by_keyboard(kb_page, chapter_runs_url):
    """Tab into the grid, arrow to row 0's "class 0" cell, Enter opens its editor, type, Enter commits."""
    page = kb_page
    load(page, f"{chapter_runs_url}/cross_entropy_steps")
    grid = page.locator('[data-testid="stDataFrame"] canvas').first  # past the grid's toolbar buttons
    tab_to(page, grid)
    page.keyboard.press("ArrowDown")  # the grid takes the focus with nothing selected: an arrow selects a cell
    move_selection_to(page, column=1, row=0)  # column 0 is the row markers
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement?.tagName === 'TEXTAREA'")
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("0.25")
    page.wait_for_function("() => document.activeElement?.value === '0.25'")
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    rerun_after(page, lambda: page.keyboard.press("Enter"))
    page.wait_for_function("() => decodeURIComponent(location.search).includes('0.25')")
    assert_no_error(page)


def test_losses_slider_and_share_this_view_by_keyboard(kb_page, chapter_runs_url):
    page = kb_page
    load(page, f"{chapter_runs_url}/loss_curves")
    before = [plot_signature(page, i) for i in range(2)]
    tab_to(page, page.get_by_role("slider", name="prediction ŷ"))
    rerun_after(page, lambda: [page.keyboard.press("ArrowRight") for _ in range(3)])
    page.wait_for_function("() => location.search.includes('loss_y_hat=2.8')")
    wait_for_rerun(page)
    assert [plot_signature(page, i) for i in range(2)] != before

    # Share this view: the popover opens with Enter and its link carries the slider's value.
    share = page.get_by_role("button", name=re.compile("Share this view"))
    tab_to(page, share)
    page.keyboard.press("Enter")
    code = page.locator('[data-testid="stPopoverBody"] [data-testid="stCode"]').first
    code.wait_for()
    assert "loss_y_hat=2.8" in code.inner_text()
    page.keyboard.press("Escape")
    code.wait_for(state="hidden")
    assert_no_error(page)


def test_train_and_stop_by_keyboard(kb_page, chapter_runs_url):
    page = kb_page
    load(page, f"{chapter_runs_url}/training?train_epochs=50&train_batch_size=64&train_seed=3")
    train = page.get_by_role("button", name="Train", exact=True)
    tab_to(page, train)
    page.keyboard.press("Enter")
    stop = page.get_by_test_id("stButton").get_by_role("button", name="Stop")
    stop.first.wait_for(timeout=TRAIN_TIMEOUT_MS)
    tab_to(page, stop)
    page.keyboard.press("Enter")
    page.get_by_text("Nothing was stored; press Train to start again.").wait_for(timeout=TRAIN_TIMEOUT_MS)
    assert stop.count() == 0
    assert_no_error(page)


def open_file_chooser(page, key: str, attempts: int = 3):
    """Press `key` on the focused button until the browser's file chooser opens (a busy page can drop a key)."""
    for _ in range(attempts - 1):
        wait_for_rerun(page)
        try:
            with page.expect_file_chooser(timeout=10_000) as chooser:
                page.keyboard.press(key)
            return chooser.value
        except PlaywrightTimeoutError:
            continue
    wait_for_rerun(page)
    with page.expect_file_chooser(timeout=10_000) as chooser:
        page.keyboard.press(key)
    return chooser.value


def test_upload_a_photo_inside_the_model_by_keyboard(kb_page, chapter_runs_url):
    page = kb_page
    load(page, f"{chapter_runs_url}/inside_model")
    browse = page.get_by_test_id("stFileUploaderDropzone").locator("button", has_text="Upload")  # was "Browse files"
    tab_to(page, browse)
    chooser = open_file_chooser(page, "Enter")
    rerun_after(
        page, lambda: chooser.set_files({"name": "trousers.png", "mimeType": "image/png", "buffer": garment_png()})
    )
    page.get_by_text("The model says").wait_for()
    assert_no_error(page)


def test_calibration_temperature_by_keyboard(kb_page, chapter_runs_url):
    page = kb_page
    load(page, f"{chapter_runs_url}/calibration")
    slider = page.get_by_role("slider", name=re.compile("^Your temperature T"))
    tab_to(page, slider)
    before = slider.first.get_attribute("aria-valuetext")
    rerun_after(page, lambda: page.keyboard.press("ArrowLeft"))
    wait_for_rerun(page)
    assert slider.first.get_attribute("aria-valuetext") != before
    assert "cal_T=" in page.url
    assert_no_error(page)


CELL_MENU = "Cell to list (true class taken for predicted class)"


def test_open_a_confusion_cell_by_keyboard(kb_page, chapter_runs_url):
    """Training page, chapter's run: the Confusion matrix tab by arrow keys, then the cell menu: type, Enter."""
    page = kb_page
    load(page, f"{chapter_runs_url}/training")
    menu = page.get_by_role("combobox", name=CELL_MENU)
    confusion_tab = page.get_by_role("tab", name="Confusion matrix")
    tab_to(page, page.get_by_role("tab", selected=True))  # a tab list is one Tab stop; arrows move in it
    for _ in range(3):
        if has_focus(confusion_tab):
            break
        page.keyboard.press("ArrowRight")
    if confusion_tab.get_attribute("aria-selected") != "true":  # tabs that wait for Enter or Space
        page.keyboard.press("Enter")
    page.wait_for_function("() => [...document.querySelectorAll('[role=tab][aria-selected=true]')]"
                           ".some(t => t.innerText.includes('Confusion matrix'))")  # fmt: skip
    wait_for_rerun(page)
    # The open tab's body runs in the tab's rerun, which a busy machine may start after the idle wait above.
    expect(menu, "no keyboard way to a confusion cell on this page").to_have_count(1, timeout=15_000)
    tab_to(page, menu)
    page.keyboard.type("Shirt taken for T-shirt")
    rerun_after(page, lambda: page.keyboard.press("Enter"))
    page.get_by_text("test images of Shirt predicted as T-shirt/top").wait_for()
    assert_no_error(page)


# After each Tab: an element that lost the focus is compared with how it looked while it had it
# (its own and five ancestors' outline, box shadow, border and background colours, text colour and
# decoration, and its ::before/::after): no change means no visible focus indicator (WCAG 2.4.7).
# An element drawn invisible (opacity 0 or visibility hidden on it or an ancestor) has none either.
_FOCUS_STEP = """async () => {
    // Let focus and blur transitions (an anchor fading in, a border colour) finish first, at most 1 s.
    await Promise.race([Promise.all(document.getAnimations().map(a => a.finished.catch(() => null))),
                        new Promise(done => setTimeout(done, 1000))]);
    const s = window.__focusCheck ??= {pending: [], problems: [], stops: 0, seen: new Set()};
    const sig = el => {
        const out = [];
        for (const pseudo of ['::before', '::after']) {
            const c = getComputedStyle(el, pseudo);
            out.push([c.content, c.outlineStyle, c.boxShadow, c.borderTopColor, c.backgroundColor].join('|'));
        }
        for (let e = el, i = 0; e && i < 6; e = e.parentElement, i++) {
            const c = getComputedStyle(e);
            out.push([c.outlineStyle, c.outlineWidth, c.outlineColor, c.boxShadow, c.borderTopColor,
                      c.borderBottomColor, c.borderLeftColor, c.backgroundColor, c.color, c.textDecorationLine].join('|'));
        }
        return out.join(';');
    };
    const hidden = el => { for (let e = el; e; e = e.parentElement) { const c = getComputedStyle(e);
        if (c.opacity === '0' || c.visibility === 'hidden') return true; } return false; };
    const name = e => `${e.tagName.toLowerCase()}${e.getAttribute('role') ? '[' + e.getAttribute('role') + ']' : ''} "`
        + (e.getAttribute('aria-label') || (e.innerText || '').trim()).replace(/\\s+/g, ' ').slice(0, 50) + '"'
        + (e.getAttribute('data-testid') ? ` (${e.getAttribute('data-testid')})` : '')
        + (e.closest('[data-testid]') ? ` in ${e.closest('[data-testid]').getAttribute('data-testid')}` : '');
    const a = document.activeElement;
    const widget = e => e && e.closest('[data-testid="stElementContainer"]');
    // An element is compared once the focus has left its widget: a multiselect's clear button keeps
    // the widget's focus border, which is the input's indicator too.
    s.pending = s.pending.filter(p => {
        if (!p.el.isConnected || p.el === a) return false;
        if (p.widget && p.widget === widget(a)) return true;
        if (sig(p.el) === p.sig) s.problems.push(`no visible focus indicator: ${name(p.el)}`);
        return false;
    });
    if (a && a !== document.body && hidden(a)) s.problems.push(`focused but invisible: ${name(a)}`);
    const fresh = a && !s.seen.has(a);
    if (a) s.seen.add(a);
    if (a && a !== document.body) s.pending.push({el: a, sig: sig(a), widget: widget(a)});
    s.stops += 1;
    return {fresh: !!fresh, body: !a || a === document.body};
}"""


@pytest.mark.parametrize("path", ["", "softmax_temperature", "cross_entropy_steps", "loss_curves", "training",
                                  "inside_model", "calibration"])  # fmt: skip
def test_focus_is_always_visible(kb_page, chapter_runs_url, path):
    """Tab through the whole page once (until the focus comes round again): every stop shows where it is."""
    page = kb_page
    load(page, f"{chapter_runs_url}/{path}")
    stale = 0
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        step = page.evaluate(_FOCUS_STEP)
        stale = 0 if step["fresh"] else stale + 1
        if stale >= 3:  # round again: every stop has been seen
            break
    page.keyboard.press("Tab")
    page.evaluate(_FOCUS_STEP)  # the last stop, compared once it has lost the focus
    check = page.evaluate("() => ({problems: window.__focusCheck.problems, stops: window.__focusCheck.stops})")
    assert check["stops"] > 5
    problems = sorted(set(check["problems"]))
    assert not problems, "\n".join(problems)
