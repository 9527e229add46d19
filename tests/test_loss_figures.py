"""The loss page's figures carry the values torch gives: curves, gradients (autograd), markers, steps."""

import copy
import json
import re
from unittest import mock

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
import torch.nn.functional as F
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from softmax_core.figures import loss_figures
from softmax_core.figures.loss_figures import (
    ARROW,
    LOSS_SYMBOLS,
    QUANTITIES,
    QUANTITY_LABELS,
    compare_figure,
    compare_figure_alt,
    curve_records,
    curve_x,
    fmt,
    gradient_step_alt,
    gradient_step_figures,
    loss_formulas,
    one_loss_figure,
    one_loss_figure_alt,
    view_half_width,
)
from softmax_core.figures.style import PALETTE_SIZE, drawn_traces, projector_fonts
from softmax_core.gradient_step import gradient_steps
from softmax_core.losses import LOSSES, huber

pytestmark = pytest.mark.unit

TORCH_LOSSES = {
    "L2": lambda y_hat, y, delta: 0.5 * F.mse_loss(y_hat, y, reduction="none"),
    "L1": lambda y_hat, y, delta: F.l1_loss(y_hat, y, reduction="none"),
    "Huber": lambda y_hat, y, delta: F.huber_loss(y_hat, y, reduction="none", delta=delta),
}


def reference(name, quantity, x, target, delta):
    """Loss from torch.nn.functional, gradient from torch.autograd, likelihood = torch's Normal / Laplace density.

    Huber's density has no torch distribution: exp(-loss) divided by its integral, taken numerically here.
    """
    x = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    y = torch.full_like(x, float(target))
    loss = TORCH_LOSSES[name](x, y, delta)
    if quantity == "loss":
        return loss.detach().numpy()
    if quantity == "likelihood":
        d = (x - y).detach()
        zero, one = torch.zeros((), dtype=torch.float64), torch.ones((), dtype=torch.float64)
        if name == "L2":
            return torch.distributions.Normal(zero, one).log_prob(d).exp().numpy()
        if name == "L1":
            return torch.distributions.Laplace(zero, one).log_prob(d).exp().numpy()
        grid = torch.linspace(-80 - 200 / delta, 80 + 200 / delta, 800_001, dtype=torch.float64)
        z = torch.trapezoid(torch.exp(-F.huber_loss(grid, torch.zeros_like(grid), reduction="none", delta=delta)), grid)
        return (torch.exp(-loss) / z).detach().numpy()
    (grad,) = torch.autograd.grad(loss.sum(), x)
    return grad.numpy()


def marker(trace, which=0):
    i = trace.selectedpoints[which]
    return trace.x[i], trace.y[i]


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("axis, target", [("residual", 0.0), ("prediction", 1.3)])
def test_one_loss_curves_equal_torch_at_their_x(name, axis, target):
    y_hat, y, delta = 3.1, 1.3, 0.7
    fig = one_loss_figure(name, y_hat, y, delta, 4.0, axis)
    assert [t.name for t in drawn_traces(fig)] == list(QUANTITIES)
    for trace in drawn_traces(fig):
        tol = 1e-7 if trace.name == "likelihood" else 1e-12  # Huber's reference Z is a numeric integral
        np.testing.assert_allclose(trace.y, reference(name, trace.name, trace.x, target, delta), rtol=tol, atol=1e-12)


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("axis", ["residual", "prediction"])
def test_one_loss_markers_show_the_current_values(name, axis):
    y_hat, y, delta = -2.4, 0.5, 1.5
    fig = one_loss_figure(name, y_hat, y, delta, 4.0, axis)
    expected_x = y_hat - y if axis == "residual" else y_hat
    for trace in drawn_traces(fig):
        x, value = marker(trace)
        assert x == pytest.approx(expected_x, abs=1e-12)
        truth = reference(name, trace.name, [y_hat], y, delta)[0]  # at the real (y_hat, y), not at the plotted x
        assert value == pytest.approx(truth, rel=1e-7, abs=1e-12)
        title = next(a.text for a in fig.layout.annotations if a.yref == trace.yaxis + " domain")
        assert title.endswith(f"<b>{fmt(truth)}</b>")


def test_huber_marker_equals_huber_of_the_prediction():
    y_hat, y, delta = 2.7, -0.4, 1.2
    fig = one_loss_figure("Huber", y_hat, y, delta, 5.0)
    _, value = marker(drawn_traces(fig)[0])
    assert value == float(huber(torch.tensor(y_hat, dtype=torch.float64), torch.tensor(y, dtype=torch.float64), delta))
    assert value == pytest.approx(float(F.huber_loss(torch.tensor(y_hat), torch.tensor(y), delta=delta)), rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(list(LOSSES)), st.floats(-5, 5), st.floats(-5, 5), st.floats(0.1, 5), st.floats(1, 10))
def test_marker_is_on_screen_and_on_its_curve(name, y_hat, y, delta, plot_range):
    fig = one_loss_figure(name, y_hat, y, delta, plot_range)
    lo, hi = fig.layout.xaxis.range
    for trace in drawn_traces(fig):
        x, value = marker(trace)
        assert lo <= x <= hi
        assert value == pytest.approx(reference(name, trace.name, [y_hat], y, delta)[0], rel=1e-7, abs=1e-12)
        assert np.all(np.diff(trace.x) > 0)  # sorted, so the line is drawn left to right


def test_the_range_widens_only_when_the_marker_would_fall_off():
    assert view_half_width(4.0, 2.5) == 4.0
    assert view_half_width(4.0, -6.0) == pytest.approx(6.6)
    fig = one_loss_figure("L2", 5.0, -5.0, 1.0, 2.0)
    assert fig.layout.xaxis.range == pytest.approx((-11.0, 11.0))


def test_curve_grid_holds_the_marked_points_exactly():
    xs, idx = curve_x(0.0, 3.0, (1.2345, -2.0))
    assert xs[idx[0]] == 1.2345 and xs[idx[1]] == -2.0
    assert len(xs) == 301 + 1  # -2.0 is on the even grid already, 1.2345 is inserted


@pytest.mark.parametrize("quantity", QUANTITIES)
@pytest.mark.parametrize("axis", ["residual", "prediction"])
def test_compare_overlays_three_losses_with_values_in_the_legend(quantity, axis):
    y_hat, y, delta = 1.8, -0.6, 0.9
    fig = compare_figure(quantity, y_hat, y, delta, 3.0, axis)
    assert [t.name.split(":")[0] for t in fig.data] == ["L2", "L1", "Huber"]
    target = 0.0 if axis == "residual" else y
    for name, trace in zip(LOSSES, fig.data):
        np.testing.assert_allclose(trace.y, reference(name, quantity, trace.x, target, delta), rtol=1e-12, atol=1e-12)
        truth = reference(name, quantity, [y_hat], y, delta)[0]
        assert marker(trace)[1] == pytest.approx(truth, abs=1e-12)
        assert trace.name == f"{name}: {fmt(truth)}"


@pytest.mark.parametrize("axis", ["residual", "prediction"])
@pytest.mark.parametrize("lr", [0.3, 1.0, 2.2])
def test_gradient_step_figure_marks_both_ends_of_each_step(axis, lr):
    y_hat, y, delta = 3.0, 0.5, 1.0
    steps = gradient_steps(y_hat, y, lr, delta)
    figures = gradient_step_figures(steps, delta, 4.0, axis)
    shift = y if axis == "residual" else 0.0
    for fig, step in zip(figures, steps):
        [trace] = drawn_traces(fig)
        param = torch.tensor([y_hat], dtype=torch.float64, requires_grad=True)  # the torch reference step
        optimizer = torch.optim.SGD([param], lr=lr)
        TORCH_LOSSES[step.loss](param, torch.tensor([y], dtype=torch.float64), delta).sum().backward()
        optimizer.step()
        new = float(param.detach())
        (x0, l0), (x1, l1) = marker(trace, 0), marker(trace, 1)
        assert x0 == pytest.approx(y_hat - shift) and x1 == pytest.approx(new - shift, abs=1e-12)
        assert l0 == pytest.approx(
            float(TORCH_LOSSES[step.loss](torch.tensor(y_hat), torch.tensor(y), delta)), rel=1e-6
        )
        assert l1 == pytest.approx(float(TORCH_LOSSES[step.loss](torch.tensor(new), torch.tensor(y), delta)), rel=1e-6)
        assert trace.marker.symbol[trace.selectedpoints[0]] == LOSS_SYMBOLS[step.loss]  # the loss's own marker
        assert trace.marker.symbol[trace.selectedpoints[1]] == ARROW
        curve_x, curve_y = trace.x[:-4], trace.y[:-4]  # the curve, a gap, then the step: start, start, end
        assert (
            np.isnan(trace.x[-4])
            and np.isnan(trace.y[-4])
            and trace.selectedpoints == (len(trace.x) - 2, len(trace.x) - 1)
        )
        np.testing.assert_allclose(
            curve_y, reference(step.loss, "loss", curve_x, y - shift, delta), rtol=1e-12, atol=1e-12
        )
        lo, hi = fig.layout.xaxis.range
        assert lo <= min(x0, x1) and max(x0, x1) <= hi  # the landing point is on screen, even far away


def _colour_keys(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            if "color" in key.lower():
                yield f"{path}.{key}"
            yield from _colour_keys(value, f"{path}.{key}")
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _colour_keys(value, f"{path}[{i}]")


def test_figures_leave_every_colour_to_the_theme():
    steps = gradient_steps(2.0, 0.0, 0.5, 1.0)
    figures = [
        one_loss_figure("Huber", 2.0, 0.0, 1.0, 4.0),
        compare_figure("gradient", 2.0, 0.0, 1.0, 4.0),
        *gradient_step_figures(steps, 1.0, 4.0),
    ]
    for fig in figures:
        spec = fig.to_plotly_json()
        spec["layout"].pop("template", None)  # plotly's default template, not ours
        assert list(_colour_keys(spec)) == []


def _number_after_last_equals(latex):
    return float(re.findall(r"=\s*(-?[\d.]+(?:e[-+]?\d+)?)\s*$", latex)[0])


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("y_hat, y, delta", [(2.5, 0.0, 1.0), (-0.3, 0.2, 1.0), (-4.0, 1.0, 2.0)])
def test_formulas_show_the_current_numbers(name, y_hat, y, delta):
    lines = loss_formulas(name, y_hat, y, delta)
    loss = reference(name, "loss", [y_hat], y, delta)[0]
    grad = reference(name, "gradient", [y_hat], y, delta)[0]
    assert _number_after_last_equals(lines[1]) == pytest.approx(loss, rel=1e-3)
    assert _number_after_last_equals(lines[2]) == pytest.approx(grad, rel=1e-3)
    assert lines[1].startswith(rf"\ell({fmt(y_hat - y)})")


def test_huber_formula_uses_the_branch_the_residual_is_in():
    assert r"\tfrac12 \cdot 0.5^2" in loss_formulas("Huber", 0.5, 0.0, 1.0)[1]
    assert r"1\,(|3| - \tfrac12 \cdot 1)" in loss_formulas("Huber", 3.0, 0.0, 1.0)[1]


def test_bad_axis_or_quantity_is_refused():
    with pytest.raises(ValueError, match="axis"):
        one_loss_figure("L2", 1.0, 0.0, 1.0, 3.0, axis="sideways")
    with pytest.raises(ValueError, match="quantity"):
        compare_figure("curvature", 1.0, 0.0, 1.0, 3.0)
    with pytest.raises(ValueError, match="delta"):
        one_loss_figure("Huber", 1.0, 0.0, -1.0, 3.0)


@pytest.mark.parametrize("name", list(LOSSES))
def test_colour_means_the_loss_in_every_figure_of_the_page(name):
    """One loss's three quantities share its colour slot, the slot its curve has in the overlays and step plot."""
    slot = list(LOSSES).index(name)
    one = one_loss_figure(name, 1.0, 0.0, 1.0, 4.0)
    assert [i % PALETTE_SIZE for i, t in enumerate(one.data) if t in drawn_traces(one)] == [slot] * 3
    compare = compare_figure("loss", 1.0, 0.0, 1.0, 4.0)
    assert compare.data[slot].name.startswith(name)
    step = gradient_step_figures(gradient_steps(1.0, 0.0, 0.5, 1.0), 1.0, 4.0)[slot]
    assert step.data[slot].name == name and drawn_traces(step) == [step.data[slot]]


@pytest.mark.parametrize("name", list(LOSSES))
def test_the_likelihood_plot_shows_the_whole_normalised_peak(name):
    delta = 0.7
    fig = one_loss_figure(name, 0.0, 0.0, delta, 4.0)
    density = drawn_traces(fig)[2]
    low, high = fig.layout.yaxis3.range
    assert low < 0 < max(density.y) < high
    assert "density" in " ".join(a.text for a in fig.layout.annotations)


# ---------------------------------------------------------------- text alternatives (issue 23 §2)
NUMBER = r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"


def _after(text: str, words: str) -> float:
    """The number written right after ``words`` in a text alternative."""
    return float(re.search(re.escape(words) + NUMBER, text).group(1))


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(list(LOSSES)),
    st.sampled_from(["residual", "prediction"]),
    st.floats(-5, 5),
    st.floats(-5, 5),
    st.floats(0.1, 5),
    st.floats(1, 10),
)
def test_one_loss_alt_gives_the_values_at_the_marker_and_the_plotted_range(name, axis, y_hat, y, delta, plot_range):
    text = one_loss_figure_alt(name, y_hat, y, delta, plot_range, axis)
    assert text.startswith(name)
    for q in QUANTITIES:  # loss from torch.nn.functional, gradient from autograd, density from torch.distributions
        truth = reference(name, q, [y_hat], y, delta)[0]
        assert _after(text, f"{QUANTITY_LABELS[q]} = ") == pytest.approx(truth, rel=1e-3, abs=1e-4)
    lo, hi = one_loss_figure(name, y_hat, y, delta, plot_range, axis).layout.xaxis.range  # as drawn
    assert _after(text, "from ") == pytest.approx(lo, rel=1e-3, abs=1e-3)
    assert _after(text, " to ") == pytest.approx(hi, rel=1e-3, abs=1e-3)


@pytest.mark.parametrize("quantity", QUANTITIES)
@pytest.mark.parametrize("axis", ["residual", "prediction"])
def test_compare_alt_gives_each_losss_value_and_how_it_is_drawn(quantity, axis):
    y_hat, y, delta = 1.8, -0.6, 0.9
    text = compare_figure_alt(quantity, y_hat, y, delta, 3.0, axis)
    fig = compare_figure(quantity, y_hat, y, delta, 3.0, axis)
    values = text.split("At the marker")[1]
    for name, trace in zip(LOSSES, fig.data):
        truth = reference(name, quantity, [y_hat], y, delta)[0]
        assert _after(values, f"{name} ") == pytest.approx(truth, rel=1e-3, abs=1e-4)
        dash = {"solid": "solid", "dash": "dashed", "dot": "dotted"}[trace.line.dash]
        assert f"{name} ({dash} line, {trace.marker.symbol})" in text  # the words match the figure


@pytest.mark.parametrize("lr", [0.3, 1.0, 2.2])
def test_gradient_step_alt_gives_where_the_torch_step_lands(lr):
    y_hat, y, delta = 3.0, 0.5, 1.0
    for step in gradient_steps(y_hat, y, lr, delta):
        param = torch.tensor([y_hat], dtype=torch.float64, requires_grad=True)  # the torch reference step
        optimizer = torch.optim.SGD([param], lr=lr)
        TORCH_LOSSES[step.loss](param, torch.tensor([y], dtype=torch.float64), delta).sum().backward()
        optimizer.step()
        new = float(param.detach())
        after = float(TORCH_LOSSES[step.loss](torch.tensor(new), torch.tensor(y), delta))
        text = gradient_step_alt(step)
        assert text.startswith(step.loss)
        assert _after(text, "moves by ") == pytest.approx(new - y_hat, rel=1e-3)
        assert _after(text, f"from {fmt(y_hat)} (loss ") == pytest.approx(
            float(TORCH_LOSSES[step.loss](torch.tensor(y_hat), torch.tensor(y), delta)), rel=1e-3
        )
        assert _after(text, ") to ") == pytest.approx(new, rel=1e-3, abs=1e-4)
        assert _after(text, f"to {fmt(step.y_hat_new)} (loss ") == pytest.approx(after, rel=1e-3, abs=1e-6)


def test_each_loss_has_its_own_dash_and_marker_in_every_figure():
    """Colour is never the only code: L2, L1 and Huber differ by dash and by marker wherever they are drawn."""
    styles = {}
    steps = gradient_steps(1.0, 0.0, 0.5, 1.0)
    for name, step_fig in zip(LOSSES, gradient_step_figures(steps, 1.0, 4.0)):
        [step_trace] = drawn_traces(step_fig)
        seen = {(t.line.dash, t.marker.symbol) for t in drawn_traces(one_loss_figure(name, 1.0, 0.0, 1.0, 4.0))}
        seen |= {
            (t.line.dash, t.marker.symbol)
            for t in compare_figure("loss", 1.0, 0.0, 1.0, 4.0).data
            if t.name.startswith(name)
        }
        seen.add((step_trace.line.dash, step_trace.marker.symbol[step_trace.selectedpoints[0]]))
        assert len(seen) == 1, (name, seen)  # the same in every figure
        styles[name] = seen.pop()
    dashes, symbols = {d for d, _ in styles.values()}, {s for _, s in styles.values()}
    assert len(dashes) == len(symbols) == len(LOSSES)


def test_the_curve_table_holds_the_curves_numbers():
    y_hat, y, delta = 2.5, 0.0, 1.0
    rows = curve_records(y_hat, y, delta, 4.0)
    current = [r for r in rows if r["at"] == "current"]
    assert [r["loss"] for r in current] == list(LOSSES) and {r["d"] for r in current} == {2.5}
    points = [r["d"] for r in rows[:: len(LOSSES)]]
    assert points == sorted(points) and points[0] == -4.0 and points[-1] == 4.0 and len(rows) == 10 * len(LOSSES)
    for row in rows:
        for q, symbol in (("loss", "ℓ"), ("gradient", "∂ℓ/∂ŷ"), ("likelihood", "p")):
            truth = reference(row["loss"], q, [row["d"]], 0.0, delta)[0]
            assert row[symbol] == pytest.approx(truth, abs=2e-6)


def _figure_through_plotly(data, title, height, **layout):
    """How the losses' figures were built before their fonts were set on the plain layout: projector_fonts."""
    style = copy.deepcopy(loss_figures._style(title, height))
    return projector_fonts(go.Figure(data=data, layout={**style, **layout}))


@given(
    y_hat=st.floats(-5, 5),
    y=st.floats(-5, 5),
    delta=st.floats(0.1, 5),
    plot_range=st.floats(1, 10),
    lr=st.floats(0.05, 2.5),
    axis=st.sampled_from(["residual", "prediction"]),
)
@settings(
    max_examples=10, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate)
)  # no shrinking: 9 figures twice an example
def test_fonts_set_on_the_plain_layout_send_what_plotlys_updates_sent(y_hat, y, delta, plot_range, lr, axis):
    def every_figure():
        steps = gradient_steps(y_hat, y, lr, delta)
        return [
            *(one_loss_figure(name, y_hat, y, delta, plot_range, axis) for name in LOSSES),
            *(compare_figure(q, y_hat, y, delta, plot_range, axis) for q in QUANTITIES),
            *gradient_step_figures(steps, delta, plot_range, axis),
        ]

    now = [json.loads(fig.to_json()) for fig in every_figure()]
    with mock.patch.object(loss_figures, "_figure", _figure_through_plotly):
        before = [json.loads(fig.to_json()) for fig in every_figure()]
    assert now == before  # the same JSON, its keys perhaps in another order
