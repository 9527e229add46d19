"""How many HTTP requests one browser makes to load the app: the figure behind HAProxy's per-source limits.

    python -m scripts.page_requests

starts ``streamlit run`` on a free loopback port, opens the home page in Chromium, then loads
each page in full (as a reload or a typed address does), and prints the requests counted.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.chromium import launch_chromium  # noqa: E402
from scripts.local_server import start_streamlit, stop_streamlit  # noqa: E402

PAGES = ("softmax_temperature", "loss_curves", "cross_entropy_steps", "training", "inside_model", "calibration")


def main() -> int:
    from playwright.sync_api import sync_playwright

    from softmax_core.data import resolve_data_dir

    proc, url = start_streamlit({"SOFTMAX_DATA_DIR": str(resolve_data_dir()), "SOFTMAX_RUNS_DIR": tempfile.mkdtemp()})
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            page.goto(url + "/", wait_until="networkidle")
            page.wait_for_timeout(3000)
            first = len(requests)
            for name in PAGES:
                page.goto(f"{url}/{name}", wait_until="networkidle")
                page.wait_for_timeout(2000)
            browser.close()
    finally:
        stop_streamlit(proc)
    again = (len(requests) - first) / len(PAGES)
    print(f"first load: {first} requests; each further full page load: {again:.0f} on average")
    return 0


if __name__ == "__main__":
    sys.exit(main())
