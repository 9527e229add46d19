"""Run a coroutine to the end from a test, whatever already runs in the test's thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any


def run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    """``asyncio.run`` in a thread of its own.

    The session-wide Chromium fixture keeps Playwright's sync API open, and with it an event loop running in
    the main thread, where ``asyncio.run`` refuses to start a second one.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
