"""One SGD step under each loss, checked against torch.optim.SGD on the torch losses."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from softmax_core.gradient_step import check_learning_rate, gradient_step, gradient_steps, step_table
from softmax_core.losses import LOSSES

pytestmark = pytest.mark.unit

TORCH_LOSSES = {
    "L2": lambda y_hat, y, delta: 0.5 * F.mse_loss(y_hat, y),
    "L1": lambda y_hat, y, delta: F.l1_loss(y_hat, y),
    "Huber": lambda y_hat, y, delta: F.huber_loss(y_hat, y, delta=delta),
}


def torch_sgd_step(name, y_hat, y, lr, delta):
    """The reference: a parameter, the torch loss, backward, optimizer.step()."""
    param = torch.tensor([y_hat], dtype=torch.float64, requires_grad=True)
    target = torch.tensor([y], dtype=torch.float64)
    optimizer = torch.optim.SGD([param], lr=lr)
    optimizer.zero_grad()
    before = TORCH_LOSSES[name](param, target, delta)
    before.backward()
    grad = float(param.grad)
    optimizer.step()
    with torch.no_grad():
        after = TORCH_LOSSES[name](param, target, delta)
    return grad, float(param.detach()), float(before.detach()), float(after)


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize(
    "y_hat, y, lr, delta",
    [
        (3.0, 0.0, 0.5, 1.0),
        (-4.2, 1.3, 0.1, 0.5),
        (0.4, 0.0, 2.2, 1.0),
        (2.5, 1.0, 1.0, 2.0),
        (-0.3, -0.3, 0.7, 1.0),
        (1.5, 0.5, 0.25, 1.0),
    ],  # the last sits exactly on Huber's kink |d| = delta
)
def test_step_matches_torch_optim_sgd(name, y_hat, y, lr, delta):
    grad, new, before, after = torch_sgd_step(name, y_hat, y, lr, delta)
    step = gradient_step(name, y_hat, y, lr, delta)
    assert step.gradient == pytest.approx(grad, abs=1e-12)
    assert step.y_hat_new == pytest.approx(new, abs=1e-12)
    assert step.step == pytest.approx(new - y_hat, abs=1e-12)
    assert step.loss_before == pytest.approx(before, abs=1e-12)
    assert step.loss_after == pytest.approx(after, abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(list(LOSSES)),
    st.floats(-50, 50),
    st.floats(-50, 50),
    st.floats(0.001, 5),
    st.floats(0.05, 10),
)
def test_step_matches_torch_for_any_input(name, y_hat, y, lr, delta):
    grad, new, before, after = torch_sgd_step(name, y_hat, y, lr, delta)
    step = gradient_step(name, y_hat, y, lr, delta)
    assert step.y_hat_new == pytest.approx(new, rel=1e-12, abs=1e-12)
    assert step.loss_after == pytest.approx(after, rel=1e-9, abs=1e-9)
    assert step.loss_before == pytest.approx(before, rel=1e-12, abs=1e-12)


@settings(max_examples=150, deadline=None)
@given(st.floats(-20, 20), st.floats(-20, 20), st.floats(0.01, 3), st.floats(0.05, 5))
def test_l2_scales_with_distance_l1_is_constant_huber_blends(y_hat, y, lr, delta):
    l2, l1, hub = gradient_steps(y_hat, y, lr, delta)
    d = y_hat - y
    assert l2.step == pytest.approx(-lr * d, abs=1e-12)
    if d != 0:
        assert abs(l1.step) == pytest.approx(lr)
    if abs(d) <= delta:
        assert hub.step == pytest.approx(l2.step, abs=1e-12)  # quadratic zone: Huber steps like L2
    else:
        assert hub.step == pytest.approx(delta * l1.step, abs=1e-12)  # linear zone: like L1, scaled by delta
    assert abs(hub.step) <= lr * delta + 1e-12


def test_far_from_the_target_l2_takes_the_big_step():
    l2, l1, hub = gradient_steps(y_hat=8.0, y=0.0, lr=0.1, delta=1.0)
    assert (l2.step, l1.step, hub.step) == pytest.approx((-0.8, -0.1, -0.1))
    assert l2.y_hat_new == pytest.approx(7.2)


@pytest.mark.parametrize(
    "lr, outcome",
    [
        (0.5, "loss falls"),
        (1.0, "loss falls to 0: lands on the target"),
        (1.5, "loss falls (overshoots the target)"),
        (2.0, "loss stays the same: oscillates"),
        (2.5, "loss rises: diverges"),
    ],
)
def test_l2_outcome_depends_on_the_learning_rate(lr, outcome):
    step = gradient_step("L2", 2.0, 0.0, lr)
    assert step.outcome == outcome
    assert step.crosses_target == (lr > 1.0)


def _torch_outcome(name, y_hat, y, lr, delta):
    """The three outcomes from the reference's losses alone: falls, stays the same, rises."""
    _, _, before, after = torch_sgd_step(name, y_hat, y, lr, delta)
    return "same" if after == pytest.approx(before, rel=1e-9, abs=1e-12) else ("rises" if after > before else "falls")


def test_the_issue_case_equal_losses_is_named_oscillation_not_a_fall():
    """y_hat = 0.5, delta = 2, lr = 2: L2 and Huber go from 0.125 to 0.125; L1 jumps from 0.5 to 1.5."""
    l2, l1, hub = gradient_steps(0.5, 0.0, 2.0, 2.0)
    for step in (l2, hub):
        assert step.loss_before == pytest.approx(0.125) and step.loss_after == pytest.approx(0.125)
        assert _torch_outcome(step.loss, 0.5, 0.0, 2.0, 2.0) == "same"
        assert step.outcome == "loss stays the same: oscillates"
    assert _torch_outcome("L1", 0.5, 0.0, 2.0, 2.0) == "rises"
    assert l1.outcome == "loss rises: bounces (capped step)"


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("lr, expected", [(1.9, "falls"), (2.0, "same"), (2.1, "rises")])
def test_each_outcome_at_the_l2_and_huber_boundary_lr_2(name, lr, expected):
    """Inside Huber's zone (|d| <= delta) L2 and Huber flip at lr = 2; L1 flips where lr = 2|d|."""
    y_hat = 0.5 if name != "L1" else 1.0  # L1: |d| = 1 puts its boundary at lr = 2 too
    assert _torch_outcome(name, y_hat, 0.0, lr, 2.0) == expected
    words = {"falls": "loss falls", "same": "loss stays the same", "rises": "loss rises"}[expected]
    assert gradient_step(name, y_hat, 0.0, lr, 2.0).outcome.startswith(words)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(LOSSES)), st.floats(-20, 20), st.floats(-20, 20), st.floats(0.01, 5), st.floats(0.05, 5))
def test_outcome_agrees_with_the_torch_losses(name, y_hat, y, lr, delta):
    step = gradient_step(name, y_hat, y, lr, delta)
    expected = _torch_outcome(name, y_hat, y, lr, delta)
    words = {"falls": "loss falls", "same": "loss stays the same", "rises": "loss rises"}[expected]
    assert step.outcome.startswith(words) or step.outcome == "no move (gradient 0)"


def test_a_rising_l2_loss_keeps_rising_when_the_step_is_repeated():
    """'diverges' is true of L2: three more steps at lr 2.5 from a rise keep growing the loss."""
    losses, y_hat = [], 0.5
    for _ in range(4):
        step = gradient_step("L2", y_hat, 0.0, 2.5)
        losses.append(step.loss_after)
        y_hat = step.y_hat_new
    assert losses == sorted(losses) and losses[-1] > 10 * losses[0]


def test_at_the_target_nothing_moves():
    for step in gradient_steps(1.5, 1.5, 0.7, 1.0):
        assert step.step == 0 and step.outcome == "no move (gradient 0)"


def test_l1_oscillates_when_the_step_is_longer_than_the_distance():
    step = gradient_step("L1", 0.2, 0.0, 0.5)
    assert step.y_hat_new == pytest.approx(-0.3)
    assert step.crosses_target and step.loss_change > 0


def test_step_table_has_one_row_per_loss_with_the_step_values():
    steps = gradient_steps(3.0, 0.5, 0.4, 1.0)
    rows = step_table(steps)
    assert [row["loss"] for row in rows] == ["L2", "L1", "Huber"]
    for row, step in zip(rows, steps):
        assert row["step −η·∂ℓ/∂ŷ"] == step.step
        assert row["new ŷ"] == step.y_hat_new
        assert row["loss after"] == step.loss_after
        assert row["what happens"] == step.outcome


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf"), "fast", None])
def test_bad_learning_rate_is_refused_with_a_message(lr):
    with pytest.raises(ValueError, match="learning rate"):
        check_learning_rate(lr)
    with pytest.raises(ValueError, match="learning rate"):
        gradient_step("L2", 1.0, 0.0, lr)


def test_bad_inputs_are_refused_with_a_message():
    with pytest.raises(ValueError, match="unknown loss"):
        gradient_step("L3", 1.0, 0.0, 0.1)
    with pytest.raises(ValueError, match="y_hat must be a finite number"):
        gradient_step("L2", float("nan"), 0.0, 0.1)
    with pytest.raises(ValueError, match="y must be a number"):
        gradient_step("L2", 1.0, "zero", 0.1)
    with pytest.raises(ValueError, match="delta"):
        gradient_step("Huber", 1.0, 0.0, 0.1, delta=0)
