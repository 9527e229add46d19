"""Each control is declared once: ``Param.draw`` draws the widget with the bounds and default the link is read with."""

import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.app


def _controls_script():
    import streamlit as st

    from dashboard.url_state import bool_param, choice_param, float_param, int_param, stop_param, text_param

    params = [
        float_param("f", 0.5, -1.0, 2.0, "a float", step=0.25),
        int_param("i", 3, 1, 9, "an int"),
        int_param("n", 256, 1, 1024, "a whole number", widget="number_input"),
        choice_param("c", "b", {"a": "Ay", "b": "Bee"}, "a choice", horizontal=True),
        choice_param("s", "a", {"a": "Ay", "b": "Bee"}, "a select", widget="selectbox"),
        bool_param("t", False, "a toggle"),
        text_param("x", "1, 2", "some text"),
        stop_param("T", 1.0, (0.5, 1.0, 2.0), "a stop"),
    ]
    st.session_state["drawn"] = {param.key: param.draw() for param in params}


def _run(query=None) -> AppTest:
    at = AppTest.from_function(_controls_script, default_timeout=30)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def test_each_widget_is_drawn_with_its_params_label_bounds_and_default():
    at = _run()
    assert not at.exception
    assert at.session_state["drawn"] == {
        "f": 0.5, "i": 3, "n": 256.0, "c": "b", "s": "a", "t": False, "x": "1, 2", "T": 1.0,
    }  # fmt: skip
    f, i = at.slider(key="f"), at.slider(key="i")
    assert (f.label, f.min, f.max, f.step) == ("a float", -1.0, 2.0, 0.25)
    assert (i.label, i.min, i.max) == ("an int", 1, 9)
    n = at.number_input(key="n")
    assert (n.label, n.min, n.max, n.step, n.format) == ("a whole number", 1.0, 1024.0, 1.0, "%.0f")
    assert at.radio(key="c").options == ["Ay", "Bee"] and at.radio(key="c").value == "b"
    assert at.selectbox(key="s").options == ["Ay", "Bee"]
    assert at.toggle(key="t").label == "a toggle"
    assert at.text_input(key="x").value == "1, 2"
    assert at.select_slider(key="T").options == ["0.5", "1", "2"]


def test_the_bound_widgets_take_their_values_from_the_link():
    at = _run({"f": "1.5", "i": "7", "c": "Ay", "t": "true", "x": "3, 4", "T": "2"})
    assert not at.exception
    drawn = at.session_state["drawn"]
    assert (drawn["f"], drawn["i"], drawn["c"], drawn["t"], drawn["x"], drawn["T"]) == (1.5, 7, "a", True, "3, 4", 2.0)


def test_a_stop_param_reads_a_value_between_stops_as_the_nearest_and_refuses_one_outside():
    from dashboard.url_state import ReadAs, stop_param

    param = stop_param("T", 1.0, (0.5, 1.0, 2.0))
    assert param.parse("2") == 2.0
    try:
        param.parse("1.3")
    except ReadAs as exc:
        assert exc.value == 1.0
    else:
        raise AssertionError("1.3 is between stops: it must be read as 1")
    for outside in ("0.1", "3", "nan", "x"):
        try:
            param.parse(outside)
        except ReadAs:
            raise AssertionError(f"{outside} is outside the stops: it must be ignored, not read as a stop") from None
        except ValueError:
            pass
        else:
            raise AssertionError(f"{outside} must be refused")
