"""The caches of pages/cross_entropy_steps.py: the figures of cross-entropy step by step."""

from __future__ import annotations

from dashboard.caches.shared import shared_figures, table  # noqa: F401  (re-exported: the page's tables)
from softmax_core.figures import cross_entropy_figures


@shared_figures
def prediction_heatmap(values: tuple[tuple[float, ...], ...], labels: tuple[int, ...]):
    return cross_entropy_figures.prediction_heatmap(values, labels)


@shared_figures
def neg_log_curve(picked: tuple[float, ...]):
    return cross_entropy_figures.neg_log_curve(picked)


@shared_figures
def loss_bars(losses: tuple[float, ...]):
    return cross_entropy_figures.loss_bars(losses)
