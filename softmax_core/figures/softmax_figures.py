r"""Figures of the softmax-and-temperature page: data in, plotly figure out.

* :func:`probability_bars`: :math:`\mathrm{softmax}(\mathbf{o}/T)` next to the one-hot argmax.
* :func:`temperature_curves`: every :math:`p_j(T)` against T on a log axis, with the limits
  T -> 0 (hardmax) and T -> infinity (uniform 1/q) marked.

Each figure has a text alternative beside it (``*_alt``, the chart's accessible name) and the numbers
it draws as table rows (``*_records``). No colours are set: the Streamlit theme colours the traces; a
class's curve also has its own marker symbol, so colour is never the only code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch

from softmax_core.figures.style import FONT_SIZE, PALETTE_SIZE, SERIES_SYMBOLS, apply_layout
from softmax_core.softmax import softmax, zero_temperature_limit

SWEEP_T_MIN, SWEEP_T_MAX, SWEEP_POINTS = 0.01, 100.0, 300


@dataclass(frozen=True)
class TemperatureSweep:
    """p_j(T) on a log-spaced grid of temperatures: rows are temperatures, columns classes.

    ``cold_limit`` is the exact T -> 0 limit (one-hot, or split over tied largest logits).
    """

    temperatures: tuple[float, ...]
    probs: tuple[tuple[float, ...], ...]
    cold_limit: tuple[float, ...] = ()


def temperature_sweep(
    logits, t_min: float = SWEEP_T_MIN, t_max: float = SWEEP_T_MAX, points: int = SWEEP_POINTS
) -> TemperatureSweep:
    r"""softmax(o / T) for ``points`` log-spaced T in [t_min, t_max]: one batched softmax.

    Dividing row t of a (points, q) batch by :math:`T_t` is the same as calling
    ``softmax(o, temperature=T_t)`` for each T.
    """
    temps = np.geomspace(t_min, t_max, points)
    o = torch.as_tensor(logits, dtype=torch.float64)
    probs = softmax(o.unsqueeze(0) / torch.from_numpy(temps).unsqueeze(1), dim=-1)
    limit = tuple(zero_temperature_limit(o).tolist())
    return TemperatureSweep(tuple(temps.tolist()), tuple(tuple(row) for row in probs.tolist()), limit)


def cold_limit_label(limit) -> str:
    """What softmax becomes as T -> 0, in words: hardmax, or an even split over the tied top classes."""
    tied = sum(1 for p in limit if p > 0)
    if tied <= 1:
        return "T → 0: hardmax (one-hot argmax)"
    return f"T → 0: the {tied} tied top classes get 1/{tied} each"


def probability_bars(labels, probs, one_hot, title: str | None = None) -> go.Figure:
    """Grouped bars: the soft distribution (value on top) and the hard one-hot prediction."""
    labels = list(labels)
    probs = [float(p) for p in probs]
    one_hot = [float(v) for v in one_hot]
    if not (len(labels) == len(probs) == len(one_hot)):
        raise ValueError(f"{len(labels)} labels, {len(probs)} probabilities and {len(one_hot)} one-hot entries")
    fig = go.Figure()
    fig.add_bar(
        x=labels,
        y=probs,
        name="softmax(o / T)",
        text=[f"{p:.2f}" if p >= 0.005 else "" for p in probs],
        textposition="outside",
        cliponaxis=False,
        textfont_size=FONT_SIZE - 2,
        hovertemplate="%{x}<br>p = %{y:.4f}<extra>softmax</extra>",
    )
    fig.add_bar(
        x=labels,
        y=one_hot,
        name="one-hot argmax",
        opacity=0.55,
        marker=dict(pattern=dict(shape="/")),
        hovertemplate="%{x}<br>%{y:.0f}<extra>one-hot</extra>",
    )
    apply_layout(
        fig, title, height=420, barmode="group", bargap=0.2, uniformtext=dict(minsize=FONT_SIZE - 4, mode="show")
    )
    fig.update_yaxes(title_text="probability", range=[0, 1.12], tickformat=".1f")
    fig.update_xaxes(tickangle=-35 if len(labels) > 5 else 0)
    return fig  # apply_layout set the projector's sizes; the axis updates after it keep them


def temperature_curves(sweep: TemperatureSweep, labels, temperature: float, current_probs) -> go.Figure:
    """One line per class, p_j against T (log axis); the current T marked on each line.

    The limits are labelled where they happen: T -> 0 at the left edge (hardmax, or the even split
    over tied top logits), uniform 1/q beyond the right edge, outside the plot so no curve runs
    through the text; the current T above the plot.
    """
    labels = list(labels)
    temps = list(sweep.temperatures)
    num_classes = len(labels)
    if not sweep.probs or len(sweep.probs[0]) != num_classes or len(current_probs) != num_classes:
        raise ValueError("the sweep, the labels and the current probabilities must cover the same classes")
    t = float(temperature)
    at = int(np.searchsorted(temps, t))  # the current point goes into each line, in T order
    xs = np.insert(np.asarray(temps), at, t)
    ys = np.insert(np.asarray(sweep.probs), at, np.asarray(current_probs, dtype=float), axis=0)
    sizes = np.zeros(len(xs))
    sizes[at] = 13
    fig = go.Figure()
    for j, label in enumerate(labels):  # numpy columns: plotly validates arrays far faster than lists
        fig.add_scatter(
            x=xs,
            y=ys[:, j],
            name=label,
            mode="lines+markers",
            marker=dict(size=sizes, symbol=SERIES_SYMBOLS[j % len(SERIES_SYMBOLS)], line=dict(width=0)),
            line=dict(width=3, dash="solid" if j < PALETTE_SIZE else "dash"),
            hovertemplate="T = %{x:.3g}<br>p = %{y:.4f}<extra>" + label + "</extra>",
        )
    uniform = 1.0 / num_classes
    # No vline/hline shapes: their default grey vanishes on a dark theme and we set no colours.
    lo, hi = math.log10(temps[0]), math.log10(temps[-1])
    limit = sweep.cold_limit or tuple(zero_temperature_limit(torch.tensor(sweep.probs[0])).tolist())
    fig.add_annotation(  # inside the plot, in the free band above p = 1
        x=lo,
        y=1.0,
        xref="x",
        yref="y",
        xanchor="left",
        yanchor="bottom",
        showarrow=False,
        text=cold_limit_label(limit),
    )
    fig.add_annotation(
        x=1.0,
        y=uniform,
        xref="paper",
        yref="y",
        xanchor="left",
        yanchor="middle",
        showarrow=False,
        text=f"T → ∞:<br>uniform<br>1/q = {uniform:.3g}",
        align="left",
        xshift=6,
    )
    fig.add_annotation(  # above the plot, so it can never sit on the T -> 0 label inside it
        x=math.log10(t),
        y=1.0,
        xref="x",
        yref="paper",
        xanchor="center",
        yanchor="bottom",
        showarrow=False,
        text=f"current T = {t:g}",
    )
    apply_layout(fig, height=540)  # the legend of ten classes takes rows under the plot
    fig.update_layout(margin_r=115, legend_itemsizing="constant")  # the legend shows each class's marker
    decades = [10.0**k for k in range(math.ceil(lo), math.floor(hi) + 1)]
    fig.update_xaxes(
        type="log",
        range=[lo, hi],
        title_text="temperature T (log scale)",
        tickvals=decades,
        ticktext=[f"{d:g}" for d in decades],
    )
    fig.update_yaxes(title_text="probability", range=[-0.02, 1.2], tickvals=[0, 0.2, 0.4, 0.6, 0.8, 1.0])
    return fig  # apply_layout set the projector's sizes; the axis updates after it keep them


# ---------------------------------------------------------------- text alternatives and tables


def percent(p: float) -> str:
    return f"{100 * p:.1f} %"


def shares(labels, probs) -> str:
    """Every class at or above 1 %, largest first, with its percentage; the rest summed up in words.

    "Ankle boot 50.7 %, Sneaker 46.2 %, Sandal 2.9 %, the other 7 below 1 %". Ties keep the classes' order.
    """
    labels, probs = list(labels), [float(p) for p in probs]
    order = sorted(range(len(probs)), key=lambda j: -probs[j])
    named = [f"{labels[j]} {percent(probs[j])}" for j in order if probs[j] >= 0.01]
    rest = [labels[j] for j in order if probs[j] < 0.01]
    if len(rest) == 1:
        named.append(f"{rest[0]} below 1 %")
    elif rest:
        named.append(f"the other {len(rest)} below 1 %")
    return ", ".join(named)


def probability_bars_alt(labels, probs, one_hot, temperature: float | None = None) -> str:
    """What :func:`probability_bars` shows, for a screen reader: the probabilities and the argmax."""
    at = f" at T = {temperature:g}" if temperature is not None else ""
    winners = [label for label, v in zip(labels, one_hot) if float(v) == 1.0]
    return f"Bar chart of the probabilities{at}: {shares(labels, probs)}. One-hot argmax: {', '.join(winners)}."


def temperature_curves_alt(
    labels, temperature: float, current_probs, cold_limit, t_min: float = SWEEP_T_MIN, t_max: float = SWEEP_T_MAX
) -> str:
    """What :func:`temperature_curves` shows: the range, the current T's probabilities and both limits."""
    labels, limit = list(labels), [float(p) for p in cold_limit]
    top = [label for label, p in zip(labels, limit) if p > 0]
    cold = (
        f"hardmax, {top[0]} gets 100 %"
        if len(top) == 1
        else f"the {len(top)} tied top classes ({', '.join(top)}) get 1/{len(top)} each"
    )
    q = len(labels)
    return (
        f"Line chart of each class's probability against the temperature T, {t_min:g} to {t_max:g} on a log scale. "
        f"At the current T = {float(temperature):g}: {shares(labels, current_probs)}. "
        f"As T goes to 0: {cold}. As T grows: every class tends to uniform 1/{q} = {percent(1 / q)}."
    )


def probability_records(labels, logits, probs, one_hot) -> list[dict]:
    """The bars' numbers, one row per class: the logit, its probability and the one-hot argmax."""
    return [
        {"class": label, "logit o": float(o), "softmax p": round(float(p), 6), "one-hot": int(h)}
        for label, o, p, h in zip(labels, logits, probs, one_hot)
    ]


def sweep_records(logits, labels, temperatures) -> list[dict]:
    """The curves' numbers at a few temperatures, one row per class (a column per T)."""
    o = torch.as_tensor(logits, dtype=torch.float64)
    columns = {f"T = {t:g}": softmax(o, float(t)).tolist() for t in temperatures}
    return [
        {"class": label} | {name: round(values[j], 6) for name, values in columns.items()}
        for j, label in enumerate(labels)
    ]
