r"""Softmax regression trained to convergence: full-batch L-BFGS with an L2 penalty (impl ``lbfgs``).

Same model as the chapter (``softmax(X W + b)`` on pixels / 255), but instead of
minibatch SGD it minimises, over all training images at once,

    mean cross-entropy + (l2 / 2) * ||W||^2      (the bias is not penalised)

with ``torch.optim.LBFGS``. A run's "epochs" count L-BFGS iterations, and its
history has an entry every ``RECORD_EVERY`` of them.

Why it converges in few iterations: the optimiser works on standardised pixels
``(x - mean) / std`` (std floored at 0.1 so near-constant border pixels are not
blown up), i.e. on ``V = W * std``. That is a change of variables of the same
objective (the penalty is written in ``W``), so the optimum is the same model;
it only makes the problem far better conditioned for L-BFGS. The weights are
mapped back to raw pixels before they are stored.

Which penalty and how many iterations make "the best linear model" is
:mod:`softmax_core.linear_ceiling`'s rule, not this module's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from softmax_core.models import NUM_INPUTS, NUM_OUTPUTS, initial_parameters
from softmax_core.predictions import as_pixels
from softmax_core.torch_threads import one_thread, torch_threads
from softmax_core.training_settings import EpochMetrics, Progress, TrainConfig, TrainResult

STD_FLOOR = 0.1
RECORD_EVERY = 5  # a history entry (train loss, train and test accuracy) every this many iterations
THREADS = 1  # torch threads for a fit: see docs/performance.md (one_thread is the project's default)


def fit_threads(n: int):
    """The thread setting of a fit: :func:`one_thread` for 1 (the default), else ``n`` threads (to compare)."""
    return one_thread() if n == 1 else torch_threads(n)


class _Stop(Exception):
    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Fit:
    weight: torch.Tensor  # (784, 10), for pixels in [0, 1]
    bias: torch.Tensor  # (10,)
    history: tuple[EpochMetrics, ...]
    status: str  # "finished" | "diverged" | "cancelled"
    message: str
    iterations: int
    evaluations: int  # objective + gradient evaluations (line-search steps included)
    seconds: float


def _accuracy(weight_t: torch.Tensor, bias: torch.Tensor, pixels: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        return float((F.linear(pixels, weight_t, bias).argmax(1) == labels).float().mean())


def fit_lbfgs(
    pixels: torch.Tensor,
    labels: torch.Tensor,
    l2: float,
    iterations: int,
    *,
    lr: float = 1.0,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Fit:
    """Minimise mean cross-entropy + l2/2 ||W||^2 on (n, 784) float pixels with full-batch L-BFGS.

    ``test`` = (pixels, labels) adds the test accuracy to each history entry.
    ``pixels`` is not modified.
    """
    started = time.perf_counter()
    X = pixels.reshape(len(pixels), -1).to(torch.float32)
    y = torch.as_tensor(labels, dtype=torch.int64)
    mean = X.mean(0)
    std = X.std(0).clamp_min(STD_FLOOR)
    Z = (X - mean).div_(std)  # standardised copy: the optimiser's coordinates
    w0, b0 = init if init is not None else (torch.zeros(NUM_INPUTS, NUM_OUTPUTS), torch.zeros(NUM_OUTPUTS))
    V = (w0.T * std).contiguous().requires_grad_(True)  # (10, 784): nn.Linear's layout, the fast gradient matmul
    c = (b0 + mean @ w0).clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS([V, c], lr=lr, max_iter=iterations, max_eval=iterations * 2, history_size=20,
                                  tolerance_grad=1e-7, tolerance_change=1e-10,
                                  line_search_fn="strong_wolfe")  # fmt: skip
    state = optimizer.state[V]
    history: list[EpochMetrics] = []
    evaluations = 0
    recorded = 0
    last_time = started

    def raw() -> tuple[torch.Tensor, torch.Tensor]:
        """(W^T (10, 784), b) in raw pixel space from the optimiser's coordinates."""
        with torch.no_grad():
            wt = V / std
            return wt, c - wt @ mean

    def record(iteration: int, data_loss: float, train_acc: float) -> None:
        nonlocal last_time
        wt, b = raw()
        test_acc = _accuracy(wt, b, *test) if test is not None else float("nan")
        now = time.perf_counter()
        history.append(EpochMetrics(iteration, data_loss, train_acc, test_acc, now - last_time))
        last_time = now
        if progress is not None:
            progress(Progress(iteration, iterations, 1, 1, tuple(history)))

    def closure():
        nonlocal evaluations, recorded
        if should_stop is not None and should_stop():
            raise _Stop("cancelled", f"Stopped by request after {recorded} L-BFGS iteration(s).")
        evaluations += 1
        optimizer.zero_grad()
        scores = F.linear(Z, V, c)
        data_loss = F.cross_entropy(scores, y)
        loss = data_loss + 0.5 * l2 * (V / std).square().sum()
        if not torch.isfinite(loss):
            raise _Stop("diverged", f"The objective became {float(loss)} in L-BFGS iteration {state.get('n_iter', 0)}: "
                                    "lower the step scale (learning rate).")  # fmt: skip
        loss.backward()
        iteration = state.get("n_iter", 0)
        if iteration > recorded and iteration % RECORD_EVERY == 0:
            recorded = iteration
            record(iteration, float(data_loss.detach()), float((scores.detach().argmax(1) == y).float().mean()))
        return loss

    status, message = "finished", ""
    try:
        optimizer.step(closure)
    except _Stop as stop:
        status, message = stop.status, stop.message
    done = int(state.get("n_iter", 0))
    wt, b = raw()
    if status == "finished":
        if not (torch.isfinite(wt).all() and torch.isfinite(b).all()):
            status, message = "diverged", "The weights became inf or nan: lower the step scale (learning rate)."
        else:
            with torch.no_grad():
                scores = F.linear(X, wt, b)
                data_loss = float(F.cross_entropy(scores, y))
                train_acc = float((scores.argmax(1) == y).float().mean())
            if not history or history[-1].epoch != done:
                record(done, data_loss, train_acc)
            why = "reached its iteration limit" if done >= iterations else "converged (gradient or step tiny)"
            last = history[-1]
            message = (f"L-BFGS {why} after {done} iteration(s), {evaluations} evaluations: train loss "
                       f"{last.train_loss:.4f}, train accuracy {last.train_acc:.4f}"
                       + (f", test accuracy {last.test_acc:.4f}." if test is not None else "."))  # fmt: skip
    return Fit(wt.T.contiguous(), b.detach().clone(), tuple(history), status, message, done, evaluations,
               time.perf_counter() - started)  # fmt: skip


def train(config: TrainConfig, data, progress=None, should_stop=None, progress_every: int = 20, *,
          threads: int = THREADS) -> TrainResult:  # fmt: skip
    """Fit impl "lbfgs" on all training images, the test accuracy in the history.

    The trainers' common signature; ``progress_every`` counts minibatches, which a full-batch fit has
    none of: it reports every ``RECORD_EVERY`` iterations instead.
    """
    config = config.validated()
    generator = torch.Generator().manual_seed(config.seed)
    init = initial_parameters(config.init_std, generator)
    with fit_threads(threads):
        pixels = as_pixels(data.train_images.reshape(len(data.train_images), -1))
        test = (as_pixels(data.test_images.reshape(len(data.test_images), -1)), data.test_labels)
        fit = fit_lbfgs(pixels, data.train_labels, config.l2, config.epochs, lr=config.lr, init=init, test=test,
                        progress=progress, should_stop=should_stop)  # fmt: skip
    return TrainResult(config=config, history=fit.history, status=fit.status, message=fit.message,
                       weight=fit.weight, bias=fit.bias, train_seconds=fit.seconds)  # fmt: skip
