"""A stored run's files to take home: its metrics (CSV), its final weights and the code that loads them.

Shared by the pages that show one run (training, inside the model), so the file names, the buttons and
the loading snippet are written once.
"""

from __future__ import annotations

import streamlit as st

from dashboard.caches import shared as cached
from dashboard.presenter import caption
from softmax_core import export
from softmax_core.run_store import StoredRun


def run_downloads(run: StoredRun, runs_dir: str, key_prefix: str, note: str = "") -> None:
    """Two download buttons (keys ``<key_prefix>_download_metrics`` / ``_weights``), then how to load the weights.

    ``note`` is appended to the closing caption (a page's own word, e.g. where its pictures download).
    The buttons do not rerun the page (``on_click="ignore"``): a download must not rebuild the charts.
    """
    weights_name = export.file_name(run.config, "weights", "pt")
    left, right = st.columns(2)
    left.download_button(
        "Metrics (CSV)",
        export.metrics_csv(run.history),
        file_name=export.file_name(run.config, "metrics", "csv"),
        mime="text/csv",
        icon=":material/table:",
        key=f"{key_prefix}_download_metrics",
        on_click="ignore",
    )
    right.download_button(
        "Final weights (PyTorch state dict)",
        cached.weights_file(runs_dir, run.key),
        file_name=weights_name,
        mime="application/octet-stream",
        icon=":material/download:",
        key=f"{key_prefix}_download_weights",
        on_click="ignore",
    )
    caption(
        "Load the weights into the chapter's concise `net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))` "
        "(`weights_only=True` executes nothing from the file):"
    )
    st.code(export.load_snippet(weights_name), language="python", wrap_lines=True)
    caption(f"{export.SCRATCH_NOTE} {note}".strip())
