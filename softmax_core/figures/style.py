"""Layout shared by every figure: projector-sized text, no colours of our own."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

FONT_SIZE = 16  # readable from the back of a lecture hall
PALETTE_SIZE = 10  # chartCategoricalColors in .streamlit/config.toml: the theme colours trace k with colour k % 10


def projector_fonts(fig: go.Figure) -> go.Figure:
    """Tick labels, axis titles, legend and notes at projector size, on every subplot.

    Streamlit's plotly theme sets its own (smaller) sizes on axes and legend, so the
    layout-wide font alone is not enough: sizes are set where the theme sets them.
    Sizes only: colours stay the theme's.
    """
    fig.update_xaxes(tickfont_size=FONT_SIZE - 1, title_font_size=FONT_SIZE)
    fig.update_yaxes(tickfont_size=FONT_SIZE - 1, title_font_size=FONT_SIZE)
    fig.update_layout(legend_font_size=FONT_SIZE - 1)
    for note in fig.layout.annotations:
        if note.font.size is None:
            note.font.size = FONT_SIZE - 1
    return fig


def apply_layout(fig: go.Figure, title: str | None = None, height: int = 380, **layout) -> go.Figure:
    """Set size, font and margins; leave colours to the Streamlit theme."""
    fig.update_layout(
        title=dict(text=title, font=dict(size=FONT_SIZE + 2)) if title else None,
        height=height,
        font=dict(size=FONT_SIZE),
        margin=dict(l=10, r=10, t=50 if title else 20, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1),
        hoverlabel=dict(font_size=FONT_SIZE),
        **layout,
    )
    return projector_fonts(fig)


def as_heatmap_values(values) -> np.ndarray:
    """A picture's values as a float32 array: the model's own precision, sent as binary (plotly's typed array).

    A nested list of floats is walked value by value each time the figure is serialised, and a
    ten-template figure was then the costliest thing a class's page load did (README "Host it for a
    class"); as binary it is also about half the bytes of the same numbers written out in decimals.
    """
    return np.ascontiguousarray(np.asarray(values, dtype=np.float32))


def padding_trace() -> dict:
    """An empty trace: it draws nothing, shows in no legend, and only uses up one colour of the theme."""
    return dict(type="scatter", x=[], y=[], showlegend=False, hoverinfo="skip", name="")


def in_colour_slot(traces: list[dict], slot: int) -> list[dict]:
    """Traces that all take the theme's colour number ``slot``, still without a colour of our own.

    The theme colours trace k with its colour ``k % PALETTE_SIZE``, so each trace is put
    at an index congruent to ``slot`` and empty traces fill the gaps. A page where colour
    means one thing (e.g. the loss) keeps that meaning in a figure of one loss's quantities.
    """
    out: list[dict] = []
    for trace in traces:
        while len(out) % PALETTE_SIZE != slot % PALETTE_SIZE:
            out.append(padding_trace())
        out.append(trace)
    return out


def drawn_traces(fig: go.Figure) -> list:
    """The figure's traces without the empty colour-slot padding."""
    return [t for t in fig.data if not (t.x is not None and len(t.x) == 0 and t.hoverinfo == "skip")]


def scaled_text(fig: go.Figure, factor: float) -> go.Figure:
    """A copy of ``fig`` with every text size set by this project multiplied by ``factor`` (e.g. for a projector).

    Sizes left unset stay unset (the theme's); only the copy changes, so a cached figure is safe.
    """
    out = go.Figure(fig)

    def grow(font) -> None:
        if font is not None and font.size is not None:
            font.size = round(font.size * factor, 1)

    layout = out.layout
    for font in (layout.font, layout.title.font, layout.legend.font, layout.hoverlabel.font):
        grow(font)
    for name in list(layout):
        if name.startswith(("xaxis", "yaxis")):
            grow(layout[name].tickfont)
            grow(layout[name].title.font)
    for note in layout.annotations:
        grow(note.font)
    for trace in out.data:
        if "textfont" in trace:
            grow(trace.textfont)
    return out
