"""Python's cyclic garbage collector on a server that has imported torch, plotly and pandas.

Those imports leave millions of long-lived objects (modules, classes, functions, plotly's
validators), and every full (generation 2) collection walks all of them again although they
never become garbage. Freezing them once, right after the imports, moves them out of the
collector's sight (``gc.freeze``, meant for exactly this); garbage made later is collected as
before. What it saved under a class is measured in docs/performance.md.
Streamlit's own collection after every run stays off (config.toml).
"""

from __future__ import annotations

import gc
import importlib
import threading

_lock = threading.Lock()
_frozen = False


def freeze_imports_once(*modules: str) -> bool:
    """Once per process: import ``modules`` (the heavy ones), collect, then freeze everything alive now.

    True if this call froze.
    """
    global _frozen
    with _lock:
        if _frozen:
            return False
        for module in modules:
            importlib.import_module(module)
        gc.collect()
        gc.freeze()
        _frozen = True
        return True
