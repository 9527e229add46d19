"""Slider stops on a log scale: the R20 preferred numbers, the same on every page that moves a temperature.

A ``select_slider`` over these stops moves T by about x1.12 a step (20 steps a decade), so the cold
and the hot end get as many steps as the middle, and every stop is a round number a student can type.
"""

from __future__ import annotations

# ISO 3 / Renard R20: twenty preferred numbers per decade, each about 10 ** (1 / 20) = 1.122 times the last.
R20 = (1.0, 1.12, 1.25, 1.4, 1.6, 1.8, 2.0, 2.24, 2.5, 2.8, 3.15, 3.55, 4.0, 4.5, 5.0, 5.6, 6.3, 7.1, 8.0, 9.0)


def log_stops(
    first_exponent: int, last_exponent: int, lo: float | None = None, hi: float | None = None
) -> tuple[float, ...]:
    """The R20 numbers of the decades 10**first_exponent to 10**last_exponent, ascending, kept within [lo, hi].

    Rounded to six decimals, so 1.12 * 0.1 is the stop 0.112 that a link writes, not 0.11200000000000002.
    """
    stops = (round(m * 10.0**exponent, 6) for exponent in range(first_exponent, last_exponent + 1) for m in R20)
    return tuple(s for s in stops if (lo is None or s >= lo) and (hi is None or s <= hi))
