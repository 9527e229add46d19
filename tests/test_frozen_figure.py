"""FrozenFigure: what st.plotly_chart sends is the same figure, computed once for every session."""

from __future__ import annotations

import importlib.util
import inspect
import json
from typing import NamedTuple

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import plotly.tools
import pytest

from dashboard.caches import frozen as frozen_module
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


def test_the_json_is_made_once_and_is_what_plotly_makes_of_the_dict():
    for fig in [*figures(), go.Figure(go.Scatter(x=[1, 2], y=[3, 4], uid="a"))]:
        spec = FrozenFigure(fig).to_dict()
        plain = frozen_module.PLOTLY_TO_JSON(json.loads(json.dumps(spec)), validate=False)  # plotly's own, on a copy
        assert pio.to_json(spec, validate=False) is spec.json  # what st.plotly_chart asks: the kept text
        assert spec.json == plain and '"uid"' not in plain


def test_everything_else_goes_to_plotlys_own_to_json():
    fig = figures()[1]
    spec = FrozenFigure(fig).to_dict()
    own = frozen_module.PLOTLY_TO_JSON
    assert own.__module__ == "plotly.io._json"
    assert pio.to_json(fig) == own(fig)
    assert pio.to_json(dict(spec), validate=False) == own(dict(spec), validate=False)
    assert pio.to_json(spec, validate=False, pretty=True) == own(spec, validate=False, pretty=True) != spec.json
    assert pio.to_json(spec) is not spec.json and pio.to_json(spec) == own(spec)  # validated: plotly's own call


def test_a_second_load_of_the_module_keeps_plotlys_own_to_json(monkeypatch):
    """As a reload (Streamlit's file watcher, in development) would: the new copy wraps plotly's function, not
    the first copy's wrapper. Loaded under another name, and plotly's attribute put back, so nothing else sees it."""
    monkeypatch.setattr(pio, "to_json", pio.to_json)  # restored after the test
    spec = importlib.util.spec_from_file_location("frozen_again", frozen_module.__file__)
    again = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(again)
    assert pio.to_json is again.to_json_of_frozen
    assert again.PLOTLY_TO_JSON is frozen_module.PLOTLY_TO_JSON and again.PLOTLY_TO_JSON.__module__ == "plotly.io._json"


def test_streamlit_asks_plotly_for_the_json_as_the_fast_path_expects():
    """st.plotly_chart 1.67 turns the figure into its dict, then calls plotly.io.to_json(dict, validate=False);
    if Streamlit changes that, the kept JSON is no longer used (the charts stay right, only slower)."""
    from streamlit.elements.plotly_chart import PlotlyMixin

    source = inspect.getsource(PlotlyMixin.plotly_chart)
    assert "plotly.tools.return_figure_from_figure_or_data(" in source
    assert "plotly.io.to_json(figure, validate=False)" in source
    fig = FrozenFigure(figures()[1])
    assert plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True) is fig.to_dict()
