"""Strict JSON for numbers that may be NaN or infinite (a diverged run's loss).

JSON has no NaN or Infinity; Python's ``json`` would write them anyway and
other readers would then fail. Non-finite floats become ``null`` on the way
out and NaN on the way back in.
"""

from __future__ import annotations

import json
import math


def finite_or_none(x) -> float | None:
    """``float(x)`` if it is finite, else None (JSON's null)."""
    x = float(x)
    return x if math.isfinite(x) else None


def none_to_nan(x) -> float:
    """The inverse of :func:`finite_or_none` when reading: null -> NaN."""
    return float("nan") if x is None else float(x)


def json_safe(obj):
    """``obj`` with every non-finite float (also inside dicts, lists and tuples) replaced by None."""
    if isinstance(obj, float):
        return finite_or_none(obj)
    if isinstance(obj, dict):
        return {key: json_safe(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(value) for value in obj]
    return obj


def dumps(obj, **kwargs) -> str:
    """``json.dumps`` that writes non-finite floats as null and refuses anything else non-standard."""
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)
