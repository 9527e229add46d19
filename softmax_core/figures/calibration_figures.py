"""Figures of the calibration page: reliability diagrams, confidence histograms, NLL / ECE over T, run comparison.

Pure functions, data in and a plotly figure out. No colours of our own: traces
take the theme's palette in order, told apart by dash and marker too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from softmax_core.calibration import ReliabilityBins
from softmax_core.figures.style import PALETTE_SIZE, apply_layout, wrap_title

LABEL_CHARS = 20  # a run label's line on the compare chart: the bars keep most of a phone's width
STACK_GAP_PX = 130  # px between two stacked charts: ticks, axis title and the next chart's title
AROUND_PX = 260  # the top chart's title, the bottom chart's axis and the legend under it (at presenter size)
# Colour is never the only code: a bar below the diagonal is hatched, and bars at the fitted T are dotted.
OVER_HATCH = "/"
OVER_KEY = "hatched: below the diagonal (over-confident)"
UNDER_KEY = "plain: on or above it"
FITTED_DOTS = "."
HATCH_SOLIDITY = 0.5  # share of a bar the hatching covers: the stripes read as the bar's colour at a glance
DOTS_SOLIDITY = 0.6


def _centres(bins: ReliabilityBins) -> np.ndarray:
    return (bins.edges[:-1] + bins.edges[1:]) / 2


def over_confident(bins: ReliabilityBins) -> np.ndarray:
    """Per bin: it holds images and their accuracy is below their mean confidence (the bar is under the diagonal)."""
    return (bins.counts > 0) & (np.nan_to_num(bins.accuracy, nan=1.0) < np.nan_to_num(bins.confidence, nan=0.0))


def _none_for_nan(values) -> list:
    return [None if not np.isfinite(v) else float(v) for v in values]


def reliability_diagram(before: ReliabilityBins, after: ReliabilityBins, temperature: float,
                        height: int = 440) -> go.Figure:  # fmt: skip
    """Accuracy against confidence per bin, before (T = 1) and after scaling, beside the diagonal.

    Each bar is one confidence bin; the number above it is how many images fell
    in it (empty bins have no bar). Bars below the diagonal: over-confident.
    """
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                        subplot_titles=("Before: T = 1", f"After: T = {temperature:.3g}"))  # fmt: skip
    width = float(before.edges[1] - before.edges[0])
    for col, (bins, name) in enumerate(((before, "accuracy, T = 1"), (after, f"accuracy, T = {temperature:.3g}")), 1):
        counts = [f"{int(n):,}" if n else "" for n in bins.counts]
        hatches = [OVER_HATCH if over else "" for over in over_confident(bins)]
        fig.add_trace(go.Bar(
            x=_centres(bins), y=_none_for_nan(bins.accuracy), width=width * 0.92, name=name,
            marker=dict(pattern=dict(shape=hatches, solidity=HATCH_SOLIDITY)),
            text=counts, textposition="outside", textangle=-90, cliponaxis=False, textfont_size=12,
            customdata=np.stack([bins.edges[:-1], bins.edges[1:], bins.counts, np.nan_to_num(bins.confidence)], 1),
            hovertemplate="confidence in (%{customdata[0]:.3f}, %{customdata[1]:.3f}]<br>%{customdata[2]:,} images"
                          "<br>accuracy %{y:.3f}<br>mean confidence %{customdata[3]:.3f}<extra></extra>",
        ), row=1, col=col)  # fmt: skip
        fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", width=2),
                                 name="perfect calibration", showlegend=col == 1, legendgroup="diag",
                                 hoverinfo="skip"), row=1, col=col)  # fmt: skip
    for shape, name in ((OVER_HATCH, OVER_KEY), ("", UNDER_KEY)):  # the legend names what the hatching means
        while len(fig.data) % PALETTE_SIZE:  # in the first bars' colour (the theme colours trace k with k % 10)
            fig.add_trace(go.Bar(x=[], y=[], showlegend=False, hoverinfo="skip"), row=1, col=1)
        fig.add_trace(go.Bar(x=[None], y=[None], name=name, hoverinfo="skip", legendgroup=name,
                             marker=dict(pattern=dict(shape=shape, solidity=HATCH_SOLIDITY))), row=1, col=1)  # fmt: skip
    fig.update_xaxes(title_text="confidence (largest probability)", range=[0, 1.0], dtick=0.2)
    fig.update_yaxes(title_text="accuracy in the bin", range=[0, 1.18], dtick=0.2, row=1, col=1)
    fig.update_yaxes(range=[0, 1.18], dtick=0.2, row=1, col=2)
    return apply_layout(fig, height=height, bargap=0.05)


def confidence_histogram(before: ReliabilityBins, after: ReliabilityBins, temperature: float,
                         accuracy: float, height: int = 360) -> go.Figure:  # fmt: skip
    """Share of images per confidence bin, before and after, with the accuracy marked."""
    fig = go.Figure()
    total = max(int(before.counts.sum()), 1)
    for bins, name, dots in ((before, "T = 1", ""), (after, f"T = {temperature:.3g}", FITTED_DOTS)):
        fig.add_trace(
            go.Bar(
                x=_centres(bins),
                y=bins.counts / total,
                name=name,
                marker=dict(pattern=dict(shape=dots, solidity=DOTS_SOLIDITY)),
                customdata=bins.counts,
                hovertemplate="confidence ≈ %{x:.2f}: %{customdata:,} images (%{y:.1%})<extra></extra>",
            )
        )
    fig.add_trace(go.Scatter(x=[accuracy, accuracy], y=[0, 1], mode="lines", line=dict(dash="dash", width=2),
                             name=f"accuracy {accuracy:.3f}", yaxis="y", hoverinfo="skip"))  # fmt: skip
    top = float(max((b.counts / total).max() for b in (before, after)))
    fig.update_xaxes(title_text="confidence (largest probability)", range=[0, 1.0], dtick=0.2)
    fig.update_yaxes(title_text="share of images", tickformat=".0%", range=[0, top * 1.08])
    return apply_layout(fig, height=height, barmode="group", bargap=0.1)


def temperature_curves(temperatures, nll, ece, fitted: float, current: float, height: int = 420) -> go.Figure:
    """Evaluation-half NLL and ECE over T (log axis), the fitted T and the slider's T marked."""
    t = np.asarray(temperatures, dtype=float)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=("NLL over T", "ECE over T"))
    for col, (values, name, fmt) in enumerate(((nll, "NLL", ".4f"), (ece, "ECE", ".4f")), 1):
        values = np.asarray(values, dtype=float)
        fig.add_trace(go.Scatter(x=t, y=values, mode="lines", line=dict(width=3), name=name,
                                 hovertemplate=f"T = %{{x:.3g}}<br>{name} %{{y:{fmt}}}<extra></extra>"),
                      row=1, col=col)  # fmt: skip
        at_fit = float(np.interp(np.log(fitted), np.log(t), values))
        at_now = float(np.interp(np.log(current), np.log(t), values))
        fig.add_trace(go.Scatter(x=[fitted], y=[at_fit], mode="markers", marker=dict(size=14, symbol="star"),
                                 name=f"fitted T = {fitted:.3g}", legendgroup="fit", showlegend=col == 1,
                                 hovertemplate=f"fitted T = {fitted:.3g}<br>{name} {at_fit:{fmt}}<extra></extra>"),
                      row=1, col=col)  # fmt: skip
        fig.add_trace(go.Scatter(x=[current], y=[at_now], mode="markers", marker=dict(size=12, symbol="circle-open",
                                 line=dict(width=3)), name=f"your T = {current:.3g}", legendgroup="now",
                                 showlegend=col == 1,
                                 hovertemplate=f"your T = {current:.3g}<br>{name} {at_now:{fmt}}<extra></extra>"),
                      row=1, col=col)  # fmt: skip
    fig.update_xaxes(type="log", title_text="T (log scale)")  # the subplot titles name the y axes
    return apply_layout(fig, height=height)


def compare_runs_chart(labels: Sequence[str], ece_before, ece_after, fitted_t, height: int = 420) -> go.Figure:
    """ECE before and after scaling, and the fitted T, for several runs (T > 1: the run was over-confident).

    The two charts are stacked, each the full width, and the run labels wrap into short lines: side by
    side, long labels left a phone a sliver for the bars.
    """
    names = [wrap_title(label, LABEL_CHARS) for label in labels]
    lines = max((name.count("<br>") + 1 for name in names), default=1)
    chart_px = 20 + 26 * lines * max(len(names), 1)  # each chart's plot area: a run's label lines and bars
    plots_px = 2 * chart_px + STACK_GAP_PX  # plotly's spacing is a fraction of this, not of the figure
    height = max(height, plots_px + AROUND_PX)
    fig = make_subplots(rows=2, cols=1, vertical_spacing=STACK_GAP_PX / plots_px,
                        subplot_titles=("ECE on the evaluation half", "fitted temperature T"))  # fmt: skip
    fig.add_trace(go.Bar(y=names, x=list(ece_before), orientation="h", name="ECE, T = 1"), row=1, col=1)
    fig.add_trace(go.Bar(y=names, x=list(ece_after), orientation="h", name="ECE, fitted T",
                         marker=dict(pattern=dict(shape=FITTED_DOTS, solidity=DOTS_SOLIDITY))), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Bar(y=names, x=list(fitted_t), orientation="h", name="fitted T", showlegend=False,
                         text=[f"{t:.2f}" for t in fitted_t], textposition="auto"), row=2, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=[1, 1], y=[names[0], names[-1]] if names else [], mode="lines",
                             line=dict(dash="dash", width=2), name="T = 1 (no change)"), row=2, col=1)  # fmt: skip
    fig.update_yaxes(autorange="reversed", automargin=True, tickmode="array", tickvals=names, ticktext=names)
    fig.update_xaxes(title_text="ECE", row=1, col=1)
    fig.update_xaxes(title_text="T", row=2, col=1)
    return apply_layout(fig, height=height, barmode="group")


SPARSE_BIN = 20  # a bin with fewer images than this: its accuracy is decided by a handful of images


def worst_bin(bins: ReliabilityBins) -> tuple[int, int, float]:
    """(bin index, images in it, its gap |accuracy - confidence|) of the bin that sets MCE."""
    gaps = np.where(bins.counts > 0, np.nan_to_num(bins.gaps, nan=-1.0), -1.0)
    k = int(np.argmax(gaps))
    return k, int(bins.counts[k]), float(bins.gaps[k])


def sparse_mce_note(named_bins: dict[str, ReliabilityBins], min_count: int = SPARSE_BIN) -> str | None:
    """A warning when MCE comes from a nearly empty bin (in any column of the table), else None.

    MCE is the largest gap over the non-empty bins, whatever their size: a bin holding one image has a
    gap of its confidence or one minus it, so MCE can jump while ECE (bins weighted by size) falls.
    """
    where: dict[str, list[str]] = {}  # the bin's description -> the columns where it sets MCE
    for name, bins in named_bins.items():
        k, count, gap = worst_bin(bins)
        if count < min_count:
            image = "image" if count == 1 else "images"
            described = f"the bin ({bins.edges[k]:.2f}, {bins.edges[k + 1]:.2f}] with {count} {image} (gap {gap:.2f})"
            where.setdefault(described, []).append(name)
    if not where:
        return None
    parts = "; ".join(f"at {' and '.join(names)}, {described}" for described, names in where.items())
    return (
        f"MCE comes from a nearly empty bin: {parts}. So few images make MCE a matter of chance; "
        "ECE, NLL and Brier weigh every image."
    )


# ---------------------------------------------------------------- text alternatives (what a screen reader says)


def _mean_confidence(bins: ReliabilityBins) -> float:
    filled = bins.counts > 0
    return float((bins.counts[filled] * bins.confidence[filled]).sum() / max(int(bins.counts.sum()), 1))


def reliability_diagram_alt(before: ReliabilityBins, after: ReliabilityBins, temperature: float) -> str:
    """What :func:`reliability_diagram` draws: per panel its ECE and in how many bins it is over-confident."""

    def panel(bins: ReliabilityBins, at: str) -> str:
        over, filled = int(over_confident(bins).sum()), int((bins.counts > 0).sum())
        return f"at {at}, ECE {bins.ece:.1%}, over-confident (hatched, below the diagonal) in {over} of {filled} bins"

    return (
        f"Reliability, {len(before.counts)} bins of confidence, accuracy per bin: {panel(before, 'T = 1')}; "
        f"{panel(after, f'fitted T = {temperature:.3g}')}."
    )


def confidence_histogram_alt(before: ReliabilityBins, after: ReliabilityBins, temperature: float,
                             accuracy: float) -> str:  # fmt: skip
    """What :func:`confidence_histogram` draws: mean confidence and the share above 0.9, against the accuracy."""

    def spread(bins: ReliabilityBins, at: str) -> str:
        top = bins.edges[:-1] >= 0.9 - 1e-9  # the bins from the first edge at 0.9 or above
        high = float(bins.counts[top].sum() / max(int(bins.counts.sum()), 1))
        edge = float(bins.edges[:-1][top][0]) if top.any() else 1.0
        return f"at {at} mean confidence {_mean_confidence(bins):.1%}, {high:.0%} of images above {edge:.2f}"

    return (
        f"Share of images per confidence bin: {spread(before, 'T = 1')}; {spread(after, f'T = {temperature:.3g}')} "
        f"(dotted); accuracy {accuracy:.1%}."
    )


def temperature_curves_alt(temperatures, nll, ece, fitted: float, current: float) -> str:
    """What :func:`temperature_curves` draws: where each curve is lowest, and its value at the fitted and your T."""
    t = np.asarray(temperatures, dtype=float)
    parts = []
    for name, values in (("NLL", np.asarray(nll, dtype=float)), ("ECE", np.asarray(ece, dtype=float))):
        k = int(np.nanargmin(values))
        at_fit = float(np.interp(np.log(fitted), np.log(t), values))
        at_now = float(np.interp(np.log(current), np.log(t), values))
        parts.append(f"{name} lowest {values[k]:.4f} at T = {t[k]:.3g}, {at_fit:.4f} at the fitted T, "
                     f"{at_now:.4f} at yours")  # fmt: skip
    return (
        f"NLL and ECE on the evaluation half over T from {t[0]:g} to {t[-1]:g} (log scale), fitted T = {fitted:.3g} "
        f"(star), your T = {current:.3g} (ring): " + "; ".join(parts) + "."
    )


def compare_runs_alt(labels: Sequence[str], ece_before, ece_after, fitted_t, shown: int = 6) -> str:
    """What :func:`compare_runs_chart` draws: per run (the first ``shown``) its ECE before and after, and its T."""
    rows = [f"{label}: ECE {b:.4f} to {a:.4f} at T = {t:.3g}"
            for label, b, a, t in zip(labels, ece_before, ece_after, fitted_t)]  # fmt: skip
    more = f"; and {len(rows) - shown} more runs" if len(rows) > shown else ""
    return f"ECE before and after temperature scaling, {len(rows)} runs: " + "; ".join(rows[:shown]) + more + "."
