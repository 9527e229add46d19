"""Python's cyclic garbage collector on a server that has imported torch, plotly and pandas.

Those imports leave millions of long-lived objects (modules, classes, functions, plotly's
validators), and every full (generation 2) collection walks all of them again although they
never become garbage. Freezing them once, right after the imports, moves them out of the
collector's sight (``gc.freeze``, meant for exactly this); garbage made later is collected as
before. With 25 sessions loading every page of a filled run store, full collections took
1.06 s of the server's 5.6 s of CPU before and 0.33 s after (gc.callbacks timing; README
"Host it for a class"). Streamlit's own collection after every run stays off (config.toml).
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_frozen = False


def freeze_imports_once() -> bool:
    """Once per process: collect, then freeze everything alive now. True if this call froze."""
    global _frozen
    with _lock:
        if _frozen:
            return False
        gc.collect()
        gc.freeze()
        _frozen = True
        return True
