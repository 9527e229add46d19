"""AppTest of pages/loss_curves.py: controls, URL state, bad links, and the numbers on screen."""

import pytest
import torch
import torch.nn.functional as F

from softmax_core.gradient_step import gradient_steps
from tests.apptest_helpers import chart_specs, page_test, plotly_values
from tests.conftest import ROOT
from tests.link import link

PAGE = str(ROOT / "pages" / "loss_curves.py")
pytestmark = [pytest.mark.app, pytest.mark.usefixtures("clear_streamlit_caches")]  # each test starts with cold caches
SLIDERS = {  # key: (min, max, default)
    "loss_y": (-5.0, 5.0, 0.0),
    "loss_y_hat": (-5.0, 5.0, 2.5),
    "loss_delta": (0.1, 5.0, 1.0),
    "loss_range": (1.0, 10.0, 4.0),
    "loss_lr": (0.05, 2.5, 0.5),
}


def run(query=None):
    return page_test(PAGE, query).run()


def charts(at):
    """Chart specs, without the empty traces that only put a curve on its loss's theme colour."""
    specs = chart_specs(at)
    for spec in specs:
        spec["data"] = [t for t in spec["data"] if t.get("name") or t.get("x") != []]
    return specs


def markers(trace):
    x, y = plotly_values(trace["x"]), plotly_values(trace["y"])
    return [(float(x[i]), float(y[i])) for i in trace["selectedpoints"]]


def torch_huber(y_hat, y, delta):
    return float(
        F.huber_loss(torch.tensor(y_hat, dtype=torch.float64), torch.tensor(y, dtype=torch.float64), delta=delta)
    )


def test_default_view_shows_three_stacked_figures_formulas_table_and_step_figure():
    at = run()
    assert not at.exception and not at.error and not at.warning
    specs = charts(at)
    assert len(specs) == 6  # L2, L1, Huber (loss/gradient/likelihood each) + one gradient step per loss
    for spec in specs[:3]:
        assert [t["name"] for t in spec["data"]] == ["loss", "gradient", "likelihood"]
    huber_loss = specs[2]["data"][0]
    assert markers(huber_loss)[0] == pytest.approx((2.5, torch_huber(2.5, 0.0, 1.0)))
    assert any(r"\ell(2.5) = \tfrac12 \cdot 2.5^2 = 3.125" in latex.value for latex in at.latex)
    table = at.table[0].value
    assert list(table["loss"]) == ["L2", "L1", "Huber"]
    assert list(table["new ŷ"]) == pytest.approx([1.25, 2.0, 2.0])
    assert link(at) == {}


def test_moving_the_prediction_moves_every_marker_and_writes_the_url():
    at = run()
    at.slider(key="loss_y_hat").set_value(-3.5).run()
    assert not at.exception
    specs = charts(at)
    for spec in specs[:3]:
        for trace in spec["data"]:
            assert markers(trace)[0][0] == pytest.approx(-3.5)
    assert markers(specs[2]["data"][0])[0][1] == pytest.approx(torch_huber(-3.5, 0.0, 1.0))
    assert link(at)["loss_y_hat"] == "-3.5"
    at.slider(key="loss_y_hat").set_value(2.5).run()  # back to the default: the link gets shorter again
    assert "loss_y_hat" not in link(at)


@pytest.mark.parametrize("key", list(SLIDERS))
@pytest.mark.parametrize("end", [0, 1])
def test_every_slider_at_its_extremes(key, end):
    value = SLIDERS[key][end]
    at = run()
    at.slider(key=key).set_value(value).run()
    assert not at.exception and not at.error
    state = {k: (value if k == key else default) for k, (_, _, default) in SLIDERS.items()}
    y, y_hat, delta, lr = state["loss_y"], state["loss_y_hat"], state["loss_delta"], state["loss_lr"]
    specs = charts(at)
    assert len(specs) == 6
    x, loss = markers(specs[2]["data"][0])[0]  # Huber's loss marker, on the residual axis
    assert x == pytest.approx(y_hat - y) and loss == pytest.approx(torch_huber(y_hat, y, delta))
    steps = gradient_steps(y_hat, y, lr, delta)
    assert list(at.table[0].value["new ŷ"]) == pytest.approx([s.y_hat_new for s in steps])
    assert link(at)[key] == f"{value:.6g}"


def test_compare_view_on_the_prediction_axis():
    at = run()
    at.radio(key="loss_view").set_value("compare").run()
    at.radio(key="loss_axis").set_value("prediction").run()
    at.slider(key="loss_y").set_value(1.0).run()
    assert not at.exception
    specs = charts(at)
    assert len(specs) == 6
    assert [spec["layout"]["title"]["text"] for spec in specs[:3]] == [
        "loss ℓ",
        "gradient ∂ℓ/∂ŷ",
        "density p = exp(−ℓ)/Z",
    ]
    loss = specs[0]
    assert [t["name"].split(":")[0] for t in loss["data"]] == ["L2", "L1", "Huber"]
    assert markers(loss["data"][2])[0] == pytest.approx((2.5, torch_huber(2.5, 1.0, 1.0)))
    assert loss["layout"]["xaxis"]["title"]["text"] == "prediction ŷ (target y = 1)"
    # the link holds each choice as its label on screen (what the widget's URL binding reads)
    assert link(at) == {"loss_view": "Compare the three", "loss_axis": "prediction ŷ", "loss_y": "1"}


@pytest.mark.parametrize("view, axis", [("compare", "prediction"), ("Compare the three", "prediction ŷ")])
def test_a_shared_link_restores_every_control(view, axis):
    """The choices read both as their labels (what the binding writes) and as the older short names."""
    query = {
        "loss_y": "-1",
        "loss_y_hat": "4.2",
        "loss_delta": "0.5",
        "loss_range": "7",
        "loss_lr": "1.5",
        "loss_view": view,
        "loss_axis": axis,
    }
    at = run(query)
    assert not at.exception and not at.warning
    assert at.slider(key="loss_y").value == -1.0
    assert at.slider(key="loss_y_hat").value == 4.2
    assert at.slider(key="loss_delta").value == 0.5
    assert at.slider(key="loss_range").value == 7.0
    assert at.slider(key="loss_lr").value == 1.5
    assert at.radio(key="loss_view").value == "compare"
    assert at.radio(key="loss_axis").value == "prediction"
    specs = charts(at)
    assert markers(specs[0]["data"][2])[0] == pytest.approx((4.2, torch_huber(4.2, -1.0, 0.5)))
    assert specs[0]["layout"]["xaxis"]["range"] == pytest.approx([-1 - 7, -1 + 7])
    steps = gradient_steps(4.2, -1.0, 1.5, 0.5)
    assert list(at.table[0].value["new ŷ"]) == pytest.approx([s.y_hat_new for s in steps])
    assert link(at) == {**query, "loss_view": "Compare the three", "loss_axis": "prediction ŷ"}


def test_bad_link_values_warn_and_fall_back_to_defaults():
    at = run({"loss_delta": "-1", "loss_y_hat": "abc", "loss_view": "sideways", "loss_lr": "0", "loss_range": "inf"})
    assert not at.exception and not at.error
    warnings = " ".join(w.value for w in at.warning)
    for key in ("loss_delta", "loss_y_hat", "loss_view", "loss_lr", "loss_range"):
        assert key in warnings
    assert len(at.warning) == 5
    assert at.slider(key="loss_delta").value == 1.0 and at.slider(key="loss_y_hat").value == 2.5
    assert at.radio(key="loss_view").value == "each"
    assert len(charts(at)) == 6


def test_a_residual_beyond_the_range_widens_the_plot_and_says_so():
    at = run({"loss_y": "-5", "loss_y_hat": "5", "loss_range": "2"})
    assert not at.exception
    assert any("widen" in caption.value for caption in at.caption)
    specs = charts(at)
    assert specs[0]["layout"]["xaxis"]["range"] == pytest.approx([-11.0, 11.0])
    x, _ = markers(specs[0]["data"][0])[0]
    assert x == pytest.approx(10.0)


def test_reset_returns_to_defaults_and_clears_the_link():
    at = run({"loss_y_hat": "-2", "loss_view": "compare"})
    reset = next(b for b in at.button if "Reset" in b.label)
    reset.click().run()
    assert not at.exception
    assert at.slider(key="loss_y_hat").value == 2.5
    assert at.radio(key="loss_view").value == "each"
    assert link(at) == {}


@pytest.mark.parametrize("view", ["each", "compare"])
def test_every_chart_has_a_text_alternative_from_its_numbers_and_a_table_behind_it(view):
    """Issue 23 §2: the chart's accessible name (st.plotly_chart's alt) says what it shows and its values."""
    at = run({"loss_view": view})
    assert not at.exception
    alts = [chart.proto.alt for chart in at.get("plotly_chart")]
    assert len(alts) == 6 and all(alts)
    firsts = ("L2", "L1", "Huber") if view == "each" else ("loss ℓ", "gradient", "density")
    for alt, first in zip(alts[:3], firsts):
        assert alt.startswith(first) and "d = 2.5" in alt
    huber = torch_huber(2.5, 0.0, 1.0)  # the default: y = 0, ŷ = 2.5, δ = 1
    assert f"{huber:.4g}" in (alts[2] if view == "each" else alts[0])
    assert [alt.split()[0] for alt in alts[3:]] == ["L2", "L1", "Huber"]  # one gradient step each
    behind = next(e for e in at.expander if "numbers behind the curves" in e.label)
    assert len(behind.table) == 1
