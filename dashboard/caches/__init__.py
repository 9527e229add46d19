"""The caches behind the pages: results and figures every session of one server shares.

One module per page, named as the page it serves (``pages/calibration.py`` calls
``dashboard/caches/calibration.py``, imported as ``cached``); what several pages call (stored
runs read back, tables as Arrow, a run's weights file, the decorator for figures) is in
``shared.py``, and each page's module names the shared functions it uses too.

They live in imported modules, not in the page scripts, because a page script runs again on
every page load, and with it every ``st.cache_*`` decorator in it: Streamlit reads the decorated
function's source to key its cache, which was 8 % of the server's CPU while 100 sessions loaded
every page (py-spy, see docs/performance.md). Here each decorator runs once per process.

``cache_resource`` for figures: ``cache_data`` would pickle and unpickle a figure on every hit, which
costs more than building it; a cached figure is never mutated (``st.plotly_chart`` serialises it).
A class opening the default view draws the same figures, so they are built once per server.
Every cache is bounded (``max_entries``) so that distinct views cannot grow memory without bound.
Keys are plain values (tuples, floats, strings): ``st.cache_data`` cannot hash tensors.
No viewer can empty these caches: importing this package installs ``clear_cache_guard``.
"""

from __future__ import annotations

from dashboard import clear_cache_guard

clear_cache_guard.install()  # streamlit_app.py imports the caches before any page runs

# Every page's caches, for streamlit_app.py to import (and freeze, see gc_tuning) before the first page runs.
PAGE_CACHES = tuple(
    f"dashboard.caches.{page}"
    for page in (
        "softmax_temperature",
        "loss_curves",
        "cross_entropy_steps",
        "training",
        "inside_model",
        "calibration",
    )
)
