"""The temperature sliders' stops: Renard's R20 series, twenty a decade."""

import math

import pytest

from dashboard.log_stops import log_stops

pytestmark = pytest.mark.unit


def test_the_stops_are_round_numbers_close_to_twenty_even_steps_a_decade():
    stops = log_stops(-2, 1)
    assert len(stops) == 80 and stops[0] == 0.01 and stops[-1] == 90.0
    for k, stop in enumerate(stops):
        exact = 10 ** (k / 20 - 2)  # R20 rounds 10 ** (k / 20) to three significant digits or fewer
        assert abs(stop / exact - 1) < 0.013, (stop, exact)
        assert stop == round(stop, 6) and len(f"{stop:g}".replace("0.", "").strip("0").replace(".", "")) <= 3


def test_lo_and_hi_keep_the_stops_between_them():
    assert log_stops(-2, 1, lo=0.05, hi=20)[0] == 0.05 and log_stops(-2, 1, lo=0.05, hi=20)[-1] == 20.0
    assert log_stops(-1, 1, hi=10) == (*log_stops(-1, 0), 10.0)
    assert all(0.05 <= s <= 20 for s in log_stops(-2, 1, lo=0.05, hi=20))
    assert math.isclose(log_stops(-1, -1)[1], 0.112) and log_stops(-1, -1)[1] == 0.112  # not 0.11200000000000002
