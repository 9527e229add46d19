"""The softmax & temperature page in AppTest: controls, extremes, bad input, and links that restore the view."""

import base64
import json
import math

import numpy as np

import pytest
import torch
from streamlit.testing.v1 import AppTest

from softmax_core.logit_presets import FASHION_MNIST_CLASSES, PRESETS, format_logits
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "softmax_temperature.py")


@pytest.fixture
def app(clear_streamlit_caches):
    return AppTest.from_file(PAGE, default_timeout=60)


def charts(at):
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def values(array):
    """Plotly writes numpy arrays as typed arrays ({"dtype", "bdata"}): decode them back to a list."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def bar_probs(at):
    return charts(at)[0]["data"][0]["y"]


def metrics(at):
    return {m.label: m.value for m in at.metric}


def expected_probs(logits, temperature):
    return torch.softmax(torch.tensor(logits, dtype=torch.float64) / temperature, 0)


def assert_shows(at, logits, temperature):
    """Bars, metrics and the curve marker all show softmax(logits / T) as torch computes it."""
    assert not at.exception
    p = expected_probs(logits, temperature)
    torch.testing.assert_close(torch.tensor(bar_probs(at), dtype=torch.float64), p)
    m = metrics(at)
    assert m["Confidence"] == f"{float(p.max()):.3f}"
    top2 = p.topk(2).values
    assert m["Margin"] == f"{float(top2[0] - top2[1]):.3f}"
    h = float(torch.distributions.Categorical(probs=p).entropy())
    assert m["Entropy H"] == f"{h:.3f}"
    assert m["H / log q"] == f"{h / math.log(len(logits)):.0%}"
    for j, trace in enumerate(charts(at)[1]["data"]):
        marked = [i for i, size in enumerate(values(trace["marker"]["size"])) if size]
        assert len(marked) == 1
        assert values(trace["x"])[marked[0]] == temperature
        assert math.isclose(values(trace["y"])[marked[0]], float(p[j]), rel_tol=1e-9)


def test_default_view(app):
    at = app.run()
    assert_shows(at, (1.0, 2.0, 3.0), 1.0)
    assert [m.value for m in at.metric] == ["0.665", "0.421", "0.832", "76%"]
    assert charts(at)[0]["data"][0]["x"] == ["cat", "chicken", "dog"]
    assert charts(at)[0]["data"][1]["y"] == [0, 0, 1]  # one-hot of the argmax
    assert "Prediction: dog" in json.dumps(charts(at)[0]["layout"]["title"])
    assert any(r"\operatorname{hardmax}" in latex.value and "0.67" in latex.value for latex in at.latex)
    assert not at.error and not at.warning
    assert dict(at.query_params) == {}  # defaults stay out of the link
    assert len(at.dataframe) == 3  # the editable logits table and the float32 / float16 stability tables


@pytest.mark.parametrize("temperature", [0.05, 20.0])
def test_temperature_extremes(app, temperature):
    at = app.run()
    at.select_slider(key="sm_T").set_value(temperature).run()
    assert_shows(at, (1.0, 2.0, 3.0), temperature)
    assert at.query_params["sm_T"] == f"{temperature:g}"
    if temperature == 0.05:  # T -> 0: hardmax
        assert metrics(at)["Confidence"] == "1.000" and metrics(at)["H / log q"] == "0%"
    else:  # T -> infinity: nearly uniform
        assert metrics(at)["H / log q"] == "100%"


def test_slider_is_log_spaced_from_005_to_20(app):
    at = app.run()
    options = [float(o) for o in at.select_slider(key="sm_T").options]
    assert options[0] == 0.05 and options[-1] == 20.0 and 1.0 in options
    ratios = [b / a for a, b in zip(options, options[1:])]
    assert all(1.09 < r < 1.15 for r in ratios)  # the R20 series: each step about x1.12


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_sets_logits_and_names_and_lands_in_the_link(app, name):
    preset = PRESETS[name]
    at = app.run()
    at.selectbox(key="sm_preset").set_value(name).run()
    assert at.text_input(key="sm_logits").value == format_logits(preset.logits)
    assert at.selectbox(key="sm_labels").value == preset.labels
    assert_shows(at, preset.logits, 1.0)
    if name != "chapter":
        assert at.query_params["sm_preset"] == name
        assert at.query_params["sm_logits"] == format_logits(preset.logits)


def test_large_logits_preset_shows_the_naive_failure_and_the_same_probabilities(app):
    at = app.run()
    at.selectbox(key="sm_preset").set_value("large").run()
    assert_shows(at, (1000.0, 1001.0, 1002.0), 1.0)
    torch.testing.assert_close(torch.tensor(bar_probs(at)), torch.tensor([0.09003057, 0.24472847, 0.66524096]))
    float32_table = at.dataframe[1].value
    assert list(float32_table["exp(z)"]) == ["inf"] * 4 and list(float32_table["naive p"])[:3] == ["nan"] * 3
    assert list(float32_table["softmax p"]) == ["0.090031", "0.24473", "0.66524", "1"]
    text = " ".join(md.value for md in at.markdown)
    assert "Naive exp/sum fails" in text and "inf / inf = nan" in text and "Subtracting the max fixes it" in text


def test_fashion_names_label_the_classes(app):
    at = app.run()
    at.selectbox(key="sm_preset").set_value("fashion").run()
    assert charts(at)[0]["data"][0]["x"] == list(FASHION_MNIST_CLASSES)
    assert [trace["name"] for trace in charts(at)[1]["data"]] == list(FASHION_MNIST_CLASSES)
    assert "Prediction: Shirt" in json.dumps(charts(at)[0]["layout"]["title"])
    at.selectbox(key="sm_labels").set_value("numbers").run()
    assert charts(at)[0]["data"][0]["x"] == [f"class {j}" for j in range(10)]
    assert at.query_params["sm_labels"] == "numbers"


def test_typed_logits_become_your_own_and_go_into_the_link(app):
    at = app.run()
    at.text_input(key="sm_logits").set_value("4, 1, 0, -2").run()
    assert_shows(at, (4.0, 1.0, 0.0, -2.0), 1.0)
    assert at.selectbox(key="sm_preset").value == "custom"
    assert at.query_params["sm_logits"] == "4, 1, 0, -2"
    assert at.query_params["sm_preset"] == "custom"
    assert charts(at)[0]["data"][0]["x"] == ["cat", "chicken", "dog", "class 3"]


@pytest.mark.parametrize(
    "text, message",
    [("", "empty"), ("1, abc", "not a number"), ("nan, 1", "NaN"), (", ".join(["1"] * 11), "at most 10 classes"),
     ("5", "at least two classes"), ("1,,2", "Entry 2 is empty"), ("inf, 2", "too large")],
)
def test_bad_logits_get_a_message_and_keep_the_last_valid_view(app, text, message):
    at = app.run()
    at.text_input(key="sm_logits").set_value("0, 3").run()
    at.text_input(key="sm_logits").set_value(text).run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value
    assert "last valid logits: 0, 3" in at.info[0].value
    assert_shows(at, (0.0, 3.0), 1.0)


def test_link_restores_every_control(app):
    app.query_params.update({"sm_logits": "0, 5", "sm_T": "0.5", "sm_labels": "fashion", "sm_preset": "custom"})
    at = app.run()
    assert at.text_input(key="sm_logits").value == "0, 5"
    assert at.select_slider(key="sm_T").value == 0.5
    assert at.selectbox(key="sm_labels").value == "fashion"
    assert at.selectbox(key="sm_preset").value == "custom"
    assert charts(at)[0]["data"][0]["x"] == ["T-shirt/top", "Trouser"]
    assert_shows(at, (0.0, 5.0), 0.5)
    assert not at.warning


def test_link_with_only_a_preset_shows_that_preset(app):
    app.query_params["sm_preset"] = "large"
    at = app.run()
    assert at.text_input(key="sm_logits").value == "1000, 1001, 1002"
    assert_shows(at, (1000.0, 1001.0, 1002.0), 1.0)


def test_link_temperature_snaps_to_the_slider(app):
    app.query_params["sm_T"] = "0.33"
    at = app.run()
    assert at.select_slider(key="sm_T").value == 0.315  # nearest stop in log space
    assert_shows(at, (1.0, 2.0, 3.0), 0.315)


@pytest.mark.parametrize("key, value", [("sm_T", "hot"), ("sm_T", "0"), ("sm_T", "nan"), ("sm_labels", "cars"),
                                        ("sm_preset", "best")])
def test_bad_link_values_are_ignored_with_a_warning(app, key, value):
    app.query_params[key] = value
    at = app.run()
    assert not at.exception
    assert any(f"{key}={value}" in w.value for w in at.warning)
    assert_shows(at, (1.0, 2.0, 3.0), 1.0)


def test_bad_logits_in_a_link_show_the_message_and_the_default_view(app):
    app.query_params["sm_logits"] = "1, x, 3"
    at = app.run()
    assert not at.exception
    assert "“x”, is not a number" in at.error[0].value
    assert at.text_input(key="sm_logits").value == "1, x, 3"  # the link restores what was typed
    assert_shows(at, (1.0, 2.0, 3.0), 1.0)


def test_empty_table_cell_waits_with_a_warning(app):
    at = app.run()
    at.session_state["sm_table:animals:1, 2, 3"] = {"edited_rows": {1: {"logit": None}}, "added_rows": [],
                                                     "deleted_rows": []}
    at.run()
    assert not at.exception
    assert any("Row 2 of the table has no logit yet" in w.value for w in at.warning)
    assert_shows(at, (1.0, 2.0, 3.0), 1.0)


def test_reset_returns_to_defaults_and_clears_the_link(app):
    at = app.run()
    at.selectbox(key="sm_preset").set_value("fashion").run()
    at.select_slider(key="sm_T").set_value(4.0).run()
    assert dict(at.query_params)
    at.button[0].click().run()
    assert at.selectbox(key="sm_preset").value == "chapter"
    assert at.select_slider(key="sm_T").value == 1.0
    assert dict(at.query_params) == {}
    assert_shows(at, (1.0, 2.0, 3.0), 1.0)


def test_share_link_holds_the_current_view(app):
    at = app.run()
    at.text_input(key="sm_logits").set_value("2, 0").run()
    at.select_slider(key="sm_T").set_value(2.0).run()
    link = at.code[0].value
    assert "sm_logits=2%2C+0" in link and "sm_T=2" in link and "sm_preset=custom" in link
