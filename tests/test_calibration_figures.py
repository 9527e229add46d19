"""Calibration figures: the data they draw is the data they were given."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from softmax_core import calibration as cal
from softmax_core.figures.calibration_figures import (
    OVER_HATCH,
    OVER_KEY,
    UNDER_KEY,
    compare_runs_alt,
    compare_runs_chart,
    confidence_histogram,
    confidence_histogram_alt,
    reliability_diagram,
    reliability_diagram_alt,
    temperature_curves,
    temperature_curves_alt,
)
from softmax_core.figures.style import PALETTE_SIZE

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def report():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2_000, 10)) * 4
    y = np.array([rng.choice(10, p=np.exp(r / 2) / np.exp(r / 2).sum()) for r in z])
    return cal.calibrate(z, y)


def test_reliability_diagram_draws_bins_counts_and_the_diagonal(report):
    fig = reliability_diagram(report.before.bins, report.after.bins, report.fit.temperature)
    bars = [t for t in fig.data if t.type == "bar" and (t.name or "").startswith("accuracy")]  # not the legend's keys
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


# ---------------------------------------------------------------- colour is not the only code; text alternatives


def _bins_by_hand(report, temperature: float, num_bins: int = 15):
    """Per bin (lo, hi] of the evaluation half: images, accuracy, mean confidence, from torch's softmax and a loop."""
    z, y = _eval_half(report)
    probs = torch.softmax(torch.tensor(z, dtype=torch.float64) / temperature, 1)
    confidence, predicted = probs.max(1)
    rows = []
    for k in range(num_bins):
        lo, hi = k / num_bins, (k + 1) / num_bins
        inside = [i for i in range(len(y)) if lo < confidence[i] <= hi or (k == 0 and confidence[i] == 0)]
        right = [int(predicted[i]) == int(y[i]) for i in inside]
        rows.append(
            (len(inside), np.mean(right) if inside else None, float(confidence[inside].mean()) if inside else None)
        )
    return rows


def test_bars_below_the_diagonal_are_hatched_and_the_legend_says_so(report):
    fig = reliability_diagram(report.before.bins, report.after.bins, report.fit.temperature)
    bars = [t for t in fig.data if t.type == "bar" and (t.name or "").startswith("accuracy")]
    for bar, t in zip(bars, (1.0, report.fit.temperature)):
        hatched = [n > 0 and acc < conf for n, acc, conf in _bins_by_hand(report, t)]
        assert [shape == OVER_HATCH for shape in bar.marker.pattern.shape] == hatched
    assert any(hatched) and not all(hatched)  # both kinds are drawn
    keys = {t.name: t for t in fig.data if t.type == "bar" and t.showlegend is not False and list(t.y) == [None]}
    assert set(keys) == {OVER_KEY, UNDER_KEY} and "below the diagonal" in OVER_KEY
    assert [fig.data.index(keys[k]) % PALETTE_SIZE for k in (OVER_KEY, UNDER_KEY)] == [0, 0]  # the T = 1 bars' colour
    assert keys[OVER_KEY].marker.pattern.shape == OVER_HATCH and keys[UNDER_KEY].marker.pattern.shape == ""
    assert not any(getattr(t.marker, "color", None) for t in fig.data)


def test_bars_at_the_fitted_temperature_are_dotted_as_well_as_coloured(report):
    histogram = confidence_histogram(report.before.bins, report.after.bins, report.fit.temperature, 0.8)
    assert [t.marker.pattern.shape for t in histogram.data[:2]] == ["", "."]
    chart = compare_runs_chart(["a", "b"], [0.1, 0.2], [0.01, 0.02], [1.5, 2.0])
    assert [t.marker.pattern.shape for t in chart.data[:2]] == [None, "."]


def test_reliability_alt_gives_each_panels_ece_and_its_over_confident_bins(report):
    alt = reliability_diagram_alt(report.before.bins, report.after.bins, report.fit.temperature)
    for t, at in ((1.0, "at T = 1"), (report.fit.temperature, f"at fitted T = {report.fit.temperature:.3g}")):
        rows = _bins_by_hand(report, t)
        total = sum(n for n, _, _ in rows)
        ece = sum(n / total * abs(acc - conf) for n, acc, conf in rows if n)
        over = sum(1 for n, acc, conf in rows if n and acc < conf)
        filled = sum(1 for n, _, _ in rows if n)
        assert f"{at}, ECE {ece:.1%}, over-confident (hatched, below the diagonal) in {over} of {filled} bins" in alt
    assert alt.startswith("Reliability, 15 bins")


def test_histogram_alt_gives_mean_confidence_and_the_share_above_ninety_percent(report):
    alt = confidence_histogram_alt(report.before.bins, report.after.bins, report.fit.temperature, 0.8123)
    z, _ = _eval_half(report)
    for t, at in ((1.0, "at T = 1"), (report.fit.temperature, f"at T = {report.fit.temperature:.3g}")):
        confidence = torch.softmax(torch.tensor(z) / t, 1).max(1).values
        high = float((confidence > 14 / 15).double().mean())  # the last of 15 bins is the first above 0.9
        assert f"{at} mean confidence {float(confidence.mean()):.1%}, {high:.0%} of images above 0.93" in alt
    assert alt.endswith("accuracy 81.2%.")


def test_curves_alt_gives_each_curves_lowest_point(report):
    alt = temperature_curves_alt(report.temperatures, report.nll_curve, report.ece_curve, report.fit.temperature, 3.0)
    z, y = _eval_half(report)
    nll = [float(F.cross_entropy(torch.tensor(z) / t, torch.tensor(y))) for t in report.temperatures]
    k = int(np.argmin(nll))
    assert f"NLL lowest {nll[k]:.4f} at T = {report.temperatures[k]:.3g}" in alt
    at_three = float(F.cross_entropy(torch.tensor(z) / 3.0, torch.tensor(y)))
    assert float(alt.split("NLL lowest ")[1].split(" at yours")[0].rsplit(", ", 1)[1]) == pytest.approx(
        at_three, abs=2e-3
    )
    assert f"fitted T = {report.fit.temperature:.3g} (star), your T = 3 (ring)" in alt


def test_compare_alt_lists_each_run_and_counts_the_rest():
    labels = [f"run {i}" for i in range(8)]
    alt = compare_runs_alt(
        labels, [0.1 * i for i in range(8)], [0.01 * i for i in range(8)], [1 + i / 10 for i in range(8)]
    )
    assert alt.startswith("ECE before and after temperature scaling, 8 runs: run 0: ECE 0.0000 to 0.0000 at T = 1;")
    assert "run 5: ECE 0.5000 to 0.0500 at T = 1.5" in alt and "run 6" not in alt and alt.endswith("and 2 more runs.")
