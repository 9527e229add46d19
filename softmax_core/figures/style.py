"""Layout shared by every figure: projector-sized text, no colours of our own."""

from __future__ import annotations

import plotly.graph_objects as go

FONT_SIZE = 16  # readable from the back of a lecture hall


def apply_layout(fig: go.Figure, title: str | None = None, height: int = 380, **layout) -> go.Figure:
    """Set size, font and margins; leave colours to the Streamlit theme."""
    fig.update_layout(
        title=dict(text=title) if title else None,
        height=height,
        font=dict(size=FONT_SIZE),
        margin=dict(l=10, r=10, t=50 if title else 20, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1),
        hoverlabel=dict(font_size=FONT_SIZE),
        **layout,
    )
    return fig
