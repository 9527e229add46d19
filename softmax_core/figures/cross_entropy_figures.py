r"""Figures for "Cross-entropy, step by step": the picked cells, :math:`-\log p`, the mean.

Pure builders (tensors or lists in, plotly figure out). Highlights use outline
width, bold text and marker symbols, never colours of our own: the Streamlit
theme colours everything. Each figure has a text alternative beside it (``*_alt``,
the chart's accessible name, written from the same data) and its numbers as table
rows (:func:`per_example_records`).
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import torch

from softmax_core.figures.style import apply_layout

CURVE_POINTS = 300  # enough for a smooth -log p, cheap to send


def _rows(values) -> list[list[float]]:
    return torch.as_tensor(values, dtype=torch.float64).tolist()


def _labels(y) -> list[int]:
    return [int(v) for v in torch.as_tensor(y).tolist()]


def _example_names(n: int) -> list[str]:
    return [f"i = {i}" for i in range(n)]


def prediction_heatmap(y_hat, y, title: str | None = None) -> go.Figure:
    r"""``y_hat`` as a grid of numbers; the cells ``(i, y[i])`` that the loss reads are outlined and bold.

    Row ``i`` is an example, column ``j`` a class: the loss only ever looks at
    :math:`\hat{y}_{i, y_i}`, one cell per row.
    """
    probs, labels = _rows(y_hat), _labels(y)
    n, k = len(probs), len(probs[0])
    text = [
        [f"<b>{p:.2f}</b>" if j == labels[i] else f"{p:.2f}" for j, p in enumerate(row)] for i, row in enumerate(probs)
    ]
    heat = go.Heatmap(
        z=probs,
        x=list(range(k)),
        y=list(range(n)),
        text=text,
        texttemplate="%{text}",
        textfont=dict(size=20),
        zmin=0,
        zmax=1,
        showscale=False,
        xgap=3,
        ygap=3,
        name="y_hat",
        hovertemplate="y_hat[%{y}, %{x}] = %{z:.4f}<extra></extra>",
    )
    # One closed square per picked cell, separated by None so it is a single trace.
    xs, ys = [], []
    for i, j in enumerate(labels):
        xs += [j - 0.5, j + 0.5, j + 0.5, j - 0.5, j - 0.5, None]
        ys += [i - 0.5, i - 0.5, i + 0.5, i + 0.5, i - 0.5, None]
    outline = go.Scatter(x=xs, y=ys, mode="lines", line=dict(width=5), name="picked: (i, y[i])", hoverinfo="skip")
    fig = go.Figure([heat, outline])
    fig.update_xaxes(
        tickvals=list(range(k)),
        ticktext=[f"class {j}" for j in range(k)],
        side="top",
        showgrid=False,
        zeroline=False,
        range=[-0.55, k - 0.45],
    )
    fig.update_yaxes(
        tickvals=list(range(n)),
        ticktext=[f"i = {i}, y = {labels[i]}" for i in range(n)],
        autorange="reversed",
        showgrid=False,
        zeroline=False,
    )
    return apply_layout(fig, title, height=max(200, 80 + 70 * n), showlegend=False)


def neg_log_curve(picked, title: str | None = None) -> go.Figure:
    r"""The curve :math:`-\log p` on (0, 1] with each example's picked probability on it.

    Confident and right (p near 1) costs almost nothing; confident and wrong
    (p near 0) costs without bound. A p of exactly 0 is off the chart (loss ∞)
    and is named in an annotation instead.
    """
    p = [float(v) for v in torch.as_tensor(picked, dtype=torch.float64).tolist()]
    positive = [v for v in p if v > 0]
    lo = min([0.01] + [v / 2 for v in positive])
    # Geometric spacing puts the points where the curve bends, near 0.
    grid = [lo * (1 / lo) ** (t / (CURVE_POINTS - 1)) for t in range(CURVE_POINTS)]
    curve = go.Scatter(
        x=grid,
        y=[-math.log(v) for v in grid],
        mode="lines",
        line=dict(width=3),
        name="−log p",
        hovertemplate="p = %{x:.3f}<br>−log p = %{y:.3f}<extra></extra>",
    )
    shown = [i for i, v in enumerate(p) if v > 0]
    points = go.Scatter(
        x=[p[i] for i in shown],
        y=[-math.log(p[i]) for i in shown],
        mode="markers+text",
        marker=dict(size=16, symbol="circle", line=dict(width=2)),
        text=[f"i = {i}" for i in shown],
        textposition="top right",
        name="examples: p = y_hat[i, y[i]]",
        customdata=shown,
        hovertemplate="example %{customdata}<br>p = %{x:.4f}<br>loss = %{y:.4f}<extra></extra>",
    )
    fig = go.Figure([curve, points])
    for row, i in enumerate(i for i, v in enumerate(p) if v == 0):
        fig.add_annotation(
            x=0,
            y=1 - 0.1 * row,
            xref="paper",
            yref="paper",
            xanchor="left",
            showarrow=False,
            text=f"i = {i}: p = 0, so −log p = ∞ (off the chart)",
        )
    fig.update_xaxes(title_text="probability of the true class, p", range=[0, 1.02])
    fig.update_yaxes(title_text="loss −log p", rangemode="tozero")
    return apply_layout(fig, title, height=360, showlegend=False)


def loss_bars(losses, title: str | None = None) -> go.Figure:
    r"""One bar per example's loss, and the dashed mean :math:`\frac{1}{n}\sum_i l_i` across them.

    An infinite loss cannot be drawn to scale: its bar is capped, hatched and
    labelled ∞, and the mean (then ∞ too) is named in an annotation.
    """
    values = [float(v) for v in torch.as_tensor(losses, dtype=torch.float64).tolist()]
    n = len(values)
    finite = [v for v in values if math.isfinite(v)]
    cap = max(finite + [1.0]) * 1.25
    heights = [v if math.isfinite(v) else cap for v in values]
    bars = go.Bar(
        x=list(range(n)),
        y=heights,
        text=[f"{v:.4f}" if math.isfinite(v) else "∞" for v in values],
        textposition="outside",
        marker=dict(pattern=dict(shape=["" if math.isfinite(v) else "/" for v in values])),
        name="loss of example i",
        customdata=[f"{v:.4f}" if math.isfinite(v) else "∞" for v in values],
        hovertemplate="example %{x}: loss %{customdata}<extra></extra>",
    )
    mean = math.fsum(values) / n
    traces = [bars]
    if math.isfinite(mean):
        traces.append(
            go.Scatter(
                x=[-0.5, n - 0.5],
                y=[mean, mean],
                mode="lines+text",
                line=dict(width=3, dash="dash"),
                text=["", f"mean {mean:.4f}"],
                textposition="top left",
                name=f"mean = {mean:.4f}",
                hovertemplate=f"mean loss {mean:.4f}<extra></extra>",
            )
        )
    fig = go.Figure(traces)
    if not math.isfinite(mean):
        fig.add_annotation(
            x=0.5,
            y=1.02,
            xref="paper",
            yref="paper",
            yanchor="bottom",
            showarrow=False,
            text="mean = ∞: one infinite loss makes the average infinite",
        )
    fig.update_xaxes(title_text="example i", tickvals=list(range(n)), ticktext=_example_names(n), range=[-0.6, n - 0.4])
    fig.update_yaxes(title_text="loss", rangemode="tozero", range=[0, cap * 1.2])
    return apply_layout(fig, title, height=360, showlegend=False)


# ---------------------------------------------------------------- text alternatives and tables
ALT_EXAMPLES = 6  # examples named in a text alternative; the table on the page has them all


def _listed(items: list[str]) -> str:
    """The first ``ALT_EXAMPLES`` items, then how many more (the page's tables show every one)."""
    more = len(items) - ALT_EXAMPLES
    return "; ".join(items[:ALT_EXAMPLES]) + (f"; and {more} more" if more > 0 else "")


def _loss_text(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else "infinite"


def prediction_heatmap_alt(y_hat, y) -> str:
    """What :func:`prediction_heatmap` shows: the grid's size and the cell each example's loss reads."""
    probs, labels = _rows(y_hat), _labels(y)
    picked = [f"example {i}, class {j}: {probs[i][j]:.2f}" for i, j in enumerate(labels)]
    return (
        f"Grid of the predicted probabilities y_hat, {len(probs)} examples by {len(probs[0])} classes, "
        f"the cell of each example's true class outlined: {_listed(picked)}."
    )


def neg_log_curve_alt(picked) -> str:
    """What :func:`neg_log_curve` shows: the curve, and each example's point on it."""
    p = [float(v) for v in torch.as_tensor(picked, dtype=torch.float64).tolist()]
    points = [
        f"example {i}: p = {v:.4f}, loss {_loss_text(-math.log(v) if v > 0 else math.inf)}" for i, v in enumerate(p)
    ]
    return (
        "The curve −log p for p from 0 to 1: 0 at p = 1, growing without bound as p goes to 0. "
        f"Each example's probability of its true class on it: {_listed(points)}."
    )


def loss_bars_alt(losses) -> str:
    """What :func:`loss_bars` shows: each example's loss and the mean."""
    values = [float(v) for v in torch.as_tensor(losses, dtype=torch.float64).tolist()]
    bars = [f"example {i}: {_loss_text(v)}" for i, v in enumerate(values)]
    return (
        f"Bar chart of the loss of each example: {_listed(bars)}. Mean: {_loss_text(math.fsum(values) / len(values))}."
    )


def per_example_records(picked, losses) -> list[dict]:
    """Steps 3 and 4 as table rows: each example's probability of its true class and its loss."""
    p = torch.as_tensor(picked, dtype=torch.float64).tolist()
    return [
        {"i": i, "p = y_hat[i, y[i]]": v, "loss −log p": loss}
        for i, (v, loss) in enumerate(zip(p, torch.as_tensor(losses).tolist()))
    ]


def logits_side_by_side(logits_trace, torch_losses) -> pd.DataFrame:
    """Step 5 as a table, one row per example: ``o_y``, max, log-sum-exp, our loss (lse − o_y) and torch's."""
    labels = _labels(logits_trace.y)
    return pd.DataFrame(
        {
            "i": list(range(len(labels))),
            "o_y": [float(logits_trace.logits[i, k]) for i, k in enumerate(labels)],
            "max": logits_trace.row_max.tolist(),
            "logsumexp": logits_trace.log_sum_exp.tolist(),
            "ours": logits_trace.losses.tolist(),
            "torch": torch.as_tensor(torch_losses).tolist(),
        }
    )
