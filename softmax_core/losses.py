r"""The regression losses of the chapter, their derivatives and likelihoods.

With residual :math:`d = \hat y - y`:

* L2:    :math:`\tfrac12 d^2`, derivative :math:`d`
* L1:    :math:`|d|`, derivative :math:`\mathrm{sign}(d)`
* Huber: :math:`\tfrac12 d^2` if :math:`|d| \le \delta`, else
  :math:`\delta(|d| - \tfrac12\delta)`; derivative :math:`d` clipped to
  :math:`[-\delta, \delta]`

Each loss is a negative log-likelihood up to a constant: the noise density it assumes is
:math:`p(d) = \exp(-\ell(d)) / Z`, Gaussian for L2 (:math:`Z = \sqrt{2\pi}`), Laplace for L1
(:math:`Z = 2`), and for Huber a Gaussian middle with Laplace tails
(:math:`Z_\delta = \sqrt{2\pi}\,\mathrm{erf}(\delta/\sqrt2) + 2 e^{-\delta^2/2}/\delta`).
Dividing by Z makes each integrate to 1, so the three curves can be compared on one axis;
``exp(-loss)`` alone cannot (L1's integrates to 2, L2's to 2.507).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from softmax_core.validation import as_float_tensor, positive_number


def _residual(y_hat, y) -> torch.Tensor:
    prediction = as_float_tensor(y_hat, "y_hat")
    target = as_float_tensor(y, "y")
    try:
        return prediction - target
    except RuntimeError as exc:
        raise ValueError(
            f"y_hat of shape {tuple(prediction.shape)} and y of shape {tuple(target.shape)} "
            "cannot be compared element by element"
        ) from exc


def _check_delta(delta) -> float:
    return positive_number(delta, "Huber's delta")


def l2(y_hat, y) -> torch.Tensor:
    """Squared loss ``0.5 * (y_hat - y)**2``: the 0.5 makes the derivative plain ``d``."""
    return 0.5 * _residual(y_hat, y) ** 2


def l2_grad(y_hat, y) -> torch.Tensor:
    """d/dy_hat of L2 is the residual: the pull grows with the distance."""
    return _residual(y_hat, y)


def l1(y_hat, y) -> torch.Tensor:
    """Absolute loss ``|y_hat - y|``: robust to outliers."""
    return _residual(y_hat, y).abs()


def l1_grad(y_hat, y) -> torch.Tensor:
    """d/dy_hat of L1 is ``sign(d)``: the same pull at any distance (0 at d = 0)."""
    return torch.sign(_residual(y_hat, y))


def huber(y_hat, y, delta: float = 1.0) -> torch.Tensor:
    """Quadratic within ``delta`` of the target, linear beyond (delta = 1: the chapter's)."""
    d = _residual(y_hat, y)
    delta = _check_delta(delta)
    absolute = d.abs()
    return torch.where(absolute <= delta, 0.5 * d**2, delta * (absolute - 0.5 * delta))


def huber_grad(y_hat, y, delta: float = 1.0) -> torch.Tensor:
    """d/dy_hat of Huber: the residual clipped to ``[-delta, delta]``."""
    return _residual(y_hat, y).clamp(-_check_delta(delta), _check_delta(delta))


def likelihood(loss) -> torch.Tensor:
    """``exp(-loss)``: the (unnormalised) density whose negative log is the loss."""
    return torch.exp(-as_float_tensor(loss, "loss"))


def huber_normaliser(delta: float = 1.0) -> float:
    r"""Huber's :math:`Z_\delta = \int \exp(-\ell_\delta(d))\,dd`: the Gaussian middle plus two exponential tails.

    :math:`\int_{-\delta}^{\delta} e^{-d^2/2} = \sqrt{2\pi}\,\mathrm{erf}(\delta/\sqrt2)` and each tail
    :math:`\int_\delta^\infty e^{-\delta(d - \delta/2)} = e^{-\delta^2/2}/\delta`.
    """
    delta = _check_delta(delta)
    return math.sqrt(2 * math.pi) * math.erf(delta / math.sqrt(2)) + 2 * math.exp(-(delta**2) / 2) / delta


def normaliser(name: str, delta: float = 1.0) -> float:
    """Z with ``exp(-loss) / Z`` a probability density over the residual."""
    if name == "L2":
        return math.sqrt(2 * math.pi)
    if name == "L1":
        return 2.0
    if name == "Huber":
        return huber_normaliser(delta)
    raise ValueError(f"unknown loss {name!r}: choose one of L2, L1, Huber")


@dataclass(frozen=True)
class Loss:
    """A loss with its derivative, so pages can loop over the three alike."""

    name: str
    value: Callable[..., torch.Tensor]
    grad: Callable[..., torch.Tensor]
    uses_delta: bool = False

    def __call__(self, y_hat, y, delta: float = 1.0) -> torch.Tensor:
        return self.value(y_hat, y, delta) if self.uses_delta else self.value(y_hat, y)

    def gradient(self, y_hat, y, delta: float = 1.0) -> torch.Tensor:
        return self.grad(y_hat, y, delta) if self.uses_delta else self.grad(y_hat, y)

    def likelihood(self, y_hat, y, delta: float = 1.0) -> torch.Tensor:
        """Unnormalised ``exp(-loss)``: proportional to the density, peak 1."""
        return likelihood(self(y_hat, y, delta))

    def density(self, y_hat, y, delta: float = 1.0) -> torch.Tensor:
        """The noise density ``exp(-loss) / Z``: integrates to 1 over the residual, like any density."""
        return likelihood(self(y_hat, y, delta)) / normaliser(self.name, delta)


LOSSES: dict[str, Loss] = {
    "L2": Loss("L2", l2, l2_grad),
    "L1": Loss("L1", l1, l1_grad),
    "Huber": Loss("Huber", huber, huber_grad, uses_delta=True),
}
