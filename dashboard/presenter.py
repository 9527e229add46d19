"""Presenter mode and the one way every page draws a chart.

``?present=1`` in the URL (kept there: the pages' URL state only rewrites its own
keys) turns a page into what a projector needs: no navigation sidebar
(``streamlit_app.py`` hides it), no share-and-reset row, no explanatory captions, and
chart text enlarged, so the room sees the picture and the one control being moved.
TensorFlow Playground hides its controls through the URL the same way.

Every chart goes through :func:`chart`, which also sets the Plotly config: the mode
bar (zoom / download toolbar) is hidden because on a phone it sits on top of chart
titles and legends; dragging still zooms and a double click still resets.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from softmax_core.figures.style import scaled_text

PARAM = "present"
TEXT_SCALE = 1.3  # chart text in presenter mode, relative to the projector-sized default
CHART_CONFIG = {"displayModeBar": False, "displaylogo": False, "responsive": True}


def is_presenting(query: dict[str, str] | None) -> bool:
    """``present=1`` (or ``true`` / ``yes``) in a query: a pure check, tested without Streamlit."""
    value = (query or {}).get(PARAM, "")
    return str(value).strip().lower() in ("1", "true", "yes")


def presenting() -> bool:
    """Whether this page view is in presenter mode (``?present=1``)."""
    return is_presenting(st.query_params.to_dict())


def caption(text: str, container=None, **kwargs) -> None:
    """``st.caption``, except in presenter mode: explanations are for the screen, not the projector."""
    if not presenting():
        (container or st).caption(text, **kwargs)


def share_row(share_and_reset: Callable[..., None], *args) -> None:
    """The share-and-reset row, left out in presenter mode."""
    if not presenting():
        share_and_reset(*args)


def present_figure(fig):
    """The figure as the current mode shows it: text enlarged (on a copy) in presenter mode."""
    return scaled_text(fig, TEXT_SCALE) if presenting() else fig


def chart(fig, key: str, alt: str, container=None, toolbar: bool = False, **kwargs):
    """``st.plotly_chart`` with the theme, full width, and presenter-sized text when presenting.

    ``alt`` is the chart's text alternative (its accessible name), written from the chart's data by the
    figure module's ``*_alt`` function: a screen reader announces it where the page's point is drawn.
    ``toolbar`` keeps Plotly's mode bar (shown on hover) for a chart worth saving as PNG.
    """
    config = {**CHART_CONFIG, "displayModeBar": "hover"} if toolbar else CHART_CONFIG
    return (container or st).plotly_chart(
        present_figure(fig), width="stretch", theme="streamlit", key=key, config=config, alt=alt, **kwargs
    )
