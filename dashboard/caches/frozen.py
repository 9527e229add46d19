"""A figure that is serialised once, for figures cached by the server and drawn for every session.

``st.plotly_chart`` asks a figure for ``to_dict()`` (a deep copy of the whole figure, with each
numpy array turned into plotly's base64 typed-array form) on every page load. For a cached
figure the result never changes, so :class:`FrozenFigure` computes that dict once: the JSON
sent is the same and made in a tenth of the time (docs/performance.md).

The dict kept is the JSON's own (plain lists, strings and numbers): plotly's fast encoder takes it
as it is, where a numpy array it cannot encode (an array of marker symbols) made it clean the whole
figure again on every draw, 0.9 ms a chart (docs/lecture-mode.md).

Its JSON is made once too: ``st.plotly_chart`` then asks ``plotly.io.to_json`` for that dict, 0.3 ms a chart
(most of it plotly escaping ``<``, ``>`` and ``/`` over the whole spec), and a lecture's catch-up of the
losses page draws six. This module puts :func:`to_json_of_frozen` in plotly's place, which answers a frozen
figure's dict with the JSON kept beside it and hands everything else to plotly's own function.
"""

from __future__ import annotations

import json

import plotly.graph_objects as go
import plotly.io
from plotly.io.json import to_json_plotly

PLOTLY_TO_JSON = getattr(plotly.io.to_json, "upstream", plotly.io.to_json)  # plotly's own, even after a reload


class FrozenSpec(dict):
    """A frozen figure's dict, with ``json``: what ``plotly.io.to_json(spec, validate=False)`` returns for it."""

    __slots__ = ("json",)


def to_json_of_frozen(fig, *args, **kwargs) -> str:
    """``plotly.io.to_json``; for a :class:`FrozenSpec` asked as ``st.plotly_chart`` asks (``validate=False``,
    nothing else: what the kept JSON was made with), that JSON."""
    if type(fig) is FrozenSpec and not args and kwargs == {"validate": False}:
        return fig.json
    return PLOTLY_TO_JSON(fig, *args, **kwargs)


to_json_of_frozen.upstream = PLOTLY_TO_JSON
plotly.io.to_json = to_json_of_frozen


class FrozenFigure(go.Figure):
    """A ``go.Figure`` whose ``to_dict()`` and its JSON are computed once: never change it after it is first drawn."""

    def to_dict(self) -> FrozenSpec:
        try:
            return self._frozen_dict
        except AttributeError:
            spec = FrozenSpec(json.loads(to_json_plotly(super().to_dict())))
            spec.json = PLOTLY_TO_JSON(spec, validate=False)  # removes trace uids, as every draw's call would
            self._frozen_dict = spec
            return spec


def frozen(value):
    """Every figure in ``value`` (a figure, or a tuple or named tuple holding figures) as a FrozenFigure.

    A plain ``go.Figure`` becomes one in place, not by a copy: the builders' figures are new and held by
    no one else, and copying a figure validates all of it again (two fifths of building the losses
    page's figures, docs/lecture-mode.md). Other figure classes are copied.
    """
    if isinstance(value, FrozenFigure):
        return value
    if type(value) is go.Figure:
        value.__class__ = FrozenFigure  # same layout: FrozenFigure only overrides to_dict
        return value
    if isinstance(value, go.Figure):
        return FrozenFigure(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(frozen(item) for item in value))
    if isinstance(value, tuple):
        return tuple(frozen(item) for item in value)
    return value
