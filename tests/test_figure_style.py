"""The shared figure style: projector-sized text on every subplot, and no colours of ours."""

import json

import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from softmax_core.figures.style import FONT_SIZE, apply_layout

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
