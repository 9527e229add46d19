r"""Figures for the L1 / L2 / Huber page: loss, gradient and likelihood over the residual.

Each curve is one trace that also holds the current prediction as a point
(``selectedpoints`` marks it; the other points are drawn invisible), so the
marker always has its curve's theme colour. The horizontal axis is either the
residual :math:`d = \hat y - y` (target at 0, as in the chapter) or the
prediction :math:`\hat y` itself (target at :math:`y`).

Colour means the loss on this page, everywhere: L2, L1, Huber take the theme's
colours 0, 1, 2. Trace order decides the theme colour, so overlays keep the order
L2, L1, Huber, and a figure of one loss's three quantities puts each curve in
that loss's colour slot (``style.in_colour_slot``). Colour is never the only code:
each loss also has its own line dash and marker symbol (solid and circle, dashed and
square, dotted and diamond) in every figure, and its name in the legend or title.
Each figure has a text alternative beside it (``*_alt``) written from the same numbers.

The likelihood is the normalised noise density ``exp(-loss) / Z``
(``Loss.density``): Gaussian, Laplace, and Huber's with Z computed from delta, so
the three integrate to 1 and can be compared on one axis.

Figures are built in one constructor call from plain dicts: plotly's
``update_layout`` costs ~15 ms a call, too much for a page that redraws on
every slider move, so the shared style is computed once per (title, height).
"""

from __future__ import annotations

import copy
from functools import lru_cache

import numpy as np
import plotly.graph_objects as go
import torch

from softmax_core.figures.style import (
    LEGEND_BELOW,
    SERIES_DASHES,
    SERIES_SYMBOLS,
    apply_layout,
    in_colour_slot,
    projector_font_layout,
)
from softmax_core.gradient_step import GradientStep
from softmax_core.losses import LOSSES, normaliser

QUANTITIES = ("loss", "gradient", "likelihood")
QUANTITY_LABELS = {"loss": "loss ℓ", "gradient": "gradient ∂ℓ/∂ŷ", "likelihood": "density p = exp(−ℓ)/Z"}
QUANTITY_SYMBOLS = {"loss": "ℓ", "gradient": "∂ℓ/∂ŷ", "likelihood": "p"}
LOSS_SLOTS = {name: slot for slot, name in enumerate(LOSSES)}  # colour = the loss, on every figure of the page
LOSS_DASHES = {name: SERIES_DASHES[slot] for name, slot in LOSS_SLOTS.items()}  # and so do its dash
LOSS_SYMBOLS = {name: SERIES_SYMBOLS[slot] for name, slot in LOSS_SLOTS.items()}  # and its marker
DASH_WORDS = {"solid": "solid", "dash": "dashed", "dot": "dotted"}


def loss_style(name: str) -> str:
    """How a loss is drawn, in words: "dashed line, square"."""
    return f"{DASH_WORDS[LOSS_DASHES[name]]} line, {LOSS_SYMBOLS[name]}"


LOSS_TITLES = {
    "L2": "L2 (squared): Gaussian noise",
    "L1": "L1 (absolute): Laplace noise",
    "Huber": "Huber: Gaussian middle, Laplace tails",
}
AXES = ("residual", "prediction")
POINTS = 301  # per curve: smooth at any width, light enough to redraw on every slider move
MARKER_SIZE = 14
ARROW_SIZE = 22  # the arrow symbol is slim: drawn larger to read as the step's tip
LINE_WIDTH = 3  # a dotted or dashed line stays visible at this width on a projector
ARROW = "arrow"  # the tip of the step (the old prediction has its loss's symbol)


def fmt(value: float) -> str:
    """Four significant digits: enough to check by hand, short enough to read."""
    return f"{value:.4g}"


def view_half_width(plot_range: float, *residuals: float) -> float:
    """The slider's half-width, widened (with 10% room) so every marked residual is on screen."""
    return max([float(plot_range)] + [1.1 * abs(r) for r in residuals])


def frame(y_hat: float, y: float, axis: str) -> tuple[float, float]:
    """(where the target sits, where the prediction sits) on the chosen horizontal axis."""
    if axis not in AXES:
        raise ValueError(f"axis must be one of {', '.join(AXES)}, got {axis!r}")
    return (0.0, float(y_hat) - float(y)) if axis == "residual" else (float(y), float(y_hat))


def curve_x(center: float, half_width: float, marks: tuple[float, ...] = (), points: int = POINTS):
    """An even grid over ``center ± half_width`` with the marked x values inserted.

    Returns the sorted x values and the index of each mark in them.
    """
    grid = np.linspace(center - half_width, center + half_width, points)
    xs = np.unique(np.concatenate([grid, np.asarray(marks, dtype=np.float64)]))
    return xs, [int(np.searchsorted(xs, m)) for m in marks]


def quantity(name: str, quantity_name: str, x, target, delta: float) -> np.ndarray:
    """Loss, gradient or likelihood of ``LOSSES[name]`` at predictions ``x`` for ``target``."""
    loss = LOSSES[name]
    x = torch.as_tensor(x, dtype=torch.float64)
    target = torch.as_tensor(target, dtype=torch.float64)
    if quantity_name == "loss":
        values = loss(x, target, delta)
    elif quantity_name == "gradient":
        values = loss.gradient(x, target, delta)
    elif quantity_name == "likelihood":
        values = loss.density(x, target, delta)
    else:
        raise ValueError(f"quantity must be one of {', '.join(QUANTITIES)}, got {quantity_name!r}")
    return values.numpy()


def density_range(name: str, delta: float) -> list[float]:
    """y range of a density plot: its peak 1/Z plus room above, and room for a marker at 0 below."""
    peak = 1.0 / normaliser(name, delta)
    return [-0.06 * peak, 1.1 * peak]


def _curve(
    loss_name: str,
    quantity_name: str,
    axis: str,
    center: float,
    half_width: float,
    delta: float,
    marks: tuple[float, ...],
    **trace,
) -> dict:
    """One curve with its marked points drawn as markers, everything else as a plain line."""
    xs, idx = curve_x(center, half_width, marks)
    x_label = "d" if axis == "residual" else "ŷ"
    return dict(
        type="scatter",
        x=xs,
        y=quantity(loss_name, quantity_name, xs, center, delta),
        mode="lines+markers",
        line=dict(dash=LOSS_DASHES[loss_name], width=LINE_WIDTH),
        marker=dict(size=MARKER_SIZE, symbol=LOSS_SYMBOLS[loss_name]),
        selectedpoints=idx,
        unselected=dict(marker=dict(opacity=0)),
        hovertemplate=f"{x_label} = %{{x:.3f}}<br>{QUANTITY_SYMBOLS[quantity_name]} = %{{y:.4g}}<extra>{loss_name}</extra>",
        **trace,
    )


@lru_cache(maxsize=32)
def _style(title: str | None, height: int) -> dict:
    """The project's shared layout (figures/style.py) as a plain dict, computed once."""
    style = apply_layout(go.Figure(), title, height).layout.to_plotly_json()
    style.pop("template", None)  # each new figure takes the default template when it is built
    return style


def _figure(data: list[dict], title: str | None, height: int, **layout) -> go.Figure:
    """Shared style, then this figure's own layout on top (its keys win), then the projector's font sizes
    again, since this figure's own axes replaced the shared ones (on the plain dict: projector_font_layout)."""
    return go.Figure(data=data, layout=projector_font_layout({**copy.deepcopy(_style(title, height)), **layout}))


def _axis_title(axis: str, y: float) -> str:
    """The residual axis has the target at 0; the prediction axis says where it is."""
    return "residual d = ŷ − y" if axis == "residual" else f"prediction ŷ (target y = {fmt(y)})"


def _subplot_title(text: str, xref: str, yref: str) -> dict:
    return dict(
        text=text,
        x=0.5,
        y=1.0,
        xref=f"{xref} domain",
        yref=f"{yref} domain",
        xanchor="center",
        yanchor="bottom",
        yshift=4,
        showarrow=False,
    )


def _row_domains(rows: int, gap: float) -> list[list[float]]:
    """Vertical domains, top row first."""
    height = (1 - gap * (rows - 1)) / rows
    return [[max(0.0, 1 - (r + 1) * height - r * gap), 1 - r * height - r * gap] for r in range(rows)]


def _column_domains(cols: int, gap: float) -> list[list[float]]:
    width = (1 - gap * (cols - 1)) / cols
    return [[c * (width + gap), min(1.0, c * (width + gap) + width)] for c in range(cols)]


def one_loss_figure(
    name: str, y_hat: float, y: float, delta: float, plot_range: float, axis: str = "residual", height: int = 640
) -> go.Figure:
    """Loss, gradient and likelihood of one loss, stacked on one shared horizontal axis.

    No figure title: the page names the loss above its formulas, right over the figure.
    """
    center, mark = frame(y_hat, y, axis)
    half_width = view_half_width(plot_range, mark - center)
    data, layout, notes = [], {}, []
    for row, (q, domain) in enumerate(zip(QUANTITIES, _row_domains(3, 0.11)), start=1):
        yaxis = "y" if row == 1 else f"y{row}"
        data.append(_curve(name, q, axis, center, half_width, delta, (mark,), name=q, xaxis="x", yaxis=yaxis))
        value = quantity(name, q, [mark], center, delta)[0]
        named = f"{name}: " if row == 1 else ""  # the loss named in the figure, not by its colour alone
        notes.append(_subplot_title(f"{named}{QUANTITY_LABELS[q]} = <b>{fmt(value)}</b>", "x", yaxis))
        layout[f"yaxis{row if row > 1 else ''}"] = dict(domain=domain, anchor="x", zeroline=True)
    layout["yaxis3"]["range"] = density_range(name, delta)
    layout["xaxis"] = dict(
        anchor="y3", title=dict(text=_axis_title(axis, y)), range=[center - half_width, center + half_width]
    )
    return _figure(
        in_colour_slot(data, LOSS_SLOTS[name]),
        None,
        height,
        showlegend=False,
        margin=dict(l=10, r=10, t=30, b=10),
        annotations=notes,
        **layout,
    )


def compare_figure(
    quantity_name: str,
    y_hat: float,
    y: float,
    delta: float,
    plot_range: float,
    axis: str = "residual",
    height: int = 440,
) -> go.Figure:
    """One quantity of all three losses overlaid, each with its marker; the legend gives the values."""
    center, mark = frame(y_hat, y, axis)
    half_width = view_half_width(plot_range, mark - center)
    data = []
    for name in LOSSES:
        value = quantity(name, quantity_name, [mark], center, delta)[0]
        data.append(_curve(name, quantity_name, axis, center, half_width, delta, (mark,), name=f"{name}: {fmt(value)}"))
    peak = max(density_range(name, delta)[1] for name in LOSSES)
    yaxis = dict(zeroline=True, **({"range": [-0.06 * peak, peak]} if quantity_name == "likelihood" else {}))
    return _figure(
        data,
        QUANTITY_LABELS[quantity_name],
        height,
        xaxis=dict(title=dict(text=_axis_title(axis, y)), range=[center - half_width, center + half_width]),
        yaxis=yaxis,
        legend=LEGEND_BELOW | dict(xanchor="center", x=0.5),
    )


def _step_trace(step: GradientStep, center: float, half_width: float, delta: float, axis: str) -> dict:
    """The loss curve, then after a gap the step: circle at the old prediction, arrow tip at the new one."""
    start, end = frame(step.y_hat, step.y, axis)[1], frame(step.y_hat_new, step.y, axis)[1]
    trace = _curve(step.loss, "loss", axis, center, half_width, delta, (), name=step.loss)
    # After the gap the start comes twice: a marker right after a gap gets no angle and is not drawn.
    n = len(trace["x"])
    trace["x"] = np.concatenate([trace["x"], [np.nan, start, start, end]])
    trace["y"] = np.concatenate([trace["y"], [np.nan, step.loss_before, step.loss_before, step.loss_after]])
    trace["selectedpoints"] = [n + 2, n + 3]
    symbols, sizes = np.full(n + 4, LOSS_SYMBOLS[step.loss], dtype=object), np.full(n + 4, MARKER_SIZE)
    symbols[n + 3], sizes[n + 3] = ARROW, ARROW_SIZE
    trace["marker"] = dict(size=sizes, symbol=symbols, angleref="previous")  # the tip points along the step
    return trace


def gradient_step_figures(
    steps: tuple[GradientStep, ...], delta: float, plot_range: float, axis: str = "residual", height: int = 300
) -> tuple[go.Figure, ...]:
    """One figure per loss: its curve with the step drawn as an arrow from the old prediction (circle) to the new.

    Separate figures, not subplots, so the page can put them in columns that stack on a
    phone instead of squeezing three sets of axes into 390 px. The arrow is part of the
    curve's own trace, after a gap, so it takes the loss's theme colour (an annotation
    arrow would be a fixed grey, faint on a dark background); all three share one x range.
    """
    center, _ = frame(steps[0].y_hat, steps[0].y, axis)
    half_width = view_half_width(plot_range, steps[0].residual, *(s.residual_new for s in steps))
    figures = []
    for step in steps:
        title = _subplot_title(f"{step.loss}: step {fmt(step.step)}", "x", "y")
        figures.append(
            _figure(
                in_colour_slot([_step_trace(step, center, half_width, delta, axis)], LOSS_SLOTS[step.loss]),
                None,
                height,
                showlegend=False,
                annotations=[title],
                margin=dict(l=10, r=10, t=30, b=10),
                xaxis=dict(
                    title=dict(text=_axis_title(axis, step.y)), range=[center - half_width, center + half_width]
                ),
                yaxis=dict(rangemode="tozero"),
            )
        )
    return tuple(figures)


# ---------------------------------------------------------------- text alternatives and tables


def _span(y_hat: float, y: float, plot_range: float, axis: str) -> str:
    """The horizontal axis in words: which variable, over which range."""
    center, mark = frame(y_hat, y, axis)
    half = view_half_width(plot_range, mark - center)
    name = "residual d = ŷ − y" if axis == "residual" else f"prediction ŷ (target y = {fmt(y)})"
    return f"{name} from {fmt(center - half)} to {fmt(center + half)}"


def _at(y_hat: float, y: float, axis: str) -> str:
    return f"d = {fmt(float(y_hat) - float(y))}" if axis == "residual" else f"ŷ = {fmt(y_hat)}"


def _value(name: str, quantity_name: str, y_hat: float, y: float, delta: float) -> float:
    return float(quantity(name, quantity_name, [y_hat], y, delta)[0])


def one_loss_figure_alt(
    name: str, y_hat: float, y: float, delta: float, plot_range: float, axis: str = "residual"
) -> str:
    """What :func:`one_loss_figure` shows: the loss's three curves and their values at the marker."""
    values = ", ".join(f"{QUANTITY_LABELS[q]} = {fmt(_value(name, q, y_hat, y, delta))}" for q in QUANTITIES)
    return (
        f"{LOSS_TITLES[name]}. Its loss, gradient and noise density, stacked, against the "
        f"{_span(y_hat, y, plot_range, axis)}. At the marker, {_at(y_hat, y, axis)}: {values}."
    )


def compare_figure_alt(
    quantity_name: str, y_hat: float, y: float, delta: float, plot_range: float, axis: str = "residual"
) -> str:
    """What :func:`compare_figure` shows: one quantity of the three losses, and each one's value at the marker."""
    if quantity_name not in QUANTITIES:
        raise ValueError(f"quantity must be one of {', '.join(QUANTITIES)}, got {quantity_name!r}")
    styles = ", ".join(f"{name} ({loss_style(name)})" for name in LOSSES)
    values = ", ".join(f"{name} {fmt(_value(name, quantity_name, y_hat, y, delta))}" for name in LOSSES)
    return (
        f"{QUANTITY_LABELS[quantity_name]} of {styles} against the {_span(y_hat, y, plot_range, axis)}. "
        f"At the marker, {_at(y_hat, y, axis)}: {values}."
    )


def gradient_step_alt(step: GradientStep) -> str:
    """What one of :func:`gradient_step_figures` shows: where the step starts and lands, and the loss there."""
    return (
        f"{step.loss} loss curve with one gradient step: the prediction ŷ moves by {fmt(step.step)}, "
        f"from {fmt(step.y_hat)} (loss {fmt(step.loss_before)}) to {fmt(step.y_hat_new)} "
        f"(loss {fmt(step.loss_after)})."
    )


def curve_records(
    y_hat: float, y: float, delta: float, plot_range: float, axis: str = "residual", points: int = 9
) -> list[dict]:
    """The curves' numbers as table rows, one per point and loss (narrow enough for a phone): its loss, gradient
    and density at a few points across the plot and at the marker (the rows marked "current")."""
    center, mark = frame(y_hat, y, axis)
    half = view_half_width(plot_range, mark - center)
    xs = sorted(set(np.linspace(center - half, center + half, points).round(6).tolist()) | {mark})
    column = "d" if axis == "residual" else "ŷ"
    return [
        {column: x, "at": "current" if x == mark else "", "loss": name}
        | {QUANTITY_SYMBOLS[q]: round(float(quantity(name, q, [x], center, delta)[0]), 6) for q in QUANTITIES}
        for x in xs
        for name in LOSSES
    ]


def loss_formulas(name: str, y_hat: float, y: float, delta: float) -> list[str]:
    """LaTeX lines for one loss: its definition, the numbers at the current residual, gradient, likelihood."""
    d = float(y_hat) - float(y)
    value = quantity(name, "loss", [d], 0.0, delta)[0]
    grad = quantity(name, "gradient", [d], 0.0, delta)[0]
    ds = fmt(d) if d >= 0 else f"({fmt(d)})"
    gradient = r"\partial_{\hat y}\ell"
    if name == "L2":
        return [
            r"\ell(d) = \tfrac12 d^2",
            rf"\ell({fmt(d)}) = \tfrac12 \cdot {ds}^2 = {fmt(value)}",
            rf"{gradient} = d = {fmt(grad)}",
            r"p(d) = e^{-d^2/2} / \sqrt{2\pi}",
        ]
    if name == "L1":
        return [
            r"\ell(d) = |d|",
            rf"\ell({fmt(d)}) = |{fmt(d)}| = {fmt(value)}",
            rf"{gradient} = \operatorname{{sign}}(d) = {fmt(grad)}",
            r"p(d) = \tfrac12 e^{-|d|}",
        ]
    if name == "Huber":
        inside = abs(d) <= delta
        numbers = rf"\tfrac12 \cdot {ds}^2" if inside else rf"{fmt(delta)}\,(|{fmt(d)}| - \tfrac12 \cdot {fmt(delta)})"
        return [
            # two short lines, so a third of a 1280 px projector screen does not clip the condition
            r"\ell(d) = \tfrac12 d^2 \ \text{if } |d| \le \delta, \\ \text{else } \delta\,(|d| - \tfrac12\delta)",
            rf"\ell({fmt(d)}) = {numbers} = {fmt(value)}",
            rf"{gradient} = \operatorname{{clip}}(d, \pm\delta) = {fmt(grad)}",
            rf"p(d) = e^{{-\ell(d)}} / {fmt(normaliser('Huber', delta))}",
        ]
    raise ValueError(f"unknown loss {name!r}: choose one of {', '.join(LOSSES)}")
