r"""One step of gradient descent on a single prediction, under each regression loss.

.. math::
    \hat y \leftarrow \hat y - \eta \, \partial_{\hat y} \ell(\hat y, y)

With residual :math:`d = \hat y - y` the three losses pull differently:

* L2:    step :math:`-\eta d`, huge far from the target, tiny near it
  (and past the target for :math:`\eta > 1`, further away for :math:`\eta > 2`);
* L1:    step :math:`-\eta\,\mathrm{sign}(d)`, the same size at any distance;
* Huber: step :math:`-\eta\,\mathrm{clip}(d, -\delta, \delta)`: L2's near the target, L1's
  (times :math:`\delta`) far from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from softmax_core.losses import LOSSES
from softmax_core.validation import finite_number, positive_number


def check_learning_rate(lr) -> float:
    """The learning rate scales the step, so it must be a finite number greater than 0."""
    return positive_number(lr, "the learning rate")


@dataclass(frozen=True)
class GradientStep:
    """Where one SGD step under one loss takes the prediction, and what it does to the loss."""

    loss: str
    y: float
    y_hat: float
    gradient: float  # dl/dy_hat at the old prediction
    step: float  # -lr * gradient
    y_hat_new: float
    loss_before: float
    loss_after: float

    @property
    def residual(self) -> float:
        return self.y_hat - self.y

    @property
    def residual_new(self) -> float:
        return self.y_hat_new - self.y

    @property
    def loss_change(self) -> float:
        return self.loss_after - self.loss_before

    @property
    def crosses_target(self) -> bool:
        """The step jumped past the target: the residual changed sign."""
        return self.residual * self.residual_new < 0

    @property
    def outcome(self) -> str:
        """A few words for the table: what the step did to the loss.

        Three outcomes a lecturer names: the loss falls, stays the same (the prediction
        jumps to the mirror point and back: it oscillates), or rises. A rising L2 loss
        diverges when the step is repeated (the residual grows by |1 - lr| > 1 each time);
        L1's and Huber's steps are capped at lr (times delta), so a rise there bounces
        around the target instead of running away.
        """
        if self.step == 0:
            return "no move (gradient 0)"
        if self.residual_new == 0:
            return "loss falls to 0: lands on the target"
        if math.isclose(self.loss_after, self.loss_before, rel_tol=1e-9, abs_tol=1e-12):
            return "loss stays the same: oscillates"
        if self.loss_after > self.loss_before:
            return "loss rises: diverges" if self.loss == "L2" else "loss rises: bounces (capped step)"
        if self.crosses_target:
            return "loss falls (overshoots the target)"
        return "loss falls"


def gradient_step(loss_name: str, y_hat, y, lr, delta: float = 1.0) -> GradientStep:
    """One SGD step ``y_hat_new = y_hat - lr * dl/dy_hat`` under ``LOSSES[loss_name]``."""
    if loss_name not in LOSSES:
        raise ValueError(f"unknown loss {loss_name!r}: choose one of {', '.join(LOSSES)}")
    loss = LOSSES[loss_name]
    lr = check_learning_rate(lr)
    old = torch.tensor(finite_number(y_hat, "y_hat"), dtype=torch.float64)
    target = torch.tensor(finite_number(y, "y"), dtype=torch.float64)
    gradient = loss.gradient(old, target, delta)
    step = -lr * gradient
    new = old + step  # as torch.optim.SGD does it: param.add_(grad, alpha=-lr)
    return GradientStep(
        loss=loss_name,
        y=float(target),
        y_hat=float(old),
        gradient=float(gradient),
        step=float(step),
        y_hat_new=float(new),
        loss_before=float(loss(old, target, delta)),
        loss_after=float(loss(new, target, delta)),
    )


def gradient_steps(y_hat, y, lr, delta: float = 1.0) -> tuple[GradientStep, ...]:
    """The same step from the same prediction under every loss, in ``LOSSES`` order."""
    return tuple(gradient_step(name, y_hat, y, lr, delta) for name in LOSSES)


def step_table(steps: tuple[GradientStep, ...]) -> list[dict[str, object]]:
    """One row per loss, with the columns a student compares."""
    return [
        {
            "loss": s.loss,
            "gradient ∂ℓ/∂ŷ": s.gradient,
            "step −η·∂ℓ/∂ŷ": s.step,
            "new ŷ": s.y_hat_new,
            "loss before": s.loss_before,
            "loss after": s.loss_after,
            "what happens": s.outcome,
        }
        for s in steps
    ]
