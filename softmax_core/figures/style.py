"""Layout shared by every figure: projector-sized text, no colours of our own."""

from __future__ import annotations

import plotly.graph_objects as go

FONT_SIZE = 16  # readable from the back of a lecture hall


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
