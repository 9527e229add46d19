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

import math

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
        # as (grad.T @ X).T, the layout nn.Linear uses (docs/performance.md times it against row-major W).
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


class ByHandSoftmaxRegression:
    r"""d2l 3.4's gradient written out, no autograd: :math:`\partial l / \partial \mathbf{o} = \mathrm{softmax}(\mathbf{o}) - \mathbf{y}`.

    The same model and the same update as ``concise``, in fewer and larger steps (:meth:`step`):
    the scores, their softmax, subtract 1 at each true class, and one matrix product updates W.

    Two choices make it fast, neither changes the mathematics:

    * W is kept as ``nn.Linear`` keeps it, transposed, (10, 784), and the scores of a batch as
      :math:`\mathbf{O}^\top` (10, B): one column per example. The softmax then reduces over the 10
      rows of a column, whole rows of B values at a time; torch's kernels are slower along ten
      adjacent values, as on :math:`\mathbf{O}` (B, 10).
    * The pixels arrive as 0-255 floats; ToTensor's division by 255 is folded into the two matrix
      products (:math:`\mathbf{X} = \mathbf{P}/255`, so :math:`\mathbf{X}\mathbf{W} = \mathbf{P}\mathbf{W}/255`
      and :math:`\mathbf{X}^\top\mathbf{G} = \mathbf{P}^\top\mathbf{G}/255`), which saves a pass over every batch.
    """

    PIXEL_SCALE = 1 / 255  # ToTensor's x / 255, applied inside the matrix products

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, lr: float):
        self.W_T = weight.T.contiguous()  # (10, 784)
        self.b = bias.reshape(NUM_OUTPUTS, 1).clone()  # (10, 1), added to every column
        self.lr = lr
        self._minus_ones = torch.empty(1, 0, dtype=self.W_T.dtype)

    def step(self, pixels: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
        """One SGD step on a batch: ``pixels`` (B, 784) floats 0-255, ``y`` (1, B) class numbers.

        Returns the summed loss and the number of correct predictions, both measured before
        the step. A loss that is not finite leaves W and b as they were.
        """
        B = pixels.shape[0]
        O_T = torch.addmm(self.b, self.W_T, pixels.T, alpha=self.PIXEL_SCALE)  # scores, one column per example
        top, predicted = O_T.max(0, keepdim=True)  # each example's largest score, and its class
        O_T -= top  # softmax(o) = softmax(o - max o), and exp never overflows
        o_y = O_T.gather(0, y)  # the true class's score
        Y_hat = O_T.exp_()
        Z = Y_hat.sum(0, keepdim=True)
        loss = float(Z.log().sub_(o_y).sum())  # l = log sum_j exp(o_j) - o_y, summed over the batch
        if not math.isfinite(loss):
            return loss, 0
        Y_hat /= Z  # y_hat = softmax(o)
        G = Y_hat.scatter_add_(0, y, self._minus_one(B))  # dl/do = y_hat - y: subtract 1 at the true class
        self.W_T.addmm_(G, pixels, alpha=-self.lr * self.PIXEL_SCALE / B)  # W -= lr/B X^T (y_hat - y), transposed
        self.b.sub_(G.sum(1, keepdim=True), alpha=self.lr / B)  # b -= lr mean(y_hat - y)
        return loss, int(predicted.eq_(y).sum())

    def _minus_one(self, batch_size: int) -> torch.Tensor:
        """A row of -1s to subtract at the true classes (kept while the batch size stays the same)."""
        if self._minus_ones.shape[1] != batch_size:
            self._minus_ones = torch.full((1, batch_size), -1.0, dtype=self.W_T.dtype)
        return self._minus_ones

    def parameters_784x10(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.W_T.T.contiguous(), self.b.reshape(NUM_OUTPUTS).clone()


MODELS = {"scratch": ScratchSoftmaxRegression, "concise": ConciseSoftmaxRegression}
