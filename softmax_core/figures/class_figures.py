"""The class experiment: every run the students in a lecture room trained, as one picture.

Test accuracy against the learning rate (log axis) and against the batch size (log axis), side by side
and sharing the accuracy axis: the chapter's hyperparameter lesson, done by the whole room at once.
Identical settings are one point, sized and labelled by how many students chose them; a diverged run
is a cross on the floor of the chart (it has no accuracy), its hover saying in which epoch and batch it
blew up. Pure functions: room entries and stored runs in, points and a figure out.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import plotly.graph_objects as go  # noqa: F401  (the type returned)
from plotly.subplots import make_subplots

from softmax_core.figures.style import apply_layout, in_colour_slot
from softmax_core.figures.training_figures import config_label, diverged_label

DIVERGED_FLOOR = 0.0  # where a diverged run is drawn: it has no accuracy to stand on


@dataclass(frozen=True)
class ClassPoint:
    key: str  # the stored run (same key = same settings and data)
    label: str  # the settings in one line
    lr: float
    batch_size: int
    test_acc: float | None  # after the last epoch; None for a diverged run
    diverged_at: tuple[int, int] | None
    diverged: bool
    students: int  # how many students chose these settings
    names: tuple[str, ...]  # the nicknames some of them typed (the others are anonymous)


def _last_accuracy(history) -> float | None:
    if not history:
        return None
    value = history[-1].test_acc
    return float(value) if value is not None and math.isfinite(value) else None


def class_points(entries: Iterable, runs: Mapping[str, object]) -> list[ClassPoint]:
    """One point per stored run that students chose: ``entries`` have ``key, who, nickname``;
    ``runs`` maps a key to its stored run (``config, history, status, diverged_at``). Entries whose run
    is not (yet) stored are left out: a training still running shows up when it is stored."""
    chosen: dict[str, dict[str, str]] = {}
    for entry in entries:
        if entry.key in runs:
            people = chosen.setdefault(entry.key, {})
            people[entry.who] = entry.nickname or people.get(entry.who, "")
    points = []
    for key, people in chosen.items():
        run = runs[key]
        diverged = run.status == "diverged"
        points.append(
            ClassPoint(
                key=key,
                label=config_label(run.config),
                lr=float(run.config.lr),
                batch_size=int(run.config.batch_size),
                test_acc=None if diverged else _last_accuracy(run.history),
                diverged_at=run.diverged_at,
                diverged=diverged,
                students=len(people),
                names=tuple(sorted({n for n in people.values() if n})),
            )
        )
    return sorted(points, key=lambda p: (p.lr, p.batch_size, p.key))


def as_plotly_text(typed: str) -> str:
    """Text a student typed, for a plotly label: plotly reads <b>, <i>, <span style>, <a href> in labels as
    markup, and turns the entities back into the characters, so a nickname shows as typed and styles nothing."""
    return html.escape(typed, quote=False)


def _hover(point: ClassPoint) -> str:
    outcome = diverged_label(point.diverged_at) if point.diverged else f"test accuracy {point.test_acc:.4f}"
    who = f"{point.students} student{'s' if point.students != 1 else ''}"
    if point.names:
        names = ", ".join(as_plotly_text(name) for name in point.names[:5])
        who += ": " + names + (" …" if len(point.names) > 5 else "")
    return f"{point.label}<br>{outcome}<br>{who}"


def _marker_size(students: int) -> float:
    return 12 + 6 * math.sqrt(students - 1)  # area grows with the count


def class_experiment_figure(points: Sequence[ClassPoint], height: int = 460) -> go.Figure:
    """Accuracy against learning rate and batch size (both log axes); crosses for diverged runs.

    Each marker's ``customdata`` is its run's key, so a click can open that run on other pages.
    """
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04)
    finished = [p for p in points if not p.diverged and p.test_acc is not None]
    diverged = [p for p in points if p.diverged]
    traces = []
    for slot, (group, name, symbol) in enumerate(((finished, "finished", "circle"), (diverged, "diverged", "x"))):
        panels = []
        for col, attr in ((1, "lr"), (2, "batch_size")):
            panels.append(
                dict(
                    type="scatter",
                    xaxis="x" if col == 1 else "x2",
                    yaxis="y" if col == 1 else "y2",
                    x=[getattr(p, attr) for p in group],
                    y=[DIVERGED_FLOOR if p.diverged else p.test_acc for p in group],
                    mode="markers+text",
                    text=[str(p.students) if p.students > 1 else "" for p in group],
                    textposition="top center",
                    marker=dict(symbol=symbol, size=[_marker_size(p.students) for p in group], line=dict(width=1)),
                    customdata=[p.key for p in group],
                    hovertext=[_hover(p) for p in group],
                    hoverinfo="text",
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                )
            )
        traces += in_colour_slot(panels, slot)  # finished and diverged keep one colour each in both panels
    fig.add_traces(traces)
    fig.update_xaxes(type="log", dtick=1, title_text="learning rate η", row=1, col=1)  # a label per decade
    fig.update_xaxes(type="log", dtick=1, title_text="batch size", row=1, col=2)
    fig.update_yaxes(title_text="test accuracy", range=[-0.05, 1.0], row=1, col=1)
    runs = sum(p.students for p in points)
    # A no-break space keeps each count with its noun when the title wraps on a narrow chart ("3" / "choices").
    settings = f"{len(points)}\u00a0setting{'s' if len(points) != 1 else ''}"
    choices = f"{runs}\u00a0choice{'s' if runs != 1 else ''}"
    title = f"The class's runs: {settings}, {choices}" if points else "The class's runs"
    return apply_layout(fig, title, height)


def class_experiment_alt(points: Sequence[ClassPoint], shown: int = 3) -> str:
    """The text alternative of :func:`class_experiment_figure`: how many settings and choices, the best
    settings by test accuracy, and how many diverged (and at which learning rates)."""
    if not points:
        return "The class's runs: none yet."
    choices = sum(p.students for p in points)
    finished = sorted(
        (p for p in points if not p.diverged and p.test_acc is not None), key=lambda p: (-p.test_acc, p.lr)
    )
    diverged = [p for p in points if p.diverged]
    parts = [
        f"The class's runs, test accuracy against learning rate and batch size: {len(points)} "
        f"setting{'s' if len(points) != 1 else ''} from {choices} choice{'s' if choices != 1 else ''}."
    ]
    if finished:
        best = "; ".join(
            f"{p.label}: {p.test_acc:.1%}" + (f" ({p.students} students)" if p.students > 1 else "")
            for p in finished[:shown]
        )
        parts.append(f"Best: {best}.")
    if diverged:
        rates = ", ".join(f"{lr:g}" for lr in sorted({p.lr for p in diverged}))
        parts.append(f"{len(diverged)} diverged (learning rate {rates}).")
    return " ".join(parts)
