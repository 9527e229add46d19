"""The temperature sliders' stops, one series for every page that moves T on a log scale.

The R20 preferred numbers (ISO 3): twenty steps per decade, each about x1.12, round enough to read
aloud ("T = 2.24"), so a link written by one page lands on a stop of the other.
"""

from __future__ import annotations

import math

R20 = (1.0, 1.12, 1.25, 1.4, 1.6, 1.8, 2.0, 2.24, 2.5, 2.8, 3.15, 3.55, 4.0, 4.5, 5.0, 5.6, 6.3, 7.1, 8.0, 9.0)


def log_stops(low: float, high: float) -> tuple[float, ...]:
    """Every R20 number from ``low`` to ``high`` (both included when they are R20 numbers), ascending."""
    if not 0 < low <= high:
        raise ValueError(f"need 0 < low <= high, got {low:g} and {high:g}")
    first, last = _decade(low), _decade(high)
    candidates = (round(m * 10.0**e, 6) for e in range(first, last + 1) for m in R20)
    return tuple(t for t in candidates if low <= t <= high)


def _decade(value: float) -> int:
    """The power of ten whose decade holds ``value`` (0.5 -> -1, 1 -> 0, 20 -> 1)."""
    exponent = 0
    while 10.0**exponent > value:
        exponent -= 1
    while 10.0 ** (exponent + 1) <= value:
        exponent += 1
    return exponent


def nearest_stop(stops: tuple[float, ...], value: float) -> float:
    """The stop nearest ``value`` on the log scale the slider moves on (``value`` > 0)."""
    return min(stops, key=lambda stop: abs(math.log(stop) - math.log(value)))
