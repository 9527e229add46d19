"""What the AppTest page tests share: open a page with a link's query, read its texts and charts.

AppTest has no plotly accessor, so charts are read from their protos (``proto.spec``, JSON).
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def page_test(page: str | Path, query: dict | None = None, timeout: float = 60) -> AppTest:
    """An AppTest of one page file, not run yet, with the link's query parameters set."""
    at = AppTest.from_file(str(page), default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at


def page_through_app(page: str, query: dict | None = None, session: dict | None = None, timeout=60) -> AppTest:
    """A page reached through ``streamlit_app.py`` (as a deep link on a fresh server is), not run yet."""
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=timeout)
    for key, value in (session or {}).items():
        at.session_state[key] = value
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.switch_page(page)
    return at


def open_inside_page(query: dict[str, str] | None = None, session: dict | None = None) -> AppTest:
    """The "Inside the model" page, reached through the app, not run yet."""
    return page_through_app("pages/inside_model.py", query, session)


def open_training_page(query: dict[str, str] | None = None) -> AppTest:
    """The training page on its own, not run yet."""
    return page_test(ROOT / "pages" / "training.py", query)


def open_calibration_page(query: dict[str, str] | None = None) -> AppTest:
    """The calibration page on its own, not run yet (it fits and measures: a longer timeout)."""
    return page_test(ROOT / "pages" / "calibration.py", query, timeout=120)


def texts(elements) -> str:
    """The values of some elements (``at.info``, ``at.markdown``, ...), one a line."""
    return "\n".join(str(e.value) for e in elements)


def messages(at: AppTest) -> list[str]:
    """Every error, warning and info the page shows, in that order."""
    return [m.value for m in [*at.error, *at.warning, *at.info]]


def chart_specs(at: AppTest) -> list[dict]:
    """The plotly figures on the page, as the JSON dicts Streamlit sends the browser."""
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def plotly_values(value) -> np.ndarray:
    """A trace's values: plotly writes numpy arrays as typed arrays (``{"dtype", "bdata"}``), lists stay lists."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return flat.reshape([int(n) for n in str(value["shape"]).split(",")]) if "shape" in value else flat
    return np.asarray(value)


def poll_until(at: AppTest, done, polls: int = 240, pause: float = 0.5) -> AppTest:
    """Rerun the page (as a fragment's timer would) until ``done(at)``, at most ``polls`` times ``pause`` apart.

    The default allows two minutes: one epoch, or one small ceiling fit, on a busy 2-core machine.
    """
    for _ in range(polls):
        if done(at):
            return at
        time.sleep(pause)
        at.run()
    raise AssertionError(
        f"page never reached the expected state; info {[i.value for i in at.info]!r}, "
        f"error {[e.value for e in at.error]!r}"
    )
