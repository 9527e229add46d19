"""FrozenFigure: what st.plotly_chart sends is the same figure, computed once for every session."""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import plotly.tools
import pytest

from dashboard.caches.frozen import FrozenFigure, frozen
from softmax_core.figures import inside_figures, loss_figures, training_figures
from softmax_core.training import EpochMetrics

pytestmark = pytest.mark.unit


def sent(fig) -> dict:
    """The spec st.plotly_chart 1.67 sends (plotly_chart.py: return_figure_from_figure_or_data, then to_json),
    without empty settings (``title: {}``), which a copy of a figure leaves out and plotly reads as unset."""
    figure = plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True)
    return _set_only(json.loads(pio.to_json(figure, validate=False)))


def _set_only(value):
    if isinstance(value, dict):
        return {k: _set_only(v) for k, v in value.items() if v != {}}
    if isinstance(value, list):
        return [_set_only(v) for v in value]
    return value


def figures():
    history = tuple(EpochMetrics(e, 1 / e, 0.5 + e / 100, 0.6, 0.1) for e in range(1, 6))
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(784, 10)).astype(np.float32)
    return [
        training_figures.training_curves(history, epochs=10, title="curves"),
        loss_figures.one_loss_figure("Huber", 2.5, 0.0, 1.0, 4.0),
        inside_figures.weight_templates(weights, np.zeros(10, np.float32), [str(k) for k in range(10)]),
    ]


def test_the_frozen_figure_sends_the_same_spec_with_arrays_in_binary():
    for fig in figures():
        assert sent(FrozenFigure(fig)) == sent(fig)
    templates = sent(FrozenFigure(figures()[2]))
    assert "bdata" in json.dumps(templates["data"])  # numpy pictures go as plotly's typed arrays, as before


def test_the_dict_is_made_once_and_a_copy_is_an_ordinary_figure():
    fig = FrozenFigure(figures()[0])
    assert fig.to_dict() is fig.to_dict()
    copy = go.Figure(fig)  # presenter mode enlarges text on a copy
    assert type(copy) is go.Figure and copy.layout.title.text == "curves"


def test_frozen_reaches_figures_inside_tuples_and_named_tuples():
    class Pair(NamedTuple):
        fig: object
        label: str

    a, b = figures()[:2]
    out = frozen((Pair(a, "x"), b, "not a figure"))
    assert isinstance(out[0], Pair) and isinstance(out[0].fig, FrozenFigure) and out[0].label == "x"
    assert isinstance(out[1], FrozenFigure) and out[2] == "not a figure"
    assert frozen(out[1]) is out[1]


def test_frozen_takes_a_new_figure_as_it_is_and_sends_what_it_would_have():
    built, reference = figures()[1], figures()[1]
    out = frozen(built)
    assert out is built and type(out) is FrozenFigure
    assert sent(out) == sent(reference)
    assert out.to_dict() is out.to_dict()
