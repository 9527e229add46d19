"""The caches of pages/loss_curves.py: the L1, L2 and Huber figures (only the chosen view's are built)."""

from __future__ import annotations

from dashboard.caches.shared import shared_figures, table
from softmax_core.figures import loss_figures

__all__ = ["compare_figure", "gradient_step_figures", "one_loss_figure", "table"]

one_loss_figure = shared_figures(loss_figures.one_loss_figure)
compare_figure = shared_figures(loss_figures.compare_figure)
gradient_step_figures = shared_figures(loss_figures.gradient_step_figures)
