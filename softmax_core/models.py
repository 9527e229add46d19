r"""The chapter's two softmax regressions: from scratch, and with ``torch.nn``.

Both compute the same function, :math:`\hat{\mathbf{y}} = \mathrm{softmax}(\mathbf{X}\mathbf{W} + \mathbf{b})`
with :math:`\mathbf{W} \in \mathbb{R}^{784 \times 10}` and :math:`\mathbf{b} \in \mathbb{R}^{10}`,
and minimise the same cross-entropy with minibatch SGD. They differ in *how*:

* ``scratch`` (d2l 3.6): softmax on the scores, the loss ``-log(y_hat[range(n), y])``
  on probabilities (inf if a probability rounds to 0), the summed loss
  backpropagated and ``param -= lr * grad / batch_size``.
* ``concise`` (d2l 3.7): ``nn.Linear`` produces the scores, ``nn.CrossEntropyLoss``
  fuses log-softmax and the loss (log-sum-exp, never inf for finite scores),
  the mean loss backpropagated and ``torch.optim.SGD`` steps.

The sum-then-divide and the mean give the same update up to float rounding.
Each model exposes ``scores(X)``, ``output(scores)`` (what the chapter's
``net(X)`` returns), ``loss(output, y)`` (per example), ``update(losses)``
and ``parameters_784x10()``, so the training loop does not care which it drives.
"""

from __future__ import annotations

import torch
from torch import nn

from softmax_core.cross_entropy import cross_entropy
from softmax_core.softmax import softmax

NUM_INPUTS, NUM_OUTPUTS = 28 * 28, 10


def initial_parameters(init_std: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``W ~ N(0, init_std^2)`` of shape (784, 10) and ``b = 0``: the chapter's initialisation."""
    weight = torch.normal(0.0, init_std, (NUM_INPUTS, NUM_OUTPUTS), generator=generator)
    return weight, torch.zeros(NUM_OUTPUTS)


def sgd(params: list[torch.Tensor], lr: float, batch_size: int) -> None:
    """The chapter's minibatch SGD: ``param -= lr * grad / batch_size`` (the loss was summed)."""
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


class ScratchSoftmaxRegression:
    """d2l 3.6: ``W`` and ``b`` as plain tensors, our softmax and cross-entropy, hand-written SGD."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, lr: float):
        # Same (784, 10) values, stored column by column: autograd then computes the gradient of W
        # as (grad.T @ X).T, the layout nn.Linear uses (README, "Measured", times it against row-major W).
        self.W = weight.T.contiguous().T.requires_grad_(True)
        self.b = bias.clone().requires_grad_(True)
        self.lr = lr

    def scores(self, X: torch.Tensor) -> torch.Tensor:
        return X.reshape(-1, self.W.shape[0]) @ self.W + self.b

    def output(self, scores: torch.Tensor) -> torch.Tensor:
        return softmax(scores, dim=1)  # the chapter's net(X) returns probabilities

    def loss(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return cross_entropy(y_hat, y)  # -log(y_hat[range(n), y])

    def update(self, losses: torch.Tensor) -> None:
        losses.sum().backward()
        sgd([self.W, self.b], self.lr, len(losses))

    def parameters_784x10(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.W.detach().clone(memory_format=torch.contiguous_format), self.b.detach().clone()


class ConciseSoftmaxRegression:
    """d2l 3.7: ``nn.Sequential(nn.Flatten(), nn.Linear(784, 10))``, ``nn.CrossEntropyLoss``, ``optim.SGD``."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, lr: float):
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(NUM_INPUTS, NUM_OUTPUTS))
        with torch.no_grad():  # the same draw as scratch: nn.Linear stores W transposed, (10, 784)
            self.net[1].weight.copy_(weight.T)
            self.net[1].bias.copy_(bias)
        self.criterion = nn.CrossEntropyLoss(reduction="none")
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=lr)

    def scores(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X)

    def output(self, scores: torch.Tensor) -> torch.Tensor:
        return scores  # the concise net(X) returns the scores; the loss applies log-softmax

    def loss(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.criterion(scores, y)

    def update(self, losses: torch.Tensor) -> None:
        self.optimizer.zero_grad()
        losses.mean().backward()
        self.optimizer.step()

    def parameters_784x10(self) -> tuple[torch.Tensor, torch.Tensor]:
        linear = self.net[1]
        return linear.weight.detach().T.contiguous().clone(), linear.bias.detach().clone()


MODELS = {"scratch": ScratchSoftmaxRegression, "concise": ConciseSoftmaxRegression}
