"""L2 / L1 / Huber, their derivatives (vs autograd) and likelihoods (vs torch losses)."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from softmax_core.losses import LOSSES, huber, huber_grad, huber_normaliser, l1, l1_grad, l2, l2_grad, likelihood

pytestmark = pytest.mark.unit

Y_HAT = torch.linspace(-5, 5, 41, dtype=torch.float64)
Y = torch.full_like(Y_HAT, 0.3)


def test_l2_is_half_mse():
    torch.testing.assert_close(l2(Y_HAT, Y), 0.5 * F.mse_loss(Y_HAT, Y, reduction="none"))


def test_l1_matches_l1_loss():
    torch.testing.assert_close(l1(Y_HAT, Y), F.l1_loss(Y_HAT, Y, reduction="none"))


@pytest.mark.parametrize("delta", [0.1, 1.0, 2.5])
def test_huber_matches_huber_loss(delta):
    torch.testing.assert_close(huber(Y_HAT, Y, delta), F.huber_loss(Y_HAT, Y, reduction="none", delta=delta))


def _autograd(loss_fn, y_hat, y):
    y_hat = y_hat.clone().requires_grad_(True)
    loss_fn(y_hat, y).sum().backward()
    return y_hat.grad


@pytest.mark.parametrize("delta", [0.25, 1.0, 3.0])
def test_gradients_match_autograd_of_torch_losses(delta):
    # Skip the kinks (d = 0 for L1, |d| = delta for Huber) where the derivative is one-sided.
    y_hat = torch.tensor([-4.1, -1.3, -0.6, 0.05, 0.7, 1.9, 4.4], dtype=torch.float64)
    y = torch.zeros_like(y_hat)
    torch.testing.assert_close(
        l2_grad(y_hat, y), _autograd(lambda a, b: 0.5 * F.mse_loss(a, b, reduction="none"), y_hat, y)
    )
    torch.testing.assert_close(l1_grad(y_hat, y), _autograd(lambda a, b: F.l1_loss(a, b, reduction="none"), y_hat, y))
    torch.testing.assert_close(
        huber_grad(y_hat, y, delta), _autograd(lambda a, b: F.huber_loss(a, b, reduction="none", delta=delta), y_hat, y)
    )


@pytest.mark.parametrize("name", ["L2", "L1", "Huber"])
def test_our_losses_pass_gradcheck_and_our_grads_equal_autograd(name):
    loss = LOSSES[name]
    y_hat = torch.tensor([-2.7, -0.4, 0.35, 1.6, 3.2], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.1, 0.1, -0.2, 0.0, 1.0], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a: loss(a, y, 1.0), (y_hat,))
    (auto,) = torch.autograd.grad(loss(y_hat, y, 1.0).sum(), y_hat)
    torch.testing.assert_close(loss.gradient(y_hat.detach(), y, 1.0), auto)


@settings(max_examples=200, deadline=None)
@given(st.floats(-100, 100), st.floats(-100, 100), st.floats(0.01, 10))
def test_huber_lies_between_l1_and_l2_scaled(y_hat, y, delta):
    d = abs(y_hat - y)
    a, b = torch.tensor(y_hat, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    assert float(huber(a, b, delta)) <= 0.5 * d * d + 1e-9
    assert float(huber(a, b, delta)) <= delta * d + 1e-9
    assert abs(float(huber_grad(a, b, delta))) <= delta


def test_likelihood_is_exp_of_minus_loss():
    torch.testing.assert_close(likelihood(l2(Y_HAT, Y)), torch.exp(-0.5 * (Y_HAT - Y) ** 2))
    torch.testing.assert_close(LOSSES["L1"].likelihood(Y_HAT, Y), torch.exp(-(Y_HAT - Y).abs()))
    assert float(likelihood(0.0)) == 1.0


@pytest.mark.parametrize("delta", [0, -1, float("nan"), float("inf"), "wide"])
def test_bad_delta_raises(delta):
    with pytest.raises(ValueError, match="delta"):
        huber([1.0], [0.0], delta)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="element by element"):
        l2([1.0, 2.0, 3.0], [1.0, 2.0])


def test_non_numbers_raise():
    with pytest.raises(ValueError, match="numbers"):
        l1(["a"], [1.0])


def _integral(f, half_width=60.0, points=600_001) -> float:
    """Trapezoid rule on a fine grid, far into the tails (float64): an independent check of Z."""
    d = torch.linspace(-half_width, half_width, points, dtype=torch.float64)
    return float(torch.trapezoid(f(d), d))


@pytest.mark.parametrize(
    "name, delta", [("L2", 1.0), ("L1", 1.0), ("Huber", 1.0), ("Huber", 0.1), ("Huber", 2.0), ("Huber", 5.0)]
)
def test_each_density_integrates_to_one(name, delta):
    loss = LOSSES[name]
    total = _integral(lambda d: loss.density(d, torch.zeros_like(d), delta), half_width=60 + 200 / delta)
    assert total == pytest.approx(1.0, abs=1e-6)


def test_unnormalised_likelihoods_do_not_integrate_to_one():
    """The issue's numbers: exp(-|d|) integrates to 2, exp(-d^2/2) to sqrt(2 pi)."""
    assert _integral(lambda d: LOSSES["L1"].likelihood(d, torch.zeros_like(d))) == pytest.approx(2.0, abs=1e-6)
    assert _integral(lambda d: LOSSES["L2"].likelihood(d, torch.zeros_like(d))) == pytest.approx(math.sqrt(2 * math.pi))


def test_l2_and_l1_densities_are_torch_gaussian_and_laplace():
    d = torch.linspace(-6, 6, 121, dtype=torch.float64)
    zero = torch.zeros_like(d)
    gaussian = torch.distributions.Normal(0.0, 1.0).log_prob(d).exp()
    laplace = torch.distributions.Laplace(0.0, 1.0).log_prob(d).exp()
    torch.testing.assert_close(LOSSES["L2"].density(d, zero), gaussian)
    torch.testing.assert_close(LOSSES["L1"].density(d, zero), laplace)


@settings(max_examples=50, deadline=None)
@given(st.floats(0.05, 8))
def test_huber_normaliser_matches_numeric_integration(delta):
    numeric = _integral(lambda d: torch.exp(-huber(d, 0.0, delta)), half_width=60 + 200 / delta, points=400_001)
    assert huber_normaliser(delta) == pytest.approx(numeric, rel=1e-6)
