"""Kept only until the pages import from their own cache modules (lead: repoint at merge, then delete this file).

Every page's caches now live in ``dashboard/caches/<page>.py`` (see ``dashboard/caches/__init__.py``);
this module only names them again so that pages still calling ``server_caches`` keep working.
"""

from __future__ import annotations

from dashboard.caches.calibration import (  # noqa: F401
    calibration_curves,
    calibration_report,
    compare_runs_chart,
    confidence_histogram,
    evaluation_at,
    reliability_diagram,
    run_logits,
)
from dashboard.caches.cross_entropy_steps import loss_bars, neg_log_curve, prediction_heatmap  # noqa: F401
from dashboard.caches.inside_model import (  # noqa: F401
    ExplanationFigures,
    explanation,
    run_parameters,
    templates_figure,
    test_predictions,
)
from dashboard.caches.loss_curves import compare_figure, gradient_step_figures, one_loss_figure  # noqa: F401
from dashboard.caches.shared import table, weights_file  # noqa: F401
from dashboard.caches.softmax_temperature import (  # noqa: F401
    probability_bars,
    stability,
    stability_table,
    temperature_curves,
    temperature_sweep,
)
from dashboard.caches.training import (  # noqa: F401
    compare_curves,
    prediction_grid,
    probabilities_on_test_set,
    training_curves,
)
