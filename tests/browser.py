"""Real-browser harness: `streamlit run` on a localhost port, Debian's chromium via Playwright.

Fixtures (registered in conftest): ``app_url`` starts one server per test session;
``page`` is a fresh Playwright page. Helpers wait for Streamlit to finish a rerun and
save screenshots under ``test-artifacts/screenshots``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from scripts.local_server import running_streamlit, start_streamlit  # noqa: F401  (the browser tests' servers)

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"


def wait_for_rerun(page, timeout_ms: int = 30_000, quiet_ms: int = 400) -> None:
    """Wait until the app is idle: script not running for `quiet_ms`, every chart drawn.

    The quiet period covers the gap between two runs (a rerun requested by the
    script itself, a widget change that reaches the server late on a busy machine).
    """
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.evaluate(COUNT_STATE_CHANGES)
    page.wait_for_function(
        """(quietMs) => { const app = document.querySelector('[data-testid="stApp"]');
                   const state = app && app.getAttribute('data-test-script-state');
                   const idle = state === 'notRunning' || state === 'compilationError';
                   const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
                   return idle && performance.now() - app.__lastChange > quietMs
                       && charts.every(c => c.querySelector('.main-svg'))
                       && !document.querySelector('[data-testid="stSkeleton"]'); }""",
        arg=quiet_ms,
        timeout=timeout_ms,
        polling=100,
    )
    page.wait_for_timeout(200)  # let plotly finish its transitions


def open_page(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    wait_for_rerun(page)


COUNT_STATE_CHANGES = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (app.__stateChanges === undefined) {
        app.__stateChanges = 0;
        app.__lastChange = performance.now();
        new MutationObserver(records => {
            app.__stateChanges += records.length;
            app.__lastChange = performance.now();
        }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
    }
    return app.__stateChanges;
}"""


def rerun_after(page, action, timeout_ms: int = 30_000) -> None:
    """Do `action` and wait for the rerun it causes to finish, however slow the machine.

    The script state is watched with a MutationObserver set up before the action, so a
    rerun that starts late (a loaded machine) is not missed. One that starts and ends within
    one paint leaves no trace: after 10 s the quiet wait below decides.
    """
    before = page.evaluate(COUNT_STATE_CHANGES)
    action()
    try:
        page.wait_for_function(
            """(before) => { const app = document.querySelector('[data-testid="stApp"]');
                             return app.__stateChanges > before
                                 && app.getAttribute('data-test-script-state') === 'notRunning'; }""",
            arg=before,
            timeout=min(timeout_ms, 10_000),
        )
    except PlaywrightTimeoutError:
        # A run that ends within one React commit never changes the attribute (seen in CI, three times in
        # two runs): the page is then idle already, and the caller's own checks say whether the run did its work.
        pass
    wait_for_rerun(page, timeout_ms)


# The grid's hidden accessibility table marks the selected cell: its id is glide-cell-<column>-<row>.
_SELECTED_CELL = """e => { const td = e.querySelector('td[aria-selected="true"]');
                          return td ? td.id.split('-').slice(2).map(Number) : null; }"""


def select_grid_cell(page, grid, row: int) -> None:
    """Select the last column's cell in `row` (0-based): click where it is drawn, then check the selection.

    The grid draws on a canvas, so a cell is reached by its position (header and rows are
    35 px). A layout shift between measuring and clicking (a caption redrawn above, the toolbar
    appearing) selects a neighbour: the arrow keys then move the selection to the right row.
    """
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + box["width"] - 30, box["y"] + 35 * (row + 1) + 17)
    page.wait_for_function(f"() => ({_SELECTED_CELL})(document.querySelector('[data-testid=stDataFrame]'))")
    _, selected_row = grid.evaluate(_SELECTED_CELL)
    for _ in range(abs(row - selected_row)):
        page.keyboard.press("ArrowDown" if row > selected_row else "ArrowUp")
    assert grid.evaluate(_SELECTED_CELL)[1] == row


_WAIT_FRAMES = (
    "(n) => new Promise(done => { const f = k => k ? requestAnimationFrame(() => f(k - 1)) : done(); f(n); })"
)
ENTER_AFTER_FRAMES = 2  # the grid often drops an Enter within a frame or so of the last key (docs/testing.md)


def open_grid_editor(page, row: int) -> None:
    """Select the last column's cell in the first data grid's `row` and open its editor with Enter.

    Typing into a closed editor can lose the first key.
    """
    select_grid_cell(page, page.locator('[data-testid="stDataFrame"]').first, row)
    page.keyboard.press("Enter")


def type_and_commit(page, text: str, frames: int = ENTER_AFTER_FRAMES) -> None:
    """Replace the open editor's text with `text`, then press Enter `frames` animation frames later.

    The cell's editor is a textarea that takes the focus once open; only then are keys its own.
    """
    page.wait_for_function("() => document.activeElement?.tagName === 'TEXTAREA'", timeout=5_000)
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(text)
    page.wait_for_function("(t) => document.activeElement?.value === t", arg=text, timeout=5_000)
    page.evaluate(_WAIT_FRAMES, frames)  # no person types faster (scripts/grid_enter_race.py)
    page.keyboard.press("Enter")


def edit_grid_cell(page, row: int, text: str, done_js: str, attempts: int = 3) -> None:
    """Type `text` into the last column of the first data grid's `row` (0-based) until `done_js` holds.

    Enter is pressed two animation frames after the last key, as a person would (see docs/testing.md, the
    note on the grid). A later failure repeats the whole edit (it is idempotent) until the page shows it.
    """
    for attempt in range(attempts):
        wait_for_rerun(page)
        open_grid_editor(page, row)
        try:
            type_and_commit(page, text)
            page.wait_for_function(done_js, timeout=15_000)
            break
        except PlaywrightTimeoutError as timeout:
            if attempt == attempts - 1:
                raise AssertionError(
                    f"typed {text!r} into row {row} {attempts} times and the page never showed it ({done_js}); "
                    f"the last attempt: {timeout.message.splitlines()[0]}; the grid shows: {_grid_text(page)!r}"
                ) from None
            page.keyboard.press("Escape")
    wait_for_rerun(page)


def _grid_text(page) -> str:
    """The first data grid's cells as its hidden accessibility table lists them (the grid draws on a canvas)."""
    return page.evaluate(
        """() => [...(document.querySelector('[data-testid=stDataFrame]')?.querySelectorAll('td') ?? [])]
                     .map(td => td.textContent).join(' | ').slice(0, 400)"""
    )


def assert_no_error(page) -> None:
    errors = page.locator('[data-testid="stException"], [data-testid="stError"]')
    assert errors.count() == 0, errors.first.inner_text()


def screenshot(page, name: str, whole_page: bool = False) -> Path:
    """Save what the viewer sees; `whole_page` grows the window to the app's full height first.

    Streamlit scrolls inside its own container, so the browser's full_page option
    alone would capture only the first screen.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    size = page.viewport_size
    if whole_page and size:
        height = page.evaluate(
            "() => { const m = document.querySelector('[data-testid=\"stMain\"]'); return m ? m.scrollHeight : 0; }"
        )
        page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height), 12_000))})
        page.wait_for_timeout(500)  # plotly redraws on resize
    page.screenshot(path=str(path), full_page=True)
    if whole_page and size:
        page.set_viewport_size(size)
    return path


def plot_signature(page, index: int = 0) -> str:
    """A string that changes when the index-th plotly chart's data changes."""
    return page.evaluate(
        """(i) => { const plots = document.querySelectorAll('.js-plotly-plot');
                    const p = plots[i]; if (!p || !p.data) return '';
                    return JSON.stringify(p.data.map(t => [t.x, t.y, t.z])); }""",
        index,
    )


# A thumb is an <input type=range> (react-aria) or a div with aria-valuenow (older sliders).
_SLIDER_VALUE = (
    "el => String(el.value ?? '') + '|' + (el.getAttribute('aria-valuenow') ?? el.getAttribute('aria-valuetext'))"
)


def move_slider(page, label: str, presses: int = 3, key: str = "ArrowRight") -> None:
    """Focus the slider with this aria-label and move it with the keyboard, like a user would.

    Each press is checked on the thumb's value and repeated if a loaded machine
    dropped it, so the slider moves exactly `presses` steps and the rerun surely follows.
    """
    thumb = page.get_by_role("slider", name=label).first

    wait_for_rerun(page)  # keys pressed while a run is still drawing the page can be lost
    thumb.wait_for(state="visible")

    def press() -> None:
        for done in range(presses):
            before = thumb.evaluate(_SLIDER_VALUE)
            for attempt in range(3):
                thumb.focus()
                page.keyboard.press(key)
                try:
                    page.wait_for_function(
                        f"([el, before]) => ({_SLIDER_VALUE})(el) !== before",
                        arg=[thumb.element_handle(), before],
                        timeout=3_000,
                    )
                    break
                except PlaywrightTimeoutError:
                    if attempt == 2:
                        raise AssertionError(
                            f"slider {label!r}: {key} pressed 3 times after {done} of {presses} steps and its value "
                            f"stayed {before!r} (value|aria-valuenow)"
                        ) from None

    rerun_after(page, press)


def stop_button(page):
    """The page's own Stop button; Streamlit's header shows another "Stop" while a script run lasts."""
    return page.get_by_test_id("stButton").get_by_role("button", name="Stop")


# What the browser measures on a page (minVisible: px of the first chart that must show in the first screen);
# every entry is one problem a student would see.
VISIBLE_PROBLEMS = """(minVisible) => {
    const problems = [];
    const box = el => el.getBoundingClientRect();
    const near = el => (el.innerText || el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 60);
    // A formula is clipped when its rendered width passes its element's box (st.latex hides or scrolls it).
    for (const k of document.querySelectorAll('.katex')) {
        if (!k.offsetParent) continue;  // inside a closed tab or popover
        const holder = k.closest('[data-testid="stElementContainer"]') || k.parentElement;
        const inner = k.querySelector('.katex-html') || k;
        const r = box(inner), h = box(holder);
        const scroller = k.closest('.katex-display') || k.parentElement;  // glyph overhangs of 1-3 px are not clipping
        if (r.right > h.right + 2 || r.left < h.left - 2 || scroller.scrollWidth > scroller.clientWidth + 4) {
            const tex = (k.querySelector('annotation') || k).textContent.trim().slice(0, 60);
            problems.push(`clipped formula (${Math.round(r.width)} px in ${Math.round(h.width)} px): ${tex}`);
        }
    }
    // A button label is truncated when some text element inside it is wider than it shows.
    for (const b of document.querySelectorAll('button')) {
        if (!b.offsetParent || !b.closest('[data-testid="stMain"]')) continue;
        for (const t of [b, ...b.querySelectorAll('*')]) {
            if (t.children.length === 0 && t.scrollWidth > t.clientWidth + 1 && t.clientWidth > 0
                && getComputedStyle(t).overflow !== 'visible') {
                problems.push(`truncated button: "${near(b)}"`);
                break;
            }
        }
    }
    for (const e of document.querySelectorAll('[data-testid="stException"]')) {
        problems.push(`exception: ${near(e)}`);
    }
    const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].filter(c => c.offsetParent);
    const main = document.querySelector('[data-testid="stMain"]');
    const top = charts.length ? box(charts[0]).top - box(main).top : null;
    return {problems, chartTop: top, charts: charts.length};
}"""


# ---------------------------------------------------------------- lecture mode: a follower's view

FOLLOW_MS = 30_000  # a follower polls every second; a loaded machine gets time
T_SLIDER = "Temperature T (log scale: each step multiplies T by about 1.12)"
PHONE = {"width": 390, "height": 844}


def temperature(page) -> str:
    return page.get_by_role("slider", name=T_SLIDER).first.get_attribute("aria-valuetext") or ""


def banner(page) -> str:
    return page.locator(".st-key-lecture_banner").inner_text()


def lecturer_moves_the_temperature(lecturer, followers, presses: int = 3) -> str:
    """The lecturer moves T; every follower's address and slider then show her value (returned)."""
    move_slider(lecturer, T_SLIDER, presses=presses)
    wanted = temperature(lecturer)
    query = re.search(r"sm_T=[^&]+", lecturer.url).group(0)
    for follower in followers:
        follower.wait_for_url(re.compile(re.escape(query)), timeout=FOLLOW_MS)
        wait_for_rerun(follower)
        assert temperature(follower) == wanted
    return wanted


# ---------------------------------------------------------------- uploading a garment photo


def garment_png() -> bytes:
    """A dark trouser-like shape on a light background, as a phone photo of a drawing would be."""
    pixels = np.full((240, 180), 230, np.uint8)
    pixels[20:220, 50:85] = 40
    pixels[20:220, 95:130] = 40
    pixels[20:50, 50:130] = 40
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def upload(page, name: str, data: bytes, mime: str) -> None:
    chooser = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    rerun_after(page, lambda: chooser.set_input_files({"name": name, "mimeType": mime, "buffer": data}))
