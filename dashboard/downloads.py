"""A stored run's files to take home: its metrics as CSV, its final weights as a PyTorch state dict."""

from __future__ import annotations

from dashboard import server_caches as cached
from dashboard.presenter import caption
from softmax_core import export
from softmax_core.run_store import default_runs_dir


def run_downloads(run, where, key_prefix: str = "in") -> None:
    """The two download buttons, how to load the weights, and the from-scratch note, drawn in ``where``."""
    weights_name = export.file_name(run.config, "weights", "pt")
    left, right = where.columns(2)
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
        cached.weights_file(str(default_runs_dir()), run.key),
        file_name=weights_name,
        mime="application/octet-stream",
        icon=":material/download:",
        key=f"{key_prefix}_download_weights",
        on_click="ignore",
    )
    caption(
        "Load the weights into the chapter's concise `net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))` "
        "(`weights_only=True` executes nothing from the file):",
        where,
    )
    where.code(export.load_snippet(weights_name), language="python", wrap_lines=True)
    caption(export.SCRATCH_NOTE, where)
