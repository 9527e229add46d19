"""The README's screenshots: every page's first screen at a projector's 1280x720, with the chapter's run stored.

    python -m scripts.readme_screenshots --data-dir ../shared/data/fashion-mnist [--theme light|dark]

Trains the chapter's run with the CLI into a fresh store, starts the app on a loopback port, and saves
``docs/screenshots/<page>.png``: what a newcomer sees before running anything.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from scripts.chromium import launch_chromium
from scripts.local_server import ROOT, running_streamlit

PAGES = ("", "softmax_temperature", "loss_curves", "cross_entropy_steps", "training", "inside_model", "calibration")
SIZE = {"width": 1280, "height": 720}
IDLE = """() => { const app = document.querySelector('[data-testid="stApp"]');
    const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
    return app && app.getAttribute('data-test-script-state') === 'notRunning'
        && charts.every(c => c.querySelector('.main-svg'))
        && !document.querySelector('[data-testid="stSkeleton"]'); }"""


def settle(page, quiet_ms: int = 2000, timeout_s: float = 180) -> None:
    """Wait until the page has been idle, every chart drawn, for ``quiet_ms``: a deep link reruns through the
    navigation once, and a busy server starts a run late, so one idle moment is not the end."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        page.wait_for_function(IDLE, timeout=timeout_s * 1000, polling=200)
        page.wait_for_timeout(quiet_ms)
        if page.evaluate(IDLE):
            return
    raise TimeoutError(f"{page.url} never settled")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--theme", choices=("light", "dark"), default="light")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as runs:
        subprocess.run(
            [sys.executable, "-m", "softmax_core.cli", "--data-dir", args.data_dir, "--runs-dir", runs], check=True
        )
        env = {"SOFTMAX_DATA_DIR": args.data_dir, "SOFTMAX_RUNS_DIR": runs}
        with running_streamlit(env) as url, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            context = browser.new_context(viewport=SIZE, color_scheme=args.theme)
            page = context.new_page()
            for name in PAGES:
                page.goto(f"{url}/{name}", wait_until="domcontentloaded")
                page.wait_for_selector('[data-testid="stApp"]')
                settle(page)
                path = out / f"{name or 'home'}.png"
                page.screenshot(path=str(path))
                print(path)
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
