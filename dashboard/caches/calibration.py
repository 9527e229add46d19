"""The caches of pages/calibration.py: a run's test-set logits, its calibration report, metrics at a T, figures."""

from __future__ import annotations

import numpy as np

from dashboard.caches.shared import read_only, shared_figures, shared_resource, stored_run, table
from dashboard.fashion_data import loaded as load_data
from softmax_core import calibration as cal
from softmax_core.figures import calibration_figures

__all__ = [
    "calibration_curves",
    "calibration_report",
    "compare_runs_chart",
    "confidence_histogram",
    "evaluation_at",
    "reliability_diagram",
    "run_logits",
    "table",
]


@shared_resource(max_entries=64, show_spinner=False)
def run_logits(runs_dir: str, key: str, data_dir: str) -> np.ndarray:
    """``X W + b`` of a stored run on the 10,000 test images: one read-only array shared by every session.

    As ``cache_data`` each page load unpickled its own 780 KB copy; with 100 sessions opening the
    calibration page at once, those copies raised the server's RSS by 1.3 MB per session (docs/performance.md).
    """
    weight, bias = stored_run(runs_dir, key).load_weights()
    (logits,) = read_only(cal.logits_on_images(weight, bias, load_data(data_dir).test_images))
    return logits


# Figures of a calibration report, keyed on its numbers (15 bins, the T curves): each was built on every visit.
reliability_diagram = shared_figures(calibration_figures.reliability_diagram)
confidence_histogram = shared_figures(calibration_figures.confidence_histogram)
calibration_curves = shared_figures(calibration_figures.temperature_curves)
compare_runs_chart = shared_figures(calibration_figures.compare_runs_chart)


@shared_resource(max_entries=64, show_spinner="Fitting the temperature…")
def calibration_report(runs_dir: str, key: str, data_dir: str, seed: int) -> cal.CalibrationReport:
    """One run's report, shared read-only: as ``cache_data`` the calibration page unpickled a 161 KB copy
    for its run and one for each run it compares, on every load."""
    (report,) = read_only(
        cal.calibrate(run_logits(runs_dir, key, data_dir), load_data(data_dir).test_labels.numpy(), seed)
    )
    return report


@shared_resource(max_entries=256, show_spinner=False)
def evaluation_at(runs_dir: str, key: str, data_dir: str, seed: int, temperature: float) -> cal.Metrics:
    """The metrics of one run on the evaluation half at one temperature (a stop of the page's slider).

    Computed on every page load, it took about a third of the calibration page's CPU while 100
    sessions opened it at once.
    """
    ev = calibration_report(runs_dir, key, data_dir, seed).split.evaluation
    labels = load_data(data_dir).test_labels.numpy()
    return cal.evaluate(run_logits(runs_dir, key, data_dir)[ev], labels[ev], temperature)
