"""Figures for "Inside the model": weights as pictures, scores, contribution maps, upload steps.

Signed quantities (weights, contributions x * w_j) use one diverging scale, ColorBrewer's
RdBu from plotly's own colour scales (colour-blind safe; red negative, blue positive,
near-white 0), centred at 0 with one symmetric limit per figure so panels compare.
Pixel intensities are grey as the model sees them: 0 black, 1 white. No other
colours of our own: bars take the theme's palette.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

import numpy as np
import plotly.colors
import plotly.graph_objects as go
from PIL import Image
from plotly.subplots import make_subplots

from softmax_core.figures.style import FONT_SIZE, apply_layout, as_heatmap_values
from softmax_core.figures.training_figures import bars_height, class_bars, confusion_heatmap, label_every_class
from softmax_core.inspection import SIDE, Explanation, symmetric_limit, templates

DIVERGING = plotly.colors.diverging.RdBu  # ColorBrewer, red (negative) - white (0) - blue (positive)
GRAY = "gray"


def _diverging_axis(limit: float, title: str, show: bool = True, below: bool = False) -> dict:
    """One diverging colour axis; ``below`` puts its bar under the panels (so it takes no width)."""
    bar = dict(title=dict(text=title), thickness=14, len=0.9)
    if below:
        bar.update(
            orientation="h",
            x=0.5,
            xanchor="center",
            y=-0.02,
            yanchor="top",
            len=0.8,
            thickness=12,
            title=dict(text=title, side="top"),
        )
    return dict(colorscale=DIVERGING, cmin=-limit, cmax=limit, cmid=0, showscale=show, colorbar=bar)


def _square_pixels(fig: go.Figure, count: int) -> None:
    """Hide ticks and keep pixels square on every image subplot (each y axis anchored to its own x)."""
    for i in range(1, count + 1):
        suffix = "" if i == 1 else str(i)
        fig.layout[f"xaxis{suffix}"].update(
            showticklabels=False, ticks="", showgrid=False, zeroline=False, constrain="domain"
        )
        fig.layout[f"yaxis{suffix}"].update(
            showticklabels=False,
            ticks="",
            showgrid=False,
            zeroline=False,
            autorange="reversed",
            scaleanchor=f"x{suffix}",
            constrain="domain",
        )


def _small_titles(fig: go.Figure, size: int = FONT_SIZE - 2) -> None:
    for note in fig.layout.annotations:
        note.font = dict(size=size)


def weight_templates(
    weight,
    bias,
    class_names: Sequence[str],
    limit: float | None = None,
    columns: int = 5,
    height: int | None = None,
    title: str | None = None,
    compact: bool = False,
    show_scale: bool = True,
) -> go.Figure:
    """The ten columns of W as 28x28 pictures, titled with the class and its bias, on one shared scale.

    ``limit`` fixes the scale (e.g. the largest |w| over all epochs, so a slider does not rescale);
    default: the largest |w| of this W. ``compact`` (half-width panels) titles with the class only,
    the bias moves to the hover text. The colour bar lies below the panels.
    """
    pictures = templates(weight)
    b = np.asarray(bias, dtype=np.float64).reshape(-1)
    if len(class_names) != len(pictures) or len(b) != len(pictures):
        raise ValueError(f"need {len(pictures)} class names and biases")
    limit = symmetric_limit(pictures) if limit is None else float(limit)
    rows = math.ceil(len(pictures) / columns)
    titles = [name if compact else f"{name}<br>b = {b[j]:+.3f}" for j, name in enumerate(class_names)]
    fig = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=titles,
        horizontal_spacing=0.015,
        vertical_spacing=0.1 if compact else 0.14,
    )
    for j, picture in enumerate(pictures):
        fig.add_trace(
            go.Heatmap(
                z=as_heatmap_values(picture),
                coloraxis="coloraxis",
                name=class_names[j],
                hovertemplate=f"{class_names[j]} (b = {b[j]:+.4f})<br>row %{{y}}, col %{{x}}"
                "<br>w = %{z:.4f}<extra></extra>",
            ),
            row=j // columns + 1,
            col=j % columns + 1,
        )
    _square_pixels(fig, len(pictures))
    _small_titles(fig, FONT_SIZE - 4 if compact else FONT_SIZE - 3)  # "T-shirt/top" fits a fifth of a phone
    apply_layout(fig, title, height or 190 * rows + 110)
    # The colour bar sits below the panels: beside them it would take a fifth of a phone's width.
    fig.update_layout(
        coloraxis=_diverging_axis(limit, "weight", show_scale, below=True),
        margin=dict(l=5, r=5, t=(100 if title else 45) - (15 if compact else 0), b=60),
    )
    return fig


def score_bars(scores, class_names: Sequence[str], true_label: int | None = None, height: int = 380) -> go.Figure:
    r"""The ten scores :math:`o_j = \mathbf{x}\cdot\mathbf{w}_j + b_j`, one bar per class (the true class opaque)."""
    o = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(o) != len(class_names):
        raise ValueError(f"{len(o)} scores for {len(class_names)} classes")
    # A positive bar's value stands right of its end; a negative bar's right of the zero line, where no bar
    # is: left of the bar it would run into the class names.
    bar = class_bars(o, class_names, true_label, [f"{v:.2f}" if v >= 0 else "" for v in o], "%{y}: o = %{x:.4f}")
    fig = go.Figure(bar)
    for name, value in zip(bar.y, o):
        if value < 0:
            fig.add_annotation(x=0, y=name, xref="x", yref="y", text=f"{value:.2f}", showarrow=False,
                               xanchor="left", xshift=4, font=dict(size=bar.textfont.size))  # fmt: skip
    largest = max(float(np.abs(o).max()), 1e-9)
    fig.update_xaxes(
        title_text="score o = x·w + b",
        zeroline=True,
        zerolinewidth=2,
        range=[min(0.0, float(o.min())) - 0.05 * largest, max(0.0, float(o.max())) + 0.45 * largest],
    )
    label_every_class(fig, bar)
    return apply_layout(fig, None, bars_height(height, len(o)), showlegend=False)


def contribution_maps(
    explanation: Explanation, classes: Sequence[tuple[int, str]], class_names: Sequence[str], height: int = 330
) -> go.Figure:
    """The image, then x * w_j for each (class, role) given, on one diverging scale centred at 0.

    Titles stay short (class and role) so three panels fit a phone; the sums go in the page's text
    (:func:`contribution_sums`).
    """
    maps = [explanation.contributions[j] for j, _ in classes]
    limit = symmetric_limit(*maps)
    titles = ["the image x"] + [f"{class_names[j]}<br>({role})" for j, role in classes]
    fig = make_subplots(rows=1, cols=1 + len(classes), subplot_titles=titles, horizontal_spacing=0.03)
    fig.add_trace(
        go.Heatmap(
            z=as_heatmap_values(explanation.pixels.reshape(SIDE, SIDE)),
            coloraxis="coloraxis2",
            name="image",
            hovertemplate="row %{y}, col %{x}<br>x = %{z:.3f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    for i, ((j, _role), contribution) in enumerate(zip(classes, maps), start=2):
        fig.add_trace(
            go.Heatmap(
                z=as_heatmap_values(contribution),
                coloraxis="coloraxis",
                name=class_names[j],
                hovertemplate=f"{class_names[j]}<br>row %{{y}}, col %{{x}}<br>x·w = %{{z:.4f}}<extra></extra>",
            ),
            row=1,
            col=i,
        )
    _square_pixels(fig, 1 + len(classes))
    _small_titles(fig)
    apply_layout(fig, None, height)
    fig.update_layout(
        coloraxis=_diverging_axis(limit, "x·w"),
        coloraxis2=dict(colorscale=GRAY, cmin=0, cmax=1, showscale=False),
        margin=dict(l=5, r=5, t=70, b=5),
    )
    return fig


def contribution_sums(explanation: Explanation, classes: Sequence[tuple[int, str]], class_names: Sequence[str]) -> str:
    """The bookkeeping under the maps, one line per class: sum of the map + b_j = o_j."""
    lines = []
    for j, role in classes:
        total, b, score = explanation.check(j)
        lines.append(f"{class_names[j]} ({role}): Σ x·w = {total:+.4f}, + b = {b:+.4f}, = o = {score:+.4f}")
    return "\n".join(lines)


def model_input(pixels, title: str | None = None, height: int = 300) -> go.Figure:
    """One 28x28 image as the model sees it: x in [0, 1], 0 black, 1 white."""
    x = np.asarray(pixels, dtype=np.float64).reshape(SIDE, SIDE)
    x = x / 255.0 if x.max() > 1 else x
    fig = go.Figure(
        go.Heatmap(
            z=as_heatmap_values(x),
            coloraxis="coloraxis",
            hovertemplate="row %{y}, col %{x}<br>x = %{z:.3f}<extra></extra>",
        )
    )
    _square_pixels(fig, 1)
    apply_layout(fig, title, height)
    fig.update_layout(coloraxis=dict(colorscale=GRAY, cmin=0, cmax=1, showscale=False))
    return fig


def png_data_uri(image: np.ndarray) -> str:
    """A uint8 array as an inline PNG (``data:image/png;base64,...``), compact in the figure's JSON."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _square(rgb: np.ndarray, background: int | None = None) -> np.ndarray:
    """Pad an (h, w, 3) picture to a square, so every panel has the same size.

    The padding is ``background`` if given, else the picture's own border colour.
    """
    h, w = rgb.shape[:2]
    side = max(h, w)
    border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]])
    fill = np.median(border, axis=0).astype(np.uint8) if background is None else np.full(3, background, np.uint8)
    canvas = np.empty((side, side, 3), np.uint8)
    canvas[:] = fill
    top, left = (side - h) // 2, (side - w) // 2
    canvas[top : top + h, left : left + w] = rgb
    return canvas


def upload_steps(steps: Sequence, columns: int = 6, height: int = 260) -> go.Figure:
    """Each step of the upload pipeline as a picture with its title, pixels crisp (no smoothing)."""
    rows = math.ceil(len(steps) / columns)
    fig = make_subplots(
        rows=rows, cols=columns, subplot_titles=[s.title for s in steps], horizontal_spacing=0.02, vertical_spacing=0.12
    )
    for i, step in enumerate(steps):
        rgb = step.image if step.image.ndim == 3 else np.repeat(step.image[..., None], 3, axis=2)
        rgb = _square(rgb, getattr(step, "background", None))
        fig.add_trace(
            go.Image(source=png_data_uri(rgb), name=step.title, hoverinfo="skip"),
            row=i // columns + 1,
            col=i % columns + 1,
        )
    _square_pixels(fig, len(steps))
    _small_titles(fig)
    apply_layout(fig, None, height * rows)
    fig.update_layout(margin=dict(l=5, r=5, t=40, b=5))
    return fig


def clickable_confusion(confusion, class_names: Sequence[str], normalize: bool = False, height: int = 560) -> go.Figure:
    """The training page's confusion heatmap plus one invisible square marker per cell, so a click selects a cell.

    Streamlit's plotly selection reports no points for a heatmap click (checked in
    Chromium), but it does for scatter markers: each cell gets a marker at its centre
    (x = predicted, y = true), nearly transparent and big enough to cover the cell.
    """
    fig = confusion_heatmap(confusion, class_names, normalize=normalize, height=height)
    fig.data[0].hoverinfo = "skip"
    fig.data[0].hovertemplate = None
    matrix = np.asarray(confusion, dtype=np.int64)
    names = list(class_names)
    xs = [names[p] for t in range(len(names)) for p in range(len(names))]
    ys = [names[t] for t in range(len(names)) for p in range(len(names))]
    counts = [int(matrix[t, p]) for t in range(len(names)) for p in range(len(names))]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="markers",
            name="cells",
            showlegend=False,
            customdata=counts,
            marker=dict(symbol="square", size=42, opacity=0.01),
            selected=dict(marker=dict(opacity=0.01)),
            unselected=dict(marker=dict(opacity=0.01)),
            hovertemplate="true %{y}<br>predicted %{x}<br>%{customdata} images<br>click to list them<extra></extra>",
        )
    )
    n = len(names)  # fixed ranges: big markers would otherwise pad the axes and shrink the matrix
    fig.update_xaxes(range=[-0.5, n - 0.5], autorange=False)
    fig.update_yaxes(range=[n - 0.5, -0.5], autorange=False)
    fig.update_layout(clickmode="event+select", dragmode=False)
    return fig


# ---------------------------------------------------------------- text alternatives (what a screen reader says)


def _signed(value: float) -> str:
    return f"{value:+.2f}".replace("-", "−")


def weight_templates_alt(weight, bias, class_names: Sequence[str], what: str = "W") -> str:
    """What :func:`weight_templates` draws: ten pictures, their shared scale and the biases' range."""
    pictures = templates(weight)
    b = np.asarray(bias, dtype=np.float64).reshape(-1)
    limit = symmetric_limit(pictures)
    low, high = int(np.argmin(b)), int(np.argmax(b))
    return (
        f"{what}: {len(pictures)} weight pictures of 28 x 28, one per class ({class_names[0]} to {class_names[-1]}), "
        f"on one scale from {_signed(-limit)} (red, lowers the class's score) to {_signed(limit)} (blue, raises it). "
        f"Biases from {_signed(b[low])} ({class_names[low]}) to {_signed(b[high])} ({class_names[high]})."
    )


def _ranked(values: np.ndarray, class_names: Sequence[str], shown: int, text) -> str:
    order = np.argsort(-values, kind="stable")[:shown]
    return ", ".join(f"{class_names[j]} {text(values[j])}" for j in order)


def score_bars_alt(scores, class_names: Sequence[str]) -> str:
    """What :func:`score_bars` draws: the three largest scores and the smallest."""
    o = np.asarray(scores, dtype=np.float64).reshape(-1)
    lowest = int(np.argmin(o))
    return (
        f"Scores o = x·w + b of the {len(o)} classes: largest {_ranked(o, class_names, 3, _signed)}; "
        f"smallest {class_names[lowest]} {_signed(o[lowest])}."
    )


def probabilities_alt(probs, class_names: Sequence[str], where: str = "") -> str:
    """What ``training_figures.probability_bars`` draws: the classes of 1 % or more (at most three), then the rest."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    order = np.argsort(-p, kind="stable")
    named = [j for j in order[:3] if p[j] >= 0.01] or [int(order[0])]
    listed = ", ".join(f"{class_names[j]} {p[j]:.1%}" for j in named)
    rest = np.delete(p, named)
    tail = ""
    if len(rest):
        tail = ", the rest below 1 %" if rest.max() < 0.01 else f", the rest at most {rest.max():.1%} each"
    return f"Probabilities{where}: {listed}{tail}."


def model_input_alt(pixels, what: str) -> str:
    """What :func:`model_input` draws: the image's name and how much of it is lit."""
    x = np.asarray(pixels, dtype=np.float64).reshape(-1)
    x = x / 255.0 if x.max() > 1 else x
    return (
        f"{what}, as the model sees it: 28 x 28 grey pixels, {np.mean(x > 0.1):.0%} of them lit, mean {x.mean():.2f}."
    )


def contribution_maps_alt(
    explanation: Explanation, classes: Sequence[tuple[int, str]], class_names: Sequence[str]
) -> str:
    """What :func:`contribution_maps` draws: the maps shown and what each adds up to (plus its bias, the score)."""
    limit = symmetric_limit(*[explanation.contributions[j] for j, _ in classes])
    sums = "; ".join(
        f"{class_names[j]} ({role}) sums to {_signed(explanation.check(j)[0])}, plus b {_signed(explanation.check(j)[1])}"
        f" = score {_signed(explanation.check(j)[2])}"
        for j, role in classes
    )
    return f"The image and its contribution maps x·w_j, on one scale up to ±{limit:.3f}: {sums}."


def upload_steps_alt(steps: Sequence) -> str:
    """What :func:`upload_steps` draws: the steps in order."""
    return f"Your picture in {len(steps)} steps: " + ", then ".join(step.title for step in steps) + "."
