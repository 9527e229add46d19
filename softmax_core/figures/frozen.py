"""A figure that is serialised once, for figures cached by the server and drawn for every session.

``st.plotly_chart`` asks a figure for ``to_dict()`` (a deep copy) and plotly then
walks that dict, turning each numpy array into base64 text, on every page load.
For a cached figure the result never changes, so :class:`FrozenFigure` keeps its
dict with the arrays already in plotly's typed-array form: the JSON has the same
content and is made in a tenth of the time (docs/performance.md).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from _plotly_utils.utils import to_typed_array_spec


def _typed_arrays(value):
    """``value`` with every numpy array replaced by plotly's typed-array form (what ``to_json`` sends)."""
    if isinstance(value, np.ndarray):
        return to_typed_array_spec(value)
    if isinstance(value, dict):
        return {key: _typed_arrays(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_typed_arrays(item) for item in value]
    return value


class FrozenFigure(go.Figure):
    """A ``go.Figure`` whose ``to_dict()`` is computed once: never change it after it is first drawn."""

    def to_dict(self) -> dict:
        try:
            return self._frozen_dict
        except AttributeError:
            self._frozen_dict = _typed_arrays(super().to_dict())
            return self._frozen_dict


def frozen(value):
    """Every figure in ``value`` (a figure, or a tuple or named tuple holding figures) as a FrozenFigure."""
    if isinstance(value, go.Figure):
        return value if isinstance(value, FrozenFigure) else FrozenFigure(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(frozen(item) for item in value))
    if isinstance(value, tuple):
        return tuple(frozen(item) for item in value)
    return value
