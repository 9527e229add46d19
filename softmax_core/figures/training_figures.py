r"""Figures for training on Fashion-MNIST: the chapter's curves, predictions, confusion matrix.

Every builder is a pure function of plain results (a history of per-epoch
metrics, a confusion matrix, images, probabilities), so tests check the traces
without a browser or a trained model. A history is any sequence of objects with
``epoch, train_loss, train_acc, test_acc`` (``softmax_core.training.EpochMetrics``).

No colours of our own: lines are told apart by the theme's palette plus dash and
marker symbol; the confusion matrix and the images use the theme's sequential
scale (no colour scale of ours), so in dark mode they are dark with light ink,
like the cross-entropy heatmap, instead of white blocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from softmax_core.figures.style import FONT_SIZE, LEGEND_BELOW, apply_layout
from softmax_core.linear_ceiling import ceiling_config

# (attribute, legend name, dash, marker symbol), as d2l's Animator labels them
CURVES = (
    ("train_loss", "train loss", "solid", "circle"),
    ("train_acc", "train acc", "dash", "square"),
    ("test_acc", "test acc", "dot", "diamond"),
)
METRIC_NAMES = {attr: name for attr, name, _, _ in CURVES}
# Confusion cells: a fixed size (plotly would shrink the numbers to ~6 px on a phone), and small enough that a
# label of CELL_CHARS digits (half an em each) fits the ~21 px cells of a 390 px wide phone (18 px at 360 px).
CELL_FONT_SIZE = 12
CELL_CHARS = 3
GRID_TITLE_SIZE = FONT_SIZE  # a prediction grid's titles: readable on a projector, four side by side on a phone


def _finite_or_none(values) -> list[float | None]:
    """Plotly draws a gap for None; nan/inf from a diverged run must not break the JSON."""
    return [float(v) if v is not None and math.isfinite(v) else None for v in values]


def percent(value: float) -> str:
    """A fraction as a screen reader reads it: 0.8312 -> "83.1 %"; nan or inf -> "not a number"."""
    return f"{100 * value:.1f} %" if math.isfinite(value) else "not a number"


def number(value: float) -> str:
    """A loss in a text alternative: three significant digits; nan or inf -> "not a number"."""
    return f"{value:.3g}" if math.isfinite(value) else "not a number"


def _span(values: Sequence[float], show) -> str:
    """'first to last' of the finite values (one value: itself), as ``show`` writes them."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "no finite value"
    return show(finite[0]) if len(finite) == 1 else f"{show(finite[0])} to {show(finite[-1])}"


def _listed(items: Sequence[str], most: int) -> str:
    """The first ``most`` items, then how many more: a text alternative stays short."""
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def reference_line(fig: go.Figure, reference: tuple[float, str] | None, first: float, last: float) -> None:
    """A dotted horizontal line, e.g. the best linear model's test accuracy, in the theme's next colour."""
    if reference is None or not math.isfinite(reference[0]):
        return
    value, label = reference
    fig.add_trace(
        go.Scatter(
            x=[first, last],
            y=[value, value],
            name=label,
            mode="lines",
            line=dict(dash="dot", width=2),
            hovertemplate=f"{label}<extra></extra>",
        )
    )


def training_curves(
    history: Sequence,
    epochs: int | None = None,
    title: str | None = None,
    height: int = 380,
    reference: tuple[float, str] | None = None,
) -> go.Figure:
    """Train loss, train accuracy and test accuracy per epoch, as d2l's ``Animator`` draws them.

    ``epochs`` fixes the x range to ``[1, epochs]`` so a run in progress grows
    into a frame that does not rescale every epoch. ``reference`` = (value, label)
    adds a dotted line, e.g. the best linear model's test accuracy.
    """
    fig = go.Figure()
    x = [m.epoch for m in history]
    for attr, name, dash, symbol in CURVES:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=_finite_or_none(getattr(m, attr) for m in history),
                name=name,
                mode="lines+markers",
                line=dict(dash=dash, width=3),
                marker=dict(symbol=symbol, size=9),
            )
        )
    last = max([epochs or 0] + x + [1])
    reference_line(fig, reference, 0.7, last + 0.3)
    fig.update_xaxes(title_text="epoch", range=[0.7, last + 0.3], dtick=_epoch_dtick(last))
    if any(v is not None for trace in fig.data for v in trace.y):
        fig.update_yaxes(rangemode="tozero")
    else:  # nothing to scale to yet: show the accuracy range rather than plotly's arbitrary one
        fig.update_yaxes(range=[0, 1])
    return apply_layout(fig, title, height)


def training_curves_alt(
    history: Sequence, epochs: int | None = None, reference: tuple[float, str] | None = None
) -> str:
    """The text alternative of :func:`training_curves`: each curve's first and last value."""
    done = len(history)
    if not done:
        planned = f" over {epochs} epochs" if epochs else ""
        return f"Training curves, empty: no epoch yet; train loss, train and test accuracy appear here{planned}."
    of = f" of {epochs}" if epochs and epochs != done else ""
    plural = "s" if (epochs if of else done) != 1 else ""
    spans = [
        f"{name} {_span([getattr(m, attr) for m in history], number if attr == 'train_loss' else percent)}"
        for attr, name, _, _ in CURVES
    ]
    text = f"Training curves over {done}{of} epoch{plural}: " + ", ".join(spans)
    if reference is not None and math.isfinite(reference[0]):
        text += f"; dotted line: {reference[1]} at {percent(reference[0])}"
    return text + "."


def history_table(history: Sequence) -> list[dict[str, float]]:
    """The numbers behind :func:`training_curves`, one row per epoch."""
    return [{"epoch": int(m.epoch), **{name: float(getattr(m, attr)) for attr, name, _, _ in CURVES}} for m in history]


def _epoch_dtick(epochs: int) -> int:
    """Whole epochs on the x axis, at most about ten ticks."""
    return max(1, math.ceil(epochs / 10))


@dataclass(frozen=True)
class LabelledHistory:
    """One stored run on the compare chart: a legend label and its history."""

    label: str
    history: Sequence
    diverged: str | None = None  # where a diverged run blew up (diverged_label): marked at its last point


def compare_curves(
    runs: Sequence[LabelledHistory],
    metric: str = "test_acc",
    height: int = 360,
    reference: tuple[float, str] | None = None,
) -> go.Figure:
    """One metric of several runs overlaid. Call it once per metric with the same run
    order: the theme colours traces by position, so each run keeps its colour across charts."""
    if metric not in METRIC_NAMES:
        raise ValueError(f"metric must be one of {', '.join(METRIC_NAMES)}, not {metric!r}")
    fig = go.Figure()
    symbols = ("circle", "square", "diamond", "triangle-up", "x", "cross", "star", "hexagon")
    dashes = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
    for i, run in enumerate(runs):
        y = _finite_or_none(getattr(m, metric) for m in run.history)
        symbol = [symbols[i % len(symbols)]] * len(y)
        text = [""] * len(y)
        last = max((k for k, v in enumerate(y) if v is not None), default=None)
        if run.diverged and last is not None:  # not by colour alone: a cross and the words at its last point
            symbol[last], text[last] = "x", f"✗ {run.diverged}"
        fig.add_trace(
            go.Scatter(
                x=[m.epoch for m in run.history],
                y=y,
                name=run.label,
                mode="lines+markers+text" if any(text) else "lines+markers",
                line=dict(dash=dashes[i % len(dashes)], width=3),
                marker=dict(symbol=symbol, size=8),
                text=text,
                textposition="top left",
            )
        )
    last = max([1] + [m.epoch for run in runs for m in run.history])
    reference_line(fig, reference, 1, last)
    fig.update_xaxes(title_text="epoch", dtick=_epoch_dtick(last))
    fig.update_yaxes(title_text=METRIC_NAMES[metric], rangemode="tozero" if metric == "train_loss" else "normal")
    fig = apply_layout(fig, METRIC_NAMES[metric], height)
    fig.update_layout(legend=LEGEND_BELOW | dict(orientation="v"), margin=dict(b=10))
    return fig


def compare_curves_alt(
    runs: Sequence[LabelledHistory], metric: str = "test_acc", reference: tuple[float, str] | None = None
) -> str:
    """The text alternative of :func:`compare_curves`: each run's first and last value (five runs at most)."""
    show = number if metric == "train_loss" else percent
    described = []
    for run in runs:
        values = [getattr(m, metric) for m in run.history]
        span = f"{_span(values, show)} over {len(values)} epochs" if values else "no finished epoch"
        described.append(f"{run.label}: {span}" + (f", {run.diverged}" if run.diverged else ""))
    text = f"{METRIC_NAMES[metric].capitalize()} per epoch of {len(runs)} run{'s' if len(runs) != 1 else ''}"
    text += ": " + _listed(described, 5) if described else ""
    if reference is not None and math.isfinite(reference[0]):
        text += f"; dotted line: {reference[1]} at {percent(reference[0])}"
    return text + "."


def compare_table(runs: Sequence[LabelledHistory], metric: str = "test_acc") -> list[dict[str, object]]:
    """The numbers behind :func:`compare_curves`: one row per epoch, one column per run (None: no value)."""
    columns = []
    for run in runs:
        label = run.label
        while label in columns:  # two runs with one label keep two columns
            label += " (again)"
        columns.append(label)
    last = max([0] + [m.epoch for run in runs for m in run.history])
    by_epoch = [{m.epoch: float(getattr(m, metric)) for m in run.history} for run in runs]
    return [
        {"epoch": epoch} | {column: values.get(epoch) for column, values in zip(columns, by_epoch)}
        for epoch in range(1, last + 1)
    ]


def final_gap(a: Sequence, b: Sequence) -> dict[str, float]:
    """How far apart two runs end: last-epoch metric of ``a`` minus that of ``b``."""
    if not a or not b:
        raise ValueError("both runs need at least one finished epoch")
    return {attr: float(getattr(a[-1], attr)) - float(getattr(b[-1], attr)) for attr, *_ in CURVES}


def _as_matrix(confusion) -> np.ndarray:
    matrix = np.asarray(confusion, dtype=np.int64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a confusion matrix is square, got shape {matrix.shape}")
    return matrix


def per_class_accuracy(confusion) -> np.ndarray:
    r"""Accuracy on each true class: :math:`C_{kk} / \sum_j C_{kj}` (rows are true classes).

    A class with no test images has no accuracy: nan.
    """
    matrix = _as_matrix(confusion)
    totals = matrix.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(matrix) / np.maximum(totals, 1), np.nan)


def cell_label(value, fraction: bool = False) -> str:
    """A confusion cell's text, at most CELL_CHARS characters, so it fits a cell on a phone; the hover is exact.

    Counts from 1,000 read 1k, 2k, ... 99k, rounded (a Fashion-MNIST class has 1,000 test images: a perfect
    class reads 1k), larger ones 1e5, ...; fractions drop the leading zero (.85), and 1 and 0 read 1 and 0.
    """
    if fraction:
        if value == 0 or value >= 0.995:
            return str(round(value))
        text = f"{value:.2f}"
        return text.removeprefix("0")
    count = int(value)
    if count < 1_000:
        return str(count)
    if count < 99_500:
        return f"{int(count / 1_000 + 0.5)}k"  # half up: 1,500 reads 2k
    mantissa, exponent = f"{count:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def confusion_heatmap(confusion, class_names: Sequence[str], normalize: bool = False, height: int = 560) -> go.Figure:
    """Counts (or each row's fractions) of true class (rows) against predicted class (columns).

    With ``normalize`` each row sums to 1, so the diagonal reads as per-class accuracy.
    """
    matrix = _as_matrix(confusion)
    if len(class_names) != matrix.shape[0]:
        raise ValueError(f"{len(class_names)} class names for a {matrix.shape[0]}x{matrix.shape[0]} matrix")
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        z = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
        hover = "true %{y}<br>predicted %{x}<br>fraction of row %{z:.3f}<extra></extra>"
    else:
        z = matrix
        hover = "true %{y}<br>predicted %{x}<br>%{z} images<extra></extra>"
    fig = go.Figure(
        go.Heatmap(
            z=z.tolist(),
            x=list(class_names),
            y=list(class_names),
            text=[[cell_label(v, normalize) for v in row] for row in z.tolist()],
            texttemplate="%{text}",
            textfont=dict(size=CELL_FONT_SIZE),
            hovertemplate=hover,
            showscale=False,
            xgap=1,
            ygap=1,
        )
    )
    fig.update_xaxes(title_text="predicted class", tickangle=-40, side="bottom")
    fig.update_yaxes(title_text="true class", autorange="reversed")
    return apply_layout(fig, None, height)


def confusion_alt(confusion, class_names: Sequence[str], normalize: bool = False) -> str:
    """The text alternative of :func:`confusion_heatmap`: how many are right, and the three commonest mistakes."""
    matrix = _as_matrix(confusion)
    total, right = int(matrix.sum()), int(np.trace(matrix))
    shown = "fractions of each true class" if normalize else "counts"
    text = (
        f"Confusion matrix ({shown}), true class in rows, predicted class in columns: "
        f"{right:,} of {total:,} test images on the diagonal"
    )
    text += f" ({percent(right / total)} right)" if total else ""
    off = matrix - np.diag(np.diag(matrix))
    order = [int(i) for i in np.argsort(-off, axis=None, kind="stable")[:3] if off.flat[i] > 0]
    n = len(class_names)
    mistakes = [f"{class_names[i // n]} taken for {class_names[i % n]} {int(off.flat[i]):,} times" for i in order]
    return text + (f"; the commonest mistakes: {', '.join(mistakes)}." if mistakes else "; no mistakes.")


def confusion_table(confusion, class_names: Sequence[str]) -> list[dict[str, object]]:
    """The numbers behind the confusion matrix and the per-class bars: one row per true class."""
    matrix = _as_matrix(confusion)
    accuracy = per_class_accuracy(matrix)
    return [
        {"true class": name, **{predicted: int(v) for predicted, v in zip(class_names, row)}, "accuracy": float(a)}
        for name, row, a in zip(class_names, matrix.tolist(), accuracy)
    ]


def per_class_accuracy_bars(confusion, class_names: Sequence[str], height: int = 420) -> go.Figure:
    """Horizontal bars of per-class test accuracy, with the overall accuracy as a dashed line.

    The overall line is a trace, not a shape, so the theme colours it (a shape
    would default to a dark line that vanishes in dark mode).
    """
    matrix = _as_matrix(confusion)
    accuracy = per_class_accuracy(matrix)
    names = list(class_names)
    fig = go.Figure(
        go.Bar(
            x=_finite_or_none(accuracy),
            y=names,
            orientation="h",
            name="per class",
            text=[f"{a:.1%}" if math.isfinite(a) else "–" for a in accuracy],
            textposition="auto",
            insidetextanchor="start",  # clear of the overall line
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    )
    total = matrix.sum()
    if total:
        overall = float(np.trace(matrix) / total)
        fig.add_trace(
            go.Scatter(
                x=[overall, overall],
                y=[names[0], names[-1]],
                mode="lines",
                line=dict(dash="dash", width=2),
                name=f"overall {overall:.1%}",
                hovertemplate=f"overall accuracy {overall:.1%}<extra></extra>",
            )
        )
    fig.update_xaxes(title_text="test accuracy", range=[0, 1.05], tickformat=".0%")
    fig.update_yaxes(autorange="reversed")
    return apply_layout(fig, None, height)


def per_class_accuracy_alt(confusion, class_names: Sequence[str]) -> str:
    """The text alternative of :func:`per_class_accuracy_bars`: every class's accuracy, best first."""
    matrix = _as_matrix(confusion)
    accuracy = per_class_accuracy(matrix)
    order = sorted(range(len(accuracy)), key=lambda k: -accuracy[k] if math.isfinite(accuracy[k]) else math.inf)
    classes = ", ".join(
        f"{class_names[k]} {percent(accuracy[k]) if math.isfinite(accuracy[k]) else 'no test image'}" for k in order
    )
    total = matrix.sum()
    overall = f", overall {percent(np.trace(matrix) / total)} (dashed line)" if total else ""
    return f"Test accuracy per class, best first{overall}: {classes}."


def _image_heatmap(image, name: str = "") -> go.Heatmap:
    return go.Heatmap(
        z=np.asarray(image, dtype=np.uint8),  # 0..255 intensities, sent as one byte each
        coloraxis="coloraxis",
        name=name,
        hovertemplate="row %{y}, col %{x}: %{z}<extra></extra>",
    )


def _image_axes(fig: go.Figure) -> None:
    fig.update_xaxes(showticklabels=False, ticks="", showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(
        showticklabels=False,
        ticks="",
        showgrid=False,
        zeroline=False,
        autorange="reversed",
        scaleanchor="x",
        constrain="domain",
    )
    fig.update_layout(coloraxis=dict(cmin=0, cmax=255, showscale=False))  # the theme's sequential scale


def prediction_title(true_name: str, predicted_name: str) -> str:
    """d2l's ``predict_ch3`` title: true label over predicted, a cross when they differ."""
    mark = "" if true_name == predicted_name else " ✗"
    return f"{true_name}<br><i>{predicted_name}</i>{mark}"


def prediction_grid(
    images,
    true_labels,
    predicted_labels,
    class_names: Sequence[str],
    columns: int = 4,
    indices: Sequence[int] | None = None,
) -> go.Figure:
    """Test images titled with the true label and (in italics) the predicted one.

    Four to a row: the longest titles ("Ankle boot ✗", "T-shirt/top") fit side by side on a phone.

    ``images`` is (n, 28, 28) with 0..255 intensities; ``indices`` are the
    test-set positions shown in the hover text (default 0..n-1).
    """
    images = np.asarray(images)
    n = len(images)
    if n == 0:
        raise ValueError("no images to show")
    if not (len(true_labels) == len(predicted_labels) == n):
        raise ValueError("need one true and one predicted label per image")
    indices = list(range(n)) if indices is None else list(indices)
    rows = math.ceil(n / columns)
    titles = [prediction_title(class_names[int(t)], class_names[int(p)]) for t, p in zip(true_labels, predicted_labels)]
    fig = make_subplots(
        rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.02, vertical_spacing=0.3 / rows + 0.04
    )
    for i, image in enumerate(images):
        fig.add_trace(_image_heatmap(image, name=f"test image {indices[i]}"), row=i // columns + 1, col=i % columns + 1)
    _image_axes(fig)
    for annotation in fig.layout.annotations:
        annotation.font = dict(size=GRID_TITLE_SIZE)  # the class names are the point: as large as a phone allows
    apply_layout(fig, None, 190 * rows + 30)
    fig.update_layout(margin=dict(l=5, r=5, t=50, b=5))
    return fig


def prediction_grid_alt(
    true_labels, predicted_labels, class_names: Sequence[str], indices: Sequence[int] | None = None
) -> str:
    """The text alternative of :func:`prediction_grid`: how many images, how many wrong, and which (five at most)."""
    n = len(true_labels)
    indices = list(range(n)) if indices is None else [int(i) for i in indices]
    wrong = [
        f"#{i} {class_names[int(t)]} taken for {class_names[int(p)]}"
        for i, t, p in zip(indices, true_labels, predicted_labels)
        if int(t) != int(p)
    ]
    text = f"{n} test image{'s' if n != 1 else ''}, each titled with its true and predicted class: "
    text += f"{n - len(wrong)} right, {len(wrong)} wrong"
    return text + (f" ({_listed(wrong, 5)})." if wrong else ".")


def prediction_table(
    true_labels, predicted_labels, class_names: Sequence[str], indices: Sequence[int]
) -> list[dict[str, object]]:
    """The labels behind :func:`prediction_grid`, one row per image."""
    return [
        {
            "test image": int(i),
            "true class": class_names[int(t)],
            "predicted": class_names[int(p)],
            "right": int(t) == int(p),
        }  # fmt: skip
        for i, t, p in zip(indices, true_labels, predicted_labels)
    ]


def image_figure(image, title: str | None = None, height: int = 320) -> go.Figure:
    """One 28x28 image in grey, square pixels."""
    fig = go.Figure(_image_heatmap(image))
    _image_axes(fig)
    return apply_layout(fig, title, height)


def image_alt(image, title: str) -> str:
    """The text alternative of :func:`image_figure`: its title, size and how much of it is ink."""
    pixels = np.asarray(image)
    inked = float((pixels > 0).mean()) if pixels.size else 0.0
    return f"{title}: a {pixels.shape[0]} × {pixels.shape[1]} grey image, {percent(inked)} of its pixels not blank."


def class_bars(
    values: np.ndarray, class_names: Sequence[str], true_label: int | None, text: list[str], hover: str
) -> go.Bar:
    """One horizontal bar per class, labelled outside; the true class opaque and named, the others faded."""
    names = [f"<b>{name} (true)</b>" if k == true_label else name for k, name in enumerate(class_names)]
    return go.Bar(
        x=values.tolist(),
        y=names,
        orientation="h",
        marker=dict(opacity=[1.0 if k == true_label else 0.55 for k in range(len(values))]),
        text=text,
        textposition="outside",
        textfont=dict(size=FONT_SIZE - 1),
        constraintext="none",  # plotly would shrink the values to the bar's thickness, below the class names
        cliponaxis=False,
        hovertemplate=hover + "<extra></extra>",
    )


ROW_PX = 28  # px per class on a bar chart: a label at presenter size (x1.3) clears its neighbours
AXIS_PX = 90  # the x axis' ticks and title under a bar chart, and the margins


def bars_height(height: int, classes: int) -> int:
    """At least ``ROW_PX`` per class: ten values at presenter size ran into each other at 330 px."""
    return max(height, ROW_PX * classes + AXIS_PX)


def label_every_class(fig: go.Figure, bar: go.Bar) -> None:
    """One tick label per class on the category axis: plotly's automatic ticks skip every other one
    when the labels are large (presenter mode), and the skipped ones were the top classes."""
    fig.update_yaxes(tickmode="array", tickvals=list(bar.y), ticktext=list(bar.y), autorange="reversed")


def probability_bars(probs, class_names: Sequence[str], true_label: int | None = None, height: int = 380) -> go.Figure:
    r"""The softmax output :math:`\hat{\mathbf{y}}` for one image, one bar per class.

    The true class is drawn opaque and named in the axis; the others are faded,
    so the highlight works in any theme without a colour of our own.
    """
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    if len(p) != len(class_names):
        raise ValueError(f"{len(p)} probabilities for {len(class_names)} classes")
    bar = class_bars(p, class_names, true_label, [f"{v:.1%}" for v in p], "%{y}: %{x:.4f}")
    fig = go.Figure(bar)
    fig.update_xaxes(title_text="softmax probability", range=[0, 1.12], tickformat=".0%")
    label_every_class(fig, bar)
    return apply_layout(fig, None, bars_height(height, len(p)), showlegend=False)


def probability_bars_alt(probs, class_names: Sequence[str], true_label: int | None = None) -> str:
    """The text alternative of :func:`probability_bars`: the classes at 1 % or more, largest first."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    order = sorted(range(len(p)), key=lambda k: -p[k])
    shown = [k for k in order if p[k] >= 0.01] or order[:1]
    named = [f"{class_names[k]}{' (true class)' if k == true_label else ''} {percent(p[k])}" for k in shown]
    rest = ", the rest below 1 %" if len(shown) < len(p) else ""
    return f"Softmax probabilities: {', '.join(named)}{rest}."


def probability_table(probs, class_names: Sequence[str]) -> list[dict[str, object]]:
    """The numbers behind :func:`probability_bars`, one row per class."""
    return [{"class": name, "probability": float(v)} for name, v in zip(class_names, np.asarray(probs).reshape(-1))]


def config_label(config, status: str = "finished") -> str:
    """A run's settings in one short line, for legends and menus (init std only when not the chapter's)."""
    if config.impl == "lbfgs":  # penalty and iterations are its settings; "best linear" is the one rule's run only
        label = (
            f"L-BFGS{' (best linear)' if config == ceiling_config() else ''} · L2 {config.l2:g} · {config.epochs} it"
        )
        return label if status == "finished" else f"{label} ({status})"
    label = f"{config.impl} · lr {config.lr:g} · batch {config.batch_size} · {config.epochs} ep · seed {config.seed}"
    if config.init_std != 0.01:
        label += f" · init std {config.init_std:g}"
    return label if status == "finished" else f"{label} ({status})"


def scratch_concise_pairs(runs: Sequence) -> list[tuple]:
    """(scratch run, concise run) pairs whose settings differ only in the implementation.

    Same seed means the same initial weights and batch order, so any gap
    between the two is float rounding plus the fused log-softmax of ``nn.CrossEntropyLoss``.
    """

    def settings(config):
        return (config.lr, config.batch_size, config.epochs, config.seed, config.init_std)

    concise = {settings(run.config): run for run in runs if run.config.impl == "concise"}
    return [
        (run, concise[settings(run.config)])
        for run in runs
        if run.config.impl == "scratch" and settings(run.config) in concise
    ]


# ---------------------------------------------------------------- diverged runs and epoch times


def diverged_label(diverged_at: tuple[int, int] | None) -> str:
    """Where a diverged run blew up, for tables and headers: never ``None``."""
    if diverged_at is None:
        return "diverged (batch not recorded)"
    epoch, batch = diverged_at
    return f"diverged in epoch {int(epoch)}, batch {int(batch)}"


def run_outcome(status: str, epochs_done: int, diverged_at: tuple[int, int] | None = None) -> str:
    """One short cell: how a stored run ended."""
    if status == "diverged":
        return diverged_label(diverged_at)
    return f"{status}, {epochs_done} epoch{'s' if epochs_done != 1 else ''}"


def run_row(
    label: str, history: Sequence, train_seconds: float, status: str, diverged_at: tuple[int, int] | None = None
) -> dict[str, object]:
    """A row of the compare table: metrics of the last finished epoch as text ("–" where there is none)."""
    last = history[-1] if history else None

    def cell(attr: str) -> str:
        value = getattr(last, attr) if last is not None else None
        return f"{value:.4f}" if value is not None and math.isfinite(value) else "–"

    return {
        "run": label,
        "outcome": run_outcome(status, len(history), diverged_at),
        "train loss": cell("train_loss"),
        "train acc": cell("train_acc"),
        "test acc": cell("test_acc"),
        "seconds": f"{train_seconds:.1f}",
    }


def blow_up_batch(
    batch_losses: Sequence[float], diverged_at: tuple[int, int] | None, batches_per_epoch: int | None
) -> int:
    """The batch (counted from the start) whose loss was no longer a number.

    The store keeps the finite losses only, so without a non-finite entry it is the batch after the last one.
    """
    if diverged_at is not None and batches_per_epoch:
        epoch, batch = diverged_at
        return (int(epoch) - 1) * int(batches_per_epoch) + int(batch)
    for i, value in enumerate(batch_losses, start=1):
        if not math.isfinite(value):
            return i
    return len(batch_losses) + 1


def batch_loss_figure(
    batch_losses: Sequence[float],
    diverged_at: tuple[int, int] | None = None,
    batches_per_epoch: int | None = None,
    height: int = 360,
) -> go.Figure:
    """The mean loss of every batch up to the blow-up, the blow-up batch marked above the plot.

    A diverged run has no finished epoch, so the per-epoch curves are empty: this is
    what happened instead. Non-finite losses (inf, nan) cannot be drawn. The axes fit the
    data: the x axis runs to the blow-up batch, the y axis from 0 to above the largest loss
    (log scale when the losses span more than a factor of 100), so even a single batch reads right.
    """
    losses = [float(v) for v in batch_losses]
    if not losses:
        raise ValueError("no batch losses to draw")
    x = list(range(1, len(losses) + 1))
    finite = _finite_or_none(losses)
    fig = go.Figure(
        go.Scatter(
            x=x,
            y=finite,
            mode="lines+markers",
            name="mean loss of the batch",
            line=dict(width=3),
            marker=dict(size=9),
            hovertemplate="batch %{x}: loss %{y:.4g}<extra></extra>",
        )
    )
    blow_up = blow_up_batch(losses, diverged_at, batches_per_epoch)
    positive = [v for v in finite if v is not None and v > 0]
    if positive and max(positive) / min(positive) > 100:
        fig.update_yaxes(type="log")
    elif positive:
        fig.update_yaxes(range=[0, max(positive) * 1.15])
    if batches_per_epoch:  # a dotted grid line at every epoch start beyond the first
        for start in range(batches_per_epoch + 1, blow_up + 1, batches_per_epoch):
            fig.add_vline(x=start - 0.5, line_dash="dot", line_width=1)
    fig.add_annotation(x=blow_up, y=1, xref="x", yref="paper", yanchor="bottom", showarrow=False,
                       text=f"✗ batch {blow_up}: inf or nan")  # fmt: skip
    title = "Loss per batch until it " + ("blew up: " + diverged_label(diverged_at) if diverged_at else "blew up")
    fig.update_xaxes(
        title_text="batch (counted from the start)", range=[0.5, blow_up + 0.5], dtick=_epoch_dtick(blow_up)
    )
    fig.update_yaxes(title_text="mean cross-entropy of the batch")
    return apply_layout(fig, title, height, showlegend=False)


def batch_loss_alt(
    batch_losses: Sequence[float], diverged_at: tuple[int, int] | None = None, batches_per_epoch: int | None = None
) -> str:
    """The text alternative of :func:`batch_loss_figure`: the finite losses' range and where the run blew up."""
    losses = [float(v) for v in batch_losses]
    finite = [v for v in losses if math.isfinite(v)]
    blow_up = blow_up_batch(losses, diverged_at, batches_per_epoch)
    where = diverged_label(diverged_at) if diverged_at else "diverged"
    if len(finite) > 1:
        drawn = (
            f"{len(finite)} finite batch losses, the first {number(finite[0])}, "
            f"lowest {number(min(finite))}, highest {number(max(finite))}"
        )
    else:
        drawn = f"one finite batch loss, {number(finite[0])}" if finite else "no finite batch loss"
    return f"Loss per batch until the run blew up ({where}): {drawn}; batch {blow_up}'s loss was inf or nan."


def recent_epoch_seconds(histories: Sequence[Sequence], limit: int = 30) -> list[float]:
    """Seconds of the most recent epochs, newest run first (histories in that order), at most ``limit``."""
    seconds = []
    for history in histories:
        for metrics in reversed(list(history)):
            value = getattr(metrics, "seconds", None)
            if value is not None and math.isfinite(value) and value > 0:
                seconds.append(float(value))
            if len(seconds) >= limit:
                return seconds
    return seconds


def epoch_time_sentence(seconds: Sequence[float], epochs: int) -> str:
    """What this server measured per epoch (training plus test pass), and what ``epochs`` epochs take at that pace."""
    if not seconds:
        return "This server has not timed an epoch yet: the first run shows how long one takes here."
    values = sorted(seconds)
    median = float(np.median(values))
    if len(values) == 1:
        measured = f"the last epoch took {median:.2g} s (training plus the test pass)"
    else:
        spread = f"{values[0]:.2g} to {values[-1]:.2g} s" if values[0] != values[-1] else f"{median:.2g} s"
        measured = (
            f"the last {len(values)} epochs took {spread} each (median {median:.2g} s, training plus the test pass)"
        )
    total = f"{epochs} epochs take" if epochs != 1 else "1 epoch takes"
    return f"On this server {measured}, so {total} about {epochs * median:.2g} s."
