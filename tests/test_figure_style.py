"""The shared figure style: projector-sized text on every subplot, and no colours of ours."""

import json

import plotly.graph_objects as go
import pytest
import torch
from plotly.subplots import make_subplots

from softmax_core.figures import softmax_figures
from softmax_core.figures.style import FONT_SIZE, apply_layout, projector_font_layout, projector_fonts

pytestmark = pytest.mark.unit


def test_every_subplot_axis_and_the_legend_get_projector_sizes():
    fig = make_subplots(rows=2, cols=2)
    for row in (1, 2):
        for col in (1, 2):
            fig.add_trace(go.Scatter(x=[0, 1], y=[1, 0]), row=row, col=col)
    fig.add_annotation(text="note", x=0, y=0)
    apply_layout(fig, "title", height=500)
    axes = [fig.layout[name] for name in fig.layout if name.startswith(("xaxis", "yaxis"))]
    assert len(axes) == 8
    assert all(axis.tickfont.size == FONT_SIZE - 1 and axis.title.font.size == FONT_SIZE for axis in axes)
    assert fig.layout.legend.font.size == FONT_SIZE - 1
    assert fig.layout.annotations[0].font.size == FONT_SIZE - 1
    assert fig.layout.height == 500


def test_style_sets_no_colour():
    fig = apply_layout(go.Figure(go.Scatter(x=[0], y=[0])), "t")
    layout = fig.to_plotly_json()["layout"]
    layout.pop("template")  # plotly's default; Streamlit's theme replaces it in the page
    layout = json.dumps(layout)
    assert "color" not in layout and "bgcolor" not in layout


def test_palette_size_is_the_number_of_theme_colours_in_both_modes():
    from pathlib import Path

    import tomllib

    from softmax_core.figures.style import PALETTE_SIZE

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    for mode in ("light", "dark"):
        assert len(config["theme"][mode]["chartCategoricalColors"]) == PALETTE_SIZE


def test_in_colour_slot_puts_every_trace_on_the_same_theme_colour():
    from softmax_core.figures.style import PALETTE_SIZE, drawn_traces, in_colour_slot

    for slot in range(3):
        traces = in_colour_slot([dict(type="scatter", x=[0, 1], y=[0, 1], name=n) for n in "abc"], slot)
        positions = [i for i, t in enumerate(traces) if t["name"]]
        assert [i % PALETTE_SIZE for i in positions] == [slot] * 3
        fig = go.Figure(data=traces)
        assert [t.name for t in drawn_traces(fig)] == ["a", "b", "c"]
        assert not any(t.showlegend for t in fig.data if not t.name)


def test_scaled_text_grows_every_size_we_set_and_leaves_the_original_alone():
    from softmax_core.figures.style import scaled_text

    fig = make_subplots(rows=1, cols=2)
    fig.add_trace(go.Heatmap(z=[[1, 2]], texttemplate="%{z}", textfont=dict(size=14)), row=1, col=1)
    fig.add_trace(go.Scatter(x=[0], y=[0]), row=1, col=2)
    fig.add_annotation(text="note", x=0, y=0)
    apply_layout(fig, "title")
    big = scaled_text(fig, 1.5)
    assert big.layout.title.font.size == 1.5 * (FONT_SIZE + 2) and big.layout.font.size == 1.5 * FONT_SIZE
    assert big.layout.xaxis2.tickfont.size == 1.5 * (FONT_SIZE - 1)
    assert big.layout.annotations[0].font.size == 1.5 * (FONT_SIZE - 1)
    assert big.data[0].textfont.size == 21
    assert fig.layout.font.size == FONT_SIZE and fig.data[0].textfont.size == 14  # the original is untouched
    assert big.data[1].textfont.size is None  # never set: stays the theme's


def test_the_plain_layout_gets_the_same_sizes_as_the_figure():
    """projector_font_layout (a layout still a dict) against projector_fonts (a built figure)."""
    layout = {
        "xaxis": {"title": "d", "range": [0, 1]},
        "yaxis2": {"domain": [0.5, 1], "title": {"text": "p", "font": {"family": "serif"}}},
        "legend": {"orientation": "h"},
        "annotations": [{"text": "a", "x": 0, "y": 0}, {"text": "b", "x": 1, "y": 1, "font": {"size": 9}}],
    }
    data = [go.Scatter(x=[0, 1], y=[1, 0]), go.Scatter(x=[0, 1], y=[0, 1], yaxis="y2")]
    through_plotly = projector_fonts(go.Figure(data=data, layout=json.loads(json.dumps(layout))))
    on_the_dict = go.Figure(data=data, layout=projector_font_layout(json.loads(json.dumps(layout))))
    assert json.loads(on_the_dict.to_json()) == json.loads(through_plotly.to_json())
    assert on_the_dict.layout.annotations[1].font.size == 9  # a size already set stays


def test_the_softmax_figures_keep_the_projector_sizes_on_every_axis():
    labels = [f"class {k}" for k in range(10)]
    logits = tuple(float(k - 4) for k in range(10))
    probs = torch.softmax(torch.tensor(logits) / 2.0, 0).tolist()
    figures = [
        softmax_figures.probability_bars(labels, probs, [0.0] * 9 + [1.0]),
        softmax_figures.temperature_curves(softmax_figures.temperature_sweep(logits), labels, 2.0, probs),
    ]
    for fig in figures:
        axes = [fig.layout[name] for name in fig.layout if name.startswith(("xaxis", "yaxis"))]
        assert axes and all(a.tickfont.size == FONT_SIZE - 1 and a.title.font.size == FONT_SIZE for a in axes)
        assert fig.layout.legend.font.size == FONT_SIZE - 1
