"""How many table edits does Streamlit's data grid lose when Enter follows the last key too soon?

Opens the softmax page in Chromium, types "5" into the first logit cell and presses Enter after
waiting ``--frames`` animation frames (0 = at once), ``--runs`` times; prints the edits lost. The
browser tests wait ``ENTER_AFTER_FRAMES`` frames before Enter (``tests/browser.py``, ``edit_grid_cell``).

    python scripts/grid_enter_race.py --frames 0 --frames 2 --runs 12
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from scripts.chromium import launch_chromium  # noqa: E402
from scripts.local_server import running_streamlit  # noqa: E402
from tests.browser import open_grid_editor, open_page, type_and_commit, wait_for_rerun  # noqa: E402

EDITED = "() => [...document.querySelectorAll('input')].some(i => i.value === '5, 2, 3')"


def edit_is_kept(browser, url: str, frames: int) -> bool:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        open_page(page, url)
        open_page(page, f"{url}/softmax_temperature")
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=30_000)
        wait_for_rerun(page)
        open_grid_editor(page, 0)
        type_and_commit(page, "5", frames)
        try:
            page.wait_for_function(EDITED, timeout=10_000)
            return True
        except PlaywrightTimeoutError:
            return False
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, action="append", help="animation frames before Enter (repeatable)")
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/fashion-mnist"))
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as runs_dir,
        running_streamlit({"SOFTMAX_DATA_DIR": args.data_dir, "SOFTMAX_RUNS_DIR": runs_dir}) as url,
        sync_playwright() as pw,
    ):
        browser = launch_chromium(pw)
        frame_counts = args.frames or [0, 2]
        lost = dict.fromkeys(frame_counts, 0)
        for _ in range(args.runs):  # interleaved, so a warming or busy machine weighs on every setting alike
            for frames in frame_counts:
                lost[frames] += not edit_is_kept(browser, url, frames)
        for frames in frame_counts:
            print(f"Enter after {frames} animation frame(s): {lost[frames]} of {args.runs} edits lost")
        browser.close()


if __name__ == "__main__":
    main()
