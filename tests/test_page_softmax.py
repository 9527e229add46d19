"""The softmax & temperature page in AppTest: controls, extremes, bad input, and links that restore the view."""

import json
import math

import pytest
import torch
from streamlit.testing.v1 import AppTest

from softmax_core.logit_presets import FASHION_MNIST_CLASSES, PRESETS, format_logits
from softmax_core.stability import DTYPES
from tests.apptest_helpers import chart_specs as charts
from tests.apptest_helpers import plotly_values as values
from tests.conftest import ROOT
from tests.link import link, share_link

pytestmark = pytest.mark.app

PAGE = str(ROOT / "pages" / "softmax_temperature.py")


@pytest.fixture
def app(clear_streamlit_caches):
    return AppTest.from_file(PAGE, default_timeout=60)


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
    assert link(at) == {}  # defaults stay out of the link
    # the editable logits table and the open tab's stability table: the hidden float16 tab is not computed
    assert len(at.dataframe) == 2
    float32, float16 = at.tabs
    assert len(float32.dataframe) == 1 and len(float16.children) == 0


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_only_the_open_precision_tab_runs_and_it_is_in_the_link(app, monkeypatch, dtype):
    """A hidden tab's work is not done: compare_stability runs for the open tab's dtype only."""
    import softmax_core.stability

    calls = []
    real = softmax_core.stability.compare_stability
    monkeypatch.setattr(softmax_core.stability, "compare_stability", lambda *a: calls.append(a[2]) or real(*a))
    if dtype != "float32":
        app.query_params["sm_dtype"] = dtype
    at = app.run()
    assert not at.exception and not at.warning
    assert calls == [dtype]
    opened = at.tabs[list(DTYPES).index(dtype)]
    assert len(opened.dataframe) == 1 and f"in {dtype}, exp(z) overflows" in opened.markdown[0].value
    assert link(at) == ({} if dtype == "float32" else {"sm_dtype": dtype})


@pytest.mark.parametrize("temperature", [0.05, 20.0])
def test_temperature_extremes(app, temperature):
    at = app.run()
    at.select_slider(key="sm_T").set_value(temperature).run()
    assert_shows(at, (1.0, 2.0, 3.0), temperature)
    assert link(at)["sm_T"] == f"{temperature:g}"
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
        assert link(at)["sm_preset"] == preset.title  # the binding's link holds the label on screen
        assert link(at)["sm_logits"] == format_logits(preset.logits)


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
    assert link(at)["sm_labels"] == "class 0, class 1, …"


def test_typed_logits_become_your_own_and_go_into_the_link(app):
    at = app.run()
    at.text_input(key="sm_logits").set_value("4, 1, 0, -2").run()
    assert_shows(at, (4.0, 1.0, 0.0, -2.0), 1.0)
    assert at.selectbox(key="sm_preset").value == "custom"
    assert link(at)["sm_logits"] == "4, 1, 0, -2"
    assert link(at)["sm_preset"] == "Your own logits"
    assert charts(at)[0]["data"][0]["x"] == ["cat", "chicken", "dog", "class 3"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("1, abc", "not a number"),
        ("nan, 1", "NaN"),
        (", ".join(["1"] * 11), "at most 10 classes"),
        ("5", "at least two classes"),
        ("1,,2", "Entry 2 is empty"),
        ("inf, 2", "too large"),
    ],
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


@pytest.mark.parametrize(
    "key, value", [("sm_T", "hot"), ("sm_T", "0"), ("sm_T", "nan"), ("sm_labels", "cars"), ("sm_preset", "best")]
)
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
    at.session_state["sm_table:animals:1, 2, 3"] = {
        "edited_rows": {1: {"logit": None}},
        "added_rows": [],
        "deleted_rows": [],
    }
    at.run()
    assert not at.exception
    assert any("Row 2 of the table has no logit yet" in w.value for w in at.warning)
    assert_shows(at, (1.0, 2.0, 3.0), 1.0)


def test_reset_returns_to_defaults_and_clears_the_link(app):
    at = app.run()
    at.selectbox(key="sm_preset").set_value("fashion").run()
    at.select_slider(key="sm_T").set_value(4.0).run()
    assert link(at)
    next(b for b in at.button if "Reset" in b.label).click().run()
    assert at.selectbox(key="sm_preset").value == "chapter"
    assert at.select_slider(key="sm_T").value == 1.0
    assert link(at) == {}
    assert_shows(at, (1.0, 2.0, 3.0), 1.0)


def test_share_link_holds_the_current_view(app):
    at = app.run()
    at.text_input(key="sm_logits").set_value("2, 0").run()
    at.select_slider(key="sm_T").set_value(2.0).run()
    shared = share_link(at)
    assert "sm_logits=2%2C+0" in shared and "sm_T=2" in shared and "sm_preset=Your+own+logits" in shared


def test_table_logit_cells_are_text_so_1e308_keeps_its_e(app):
    """The grid's number editor dropped the "e" (1e308 became 1308): the logit column is text now."""
    at = app.run()
    config = json.loads(at.data_editor[0].proto.columns)
    assert config["logit"]["type_config"]["type"] == "text"
    assert at.data_editor[0].value["logit"].tolist() == ["1", "2", "3"]


@pytest.mark.parametrize("cell, words", [("1e308", "too large"), ("1e400", "too large"), ("abc", "is not a number")])
def test_table_cells_refuse_huge_numbers_with_a_sentence(app, cell, words):
    """An edited cell reaches the logits as typed (the table's callback), and the logits parser explains it."""
    at = app.run()
    at.text_input(key="sm_logits").set_value(f"1, {cell}, 3").run()  # what the table's callback writes
    assert not at.exception
    assert len(at.error) == 1 and words in at.error[0].value
    assert_shows(at, (1.0, 2.0, 3.0), 1.0)  # the last valid logits stay on screen


@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("preset", ["chapter", "fashion", "tied"])
def test_every_chart_has_a_text_alternative_from_its_numbers(app, dtype, preset):
    """Issue 23 §2: the chart's accessible name names each class at or above 1 % with torch's percentage."""
    app.query_params.update({"sm_dtype": dtype, "sm_preset": preset})
    at = app.run()
    assert not at.exception
    logits = PRESETS[preset].logits
    labels = charts(at)[0]["data"][0]["x"]
    p = expected_probs(logits, 1.0)
    bars, curves = (chart.proto.alt for chart in at.get("plotly_chart"))
    for alt in (bars, curves):
        for label, prob in zip(labels, p.tolist()):
            assert (f"{label} {100 * prob:.1f} %" in alt) == (prob >= 0.01), (label, alt)
    assert bars.startswith("Bar chart of the probabilities at T = 1:")
    assert "As T goes to 0:" in curves and f"1/{len(logits)}" in curves
    behind = next(e for e in at.expander if "numbers behind the charts" in e.label)
    assert len(behind.table) == 2
