"""The temperature sliders' stops: one R20 series, the same stops both pages had, each step about x1.12."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard.temperature_stops import R20, log_stops, nearest_stop

pytestmark = pytest.mark.unit


def test_the_pages_stops_are_the_ones_they_wrote_out_before():
    calibration = tuple(round(m * 10.0**e, 4) for e in (-1, 0) for m in R20) + (10.0,)
    softmax = tuple(round(m * 10.0**e, 6) for e in (-2, -1, 0, 1) for m in R20 if 0.05 <= m * 10.0**e <= 20)
    assert log_stops(0.1, 10.0) == calibration and len(calibration) == 41
    assert log_stops(0.05, 20.0) == softmax and (softmax[0], softmax[-1]) == (0.05, 20.0)


@given(st.floats(1e-3, 1e3), st.floats(1.0, 1e4))
def test_stops_ascend_inside_the_bounds_in_steps_of_about_one_twelfth(low, factor):
    high = low * factor
    stops = log_stops(low, high)
    assert all(low <= t <= high for t in stops)
    assert all(1.09 < b / a < 1.15 for a, b in zip(stops, stops[1:]))


@given(st.floats(0.1, 10.0))
def test_the_nearest_stop_is_within_half_a_step_on_the_log_scale(value):
    stops = log_stops(0.1, 10.0)
    stop = nearest_stop(stops, value)
    assert stop in stops
    assert abs(math.log(stop / value)) <= math.log(1.15) / 2
    assert all(abs(math.log(stop / value)) <= abs(math.log(other / value)) for other in stops)


def test_bounds_that_are_not_a_range_are_refused():
    with pytest.raises(ValueError):
        log_stops(0.0, 1.0)
    with pytest.raises(ValueError):
        log_stops(2.0, 1.0)
