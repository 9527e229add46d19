"""recent_first: the last few results of a shared cache answered before Streamlit hashes the arguments."""

from __future__ import annotations

import threading
import time

import pytest
import streamlit as st

from dashboard.caches.shared import forget_recent, recent_first

pytestmark = pytest.mark.unit


class Counted:
    """Stands for a st.cache_resource function: counts what reaches it."""

    def __init__(self):
        self.calls = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return object()

    def clear(self):
        pass


def test_a_repeated_call_is_answered_in_front_with_the_same_object():
    inner = Counted()
    lookup = recent_first(inner)
    first = lookup("Huber", 2.5, 0.0, axis="residual")
    assert lookup("Huber", 2.5, 0.0, axis="residual") is first
    assert len(inner.calls) == 1
    lookup("Huber", 2.6, 0.0, axis="residual")
    lookup("Huber", 2.5, 0.0, axis="prediction")
    assert len(inner.calls) == 3


def test_an_int_and_an_equal_float_are_different_keys():
    inner = Counted()
    lookup = recent_first(inner)
    assert lookup(1) is not lookup(1.0)
    assert len(inner.calls) == 2


def test_unhashable_arguments_and_negative_zero_go_to_streamlit_every_time():
    inner = Counted()
    lookup = recent_first(inner)
    lookup([1, 2])
    lookup([1, 2])
    lookup(-0.0)
    lookup(-0.0)
    lookup((1.0, (2.0, -0.0)))
    lookup((1.0, (2.0, -0.0)))
    assert len(inner.calls) == 6
    lookup(0.0)
    lookup(0.0)
    assert len(inner.calls) == 7


def test_forget_recent_empties_the_front_and_the_front_is_bounded():
    inner = Counted()
    lookup = recent_first(inner)
    lookup(1)
    forget_recent()
    lookup(1)
    assert len(inner.calls) == 2
    for k in range(100):
        lookup(k)
    calls = len(inner.calls)
    lookup(0)  # long evicted from the front
    assert len(inner.calls) == calls + 1


def test_sessions_missing_together_build_the_value_once():
    """The front has no lock of its own: Streamlit's lock per key makes 8 concurrent misses one build."""
    builds = []

    @st.cache_resource(show_spinner=False)
    def slow_build(x: float) -> list:
        builds.append(x)
        time.sleep(0.2)
        return [x]

    slow_build.clear()
    lookup = recent_first(slow_build)
    results = []
    threads = [threading.Thread(target=lambda: results.append(lookup(0.5))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == [0.5]
    assert len(results) == 8 and all(r is results[0] for r in results)
    slow_build.clear()
