"""Debian's chromium driven by Playwright: the one set of launch flags for tests and benchmarks.

Playwright's own browser download does not work on our machines, so the system's chromium is used
(``apt-get install -y chromium``), headless, without sandbox or GPU, and without background traffic.
"""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        raise RuntimeError("Debian's chromium is not installed: apt-get install -y chromium")
    return path


def launch_chromium(playwright):
    """A headless Chromium from an open ``sync_playwright()`` (the caller closes it)."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
