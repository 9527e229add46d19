"""Calibration figures: the data they draw is the data they were given."""

from __future__ import annotations

import numpy as np
import pytest

from softmax_core import calibration as cal
from softmax_core.figures.calibration_figures import (
    compare_runs_chart,
    confidence_histogram,
    reliability_diagram,
    temperature_curves,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def report():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2_000, 10)) * 4
    y = np.array([rng.choice(10, p=np.exp(r / 2) / np.exp(r / 2).sum()) for r in z])
    return cal.calibrate(z, y)


def test_reliability_diagram_draws_bins_counts_and_the_diagonal(report):
    fig = reliability_diagram(report.before.bins, report.after.bins, report.fit.temperature)
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 2
    for bar, bins in zip(bars, (report.before.bins, report.after.bins)):
        filled = bins.counts > 0
        assert np.allclose(np.array(bar.y, dtype=float)[filled], bins.accuracy[filled])
        assert all(v is None for v in np.array(bar.y, dtype=object)[~filled])
        assert [t for t in bar.text if t] == [f"{n:,}" for n in bins.counts[filled]]
    diagonals = [t for t in fig.data if t.type == "scatter"]
    assert len(diagonals) == 2 and all(list(d.x) == [0, 1] and list(d.y) == [0, 1] for d in diagonals)
    assert f"{report.fit.temperature:.3g}" in fig.layout.annotations[1].text
    assert not any(getattr(t.marker, "color", None) for t in fig.data)  # the theme picks the colours


def test_histogram_shares_sum_to_one(report):
    fig = confidence_histogram(report.before.bins, report.after.bins, report.fit.temperature, report.before.accuracy)
    for bar in fig.data[:2]:
        assert sum(bar.y) == pytest.approx(1.0)
    assert list(fig.data[2].x) == [report.before.accuracy] * 2


def test_curves_mark_the_fitted_and_the_chosen_temperature(report):
    fig = temperature_curves(report.temperatures, report.nll_curve, report.ece_curve, report.fit.temperature, 3.0)
    assert fig.layout.xaxis.type == "log"
    stars = [t for t in fig.data if t.mode == "markers" and t.marker.symbol == "star"]
    assert [s.x[0] for s in stars] == [report.fit.temperature] * 2
    assert stars[0].y[0] == pytest.approx(report.after.nll)
    yours = [t for t in fig.data if t.mode == "markers" and t.marker.symbol == "circle-open"]
    assert [s.x[0] for s in yours] == [3.0, 3.0]
    assert yours[0].y[0] == pytest.approx(cal.nll(*_eval_half(report), 3.0), rel=1e-3)


def _eval_half(report):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2_000, 10)) * 4
    y = np.array([rng.choice(10, p=np.exp(r / 2) / np.exp(r / 2).sum()) for r in z])
    return z[report.split.evaluation], y[report.split.evaluation]


def test_compare_chart_has_one_bar_per_run():
    fig = compare_runs_chart(["a", "b", "c"], [0.1, 0.2, 0.05], [0.01, 0.02, 0.03], [1.5, 2.0, 0.9])
    assert [list(t.x) for t in fig.data[:3]] == [[0.1, 0.2, 0.05], [0.01, 0.02, 0.03], [1.5, 2.0, 0.9]]
    assert list(fig.data[3].x) == [1, 1]
