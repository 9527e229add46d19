"""The caches of pages/loss_curves.py: the L1, L2 and Huber figures (only the chosen view's are built), their
text alternatives, formulas, gradient steps and tables. A lecture's followers all draw the same controls'
page at once; building the table of the curves and the texts again for each was a quarter of a follower's
page run, and the formulas' and steps' numbers (torch, per loss) a few per cent more (docs/lecture-mode.md)."""

from __future__ import annotations

import pyarrow as pa

from dashboard.caches.shared import shared_figures, shared_resource, table
from softmax_core import gradient_step
from softmax_core.figures import loss_figures

__all__ = [
    "compare_figure",
    "compare_figure_alt",
    "curve_table",
    "gradient_step_figures",
    "gradient_steps",
    "loss_formulas",
    "one_loss_figure",
    "one_loss_figure_alt",
    "table",
]

one_loss_figure = shared_figures(loss_figures.one_loss_figure)
compare_figure = shared_figures(loss_figures.compare_figure)
gradient_step_figures = shared_figures(loss_figures.gradient_step_figures)

_TEXTS = {"max_entries": 1024, "show_spinner": False}


@shared_resource(**_TEXTS)
def one_loss_figure_alt(name: str, y_hat: float, y: float, delta: float, plot_range: float, axis: str) -> str:
    return loss_figures.one_loss_figure_alt(name, y_hat, y, delta, plot_range, axis)


@shared_resource(**_TEXTS)
def compare_figure_alt(quantity: str, y_hat: float, y: float, delta: float, plot_range: float, axis: str) -> str:
    return loss_figures.compare_figure_alt(quantity, y_hat, y, delta, plot_range, axis)


@shared_resource(max_entries=256, show_spinner=False)
def curve_table(y_hat: float, y: float, delta: float, plot_range: float, axis: str) -> pa.Table:
    """The numbers behind the curves, as the Arrow table ``st.table`` sends."""
    return table(loss_figures.curve_records(y_hat, y, delta, plot_range, axis))


@shared_resource(**_TEXTS)
def loss_formulas(name: str, y_hat: float, y: float, delta: float) -> tuple[str, ...]:
    return tuple(loss_figures.loss_formulas(name, y_hat, y, delta))


@shared_resource(**_TEXTS)
def gradient_steps(y_hat: float, y: float, lr: float, delta: float) -> tuple[gradient_step.GradientStep, ...]:
    """The step under each loss (a ValueError, for a step that cannot be taken, is raised each time: not kept)."""
    return gradient_step.gradient_steps(y_hat, y, lr, delta)
