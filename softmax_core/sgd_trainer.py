r"""Minibatch SGD, the chapter's loop, for the implementations ``scratch``, ``concise`` and ``byhand``.

One epoch, as d2l's ``train_epoch_ch3`` does it: for each minibatch, predict,
take the per-example cross-entropy, update, and accumulate the summed loss and
the number correct; the epoch's train loss and accuracy are those sums divided
by 60,000 (the chapter's ``Accumulator``). Then the test accuracy, as
``evaluate_accuracy`` does.

What is *not* the chapter's: no ``DataLoader``. The dataset is one uint8 tensor;
a seeded ``torch.Generator`` draws the initial weights and then one permutation
per epoch, and a batch is the rows ``perm[i:i + batch_size]`` of the
(60000, 784) uint8 tensor, divided by 255 (what ``ToTensor`` does).
Same seed, same weights, same batch order, for every implementation.

One loop (:func:`_epochs`) keeps the books for all three; what differs is one
batch's step: autograd's (:func:`_autograd_step`, scratch and concise) or the
gradient written out (:func:`_by_hand_step`).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from softmax_core.data import FashionMNIST
from softmax_core.models import MODELS, ByHandSoftmaxRegression, initial_parameters
from softmax_core.predictions import as_pixels, predicted_classes
from softmax_core.torch_threads import one_thread
from softmax_core.training_settings import (
    BYHAND,
    MAX_BATCH_LOSSES,
    EpochMetrics,
    Progress,
    TrainConfig,
    TrainResult,
)

# One batch's step: the batch's row numbers in, (summed loss, number correct) out, the model updated
# only when the loss is finite. It raises _Diverged when the scores themselves blew up.
BatchStep = Callable[[torch.Tensor], tuple[float, int]]


class _Diverged(Exception):
    """A batch's scores became inf or nan: ``what`` starts the message."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


def train(
    config: TrainConfig,
    data: FashionMNIST,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress_every: int = 20,
) -> TrainResult:
    """Train one SGD model; stop early (status "diverged"/"cancelled") instead of raising.

    ``progress`` is called every ``progress_every`` batches and after each
    epoch; ``should_stop`` is asked before every batch.
    """
    with one_thread():
        return _train(config.validated(), data, progress, should_stop, progress_every)


def _train(config: TrainConfig, data: FashionMNIST, progress, should_stop, progress_every: int) -> TrainResult:
    """:func:`train` for a config taken as it is, on torch's current threads.

    The benchmark compares thread counts through it; tests drive it past the limits to reach the guards.
    """
    generator = torch.Generator().manual_seed(config.seed)
    weight, bias = initial_parameters(config.init_std, generator)
    make_step = _by_hand_step if config.impl == BYHAND else _autograd_step
    model, step = make_step(config, data, weight, bias)
    return _epochs(config, data, model, step, generator, progress, should_stop, max(1, int(progress_every)))


def _autograd_step(config: TrainConfig, data: FashionMNIST, weight, bias):
    """The scratch (d2l 3.6) or concise (d2l 3.7) model and its step: autograd computes the gradient."""
    model = MODELS[config.impl](weight, bias, config.lr)
    images, labels = data.train_images.reshape(len(data.train_images), -1), data.train_labels  # (n, 784) uint8

    def step(index: torch.Tensor) -> tuple[float, int]:
        # index_select copies whole rows, faster than images[index] (docs/performance.md).
        X, y = as_pixels(images.index_select(0, index)), labels[index]
        scores = model.scores(X)
        if not torch.isfinite(scores).all():
            raise _Diverged("The scores X @ W + b became inf or nan")
        losses = model.loss(model.output(scores), y)
        batch_loss = float(losses.detach().sum())
        if not math.isfinite(batch_loss):
            return batch_loss, 0
        model.update(losses)
        return batch_loss, int((scores.detach().argmax(1) == y).sum())  # argmax of scores = argmax of softmax

    return model, step


def _by_hand_step(config: TrainConfig, data: FashionMNIST, weight, bias):
    """:class:`ByHandSoftmaxRegression` and its step: same seed, batches, metrics and stops as autograd's.

    The batch goes to the model as 0-255 floats (it folds the / 255 into its products) and the labels
    as a row (1, B); one call of ``model.step`` measures the batch and updates.
    """
    model = ByHandSoftmaxRegression(weight, bias, config.lr)
    images = data.train_images.reshape(len(data.train_images), -1)  # (n, 784) uint8
    if images.dtype != torch.uint8:  # floats in [0, 1], as as_pixels reads them: the model takes 0-255
        images = images.to(torch.float32) * 255
    label_row = data.train_labels.reshape(1, -1)
    # Every batch is gathered into the same two buffers: a fresh (B, 784) float tensor per batch
    # would be a fresh allocation, page faults included, each time.
    raw = torch.empty(min(config.batch_size, len(images)), images.shape[1], dtype=images.dtype)
    buffer = torch.empty(raw.shape, dtype=torch.float32)

    def step(index: torch.Tensor) -> tuple[float, int]:
        size = len(index)
        into = (raw, buffer) if size == len(raw) else (raw[:size], buffer[:size])  # the last batch is shorter
        pixels = into[1].copy_(torch.index_select(images, 0, index, out=into[0]))
        return model.step(pixels, label_row.index_select(1, index))

    return model, step


@dataclass
class _Books:
    """What the loop keeps across epochs, and how the run ended."""

    config: TrainConfig
    batches: int
    history: list[EpochMetrics] = field(default_factory=list)
    snapshots: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    batch_losses: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_BATCH_LOSSES))
    status: str = "finished"
    message: str = ""
    diverged_at: tuple[int, int] | None = None
    started: float = field(default_factory=time.perf_counter)

    def stopped(self, epoch: int, batch: int) -> None:
        self.status, self.message = "cancelled", _stopped_message(epoch, batch, self.batches, len(self.history))

    def diverged(self, what: str, epoch: int, batch: int) -> None:
        self.status, self.diverged_at = "diverged", (epoch, batch)
        self.message = _divergence_message(what, epoch, batch, self.config)

    def progress(self, epoch: int, batch: int) -> Progress:
        return Progress(epoch, self.config.epochs, batch, self.batches, tuple(self.history))


def _epochs(config, data, model, step: BatchStep, generator, progress, should_stop, progress_every) -> TrainResult:
    """The epochs: shuffle, step through the batches, score the test images; stop at a request or a blow-up."""
    n = len(data.train_images)
    books = _Books(config, math.ceil(n / config.batch_size), snapshots=[model.parameters_784x10()])
    test_pixels = as_pixels(data.test_images)  # converted once, scored after every epoch
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        order = torch.randperm(n, generator=generator)
        loss_sum, correct = 0.0, 0
        for batch, start in enumerate(range(0, n, config.batch_size), start=1):
            if should_stop is not None and should_stop():
                books.stopped(epoch, batch)
                break
            index = order[start : start + config.batch_size]
            try:
                batch_loss, batch_correct = step(index)
            except _Diverged as blow_up:
                books.diverged(blow_up.what, epoch, batch)
                break
            if not math.isfinite(batch_loss):
                books.diverged(f"Loss became {batch_loss}", epoch, batch)
                break
            books.batch_losses.append(batch_loss / len(index))
            loss_sum += batch_loss
            correct += batch_correct
            if progress is not None and batch % progress_every == 0 and batch < books.batches:
                progress(books.progress(epoch, batch))
        if books.status != "finished":
            break
        weight, bias = model.parameters_784x10()
        if not (torch.isfinite(weight).all() and torch.isfinite(bias).all()):
            books.diverged("The weights became inf or nan", epoch, books.batches)
            break
        books.snapshots.append((weight, bias))
        test_correct = int((predicted_classes(weight, bias, test_pixels) == data.test_labels).sum())
        test_acc = test_correct / len(data.test_labels)
        books.history.append(
            EpochMetrics(epoch, loss_sum / n, correct / n, test_acc, time.perf_counter() - epoch_start)
        )
        if progress is not None:
            progress(books.progress(epoch, books.batches))
    return _result(books, model)


def _stopped_message(epoch: int, batch: int, batches: int, full_epochs: int) -> str:
    """A cancelled run's message: where the request stopped it (``batch`` is the one not trained)."""
    return f"Stopped by request in epoch {epoch} (batch {batch - 1} of {batches}) after {full_epochs} full epoch(s)."


def _divergence_message(what: str, epoch: int, batch: int, config: TrainConfig) -> str:
    where = f"in epoch {epoch} (batch {batch})"
    if epoch == 1 and batch == 1:
        fix = "the initial weights are too large: lower the init std."
    else:
        fix = "lower the learning rate."
    hint = ""
    if config.impl == "scratch" and what == "Loss became inf":
        hint = " (The scratch loss -log(y_hat[y]) is inf when softmax rounds the true class's probability to 0.)"
    return f"{what} {where}: {fix}{hint}"


def _result(books: _Books, model) -> TrainResult:
    """The final weights, the books, and a message for a finished run."""
    message = books.message
    if books.status == "finished":
        last = books.history[-1]
        message = (
            f"Finished {books.config.epochs} epoch(s): train loss {last.train_loss:.3f}, "
            f"train accuracy {last.train_acc:.3f}, test accuracy {last.test_acc:.3f}."
        )
    weight, bias = model.parameters_784x10()
    return TrainResult(
        config=books.config,
        history=tuple(books.history),
        status=books.status,
        message=message,
        weight=weight,
        bias=bias,
        train_seconds=time.perf_counter() - books.started,
        snapshots=(torch.stack([w for w, _ in books.snapshots]), torch.stack([b for _, b in books.snapshots])),
        batch_losses=tuple(books.batch_losses) if books.status == "diverged" else (),
        diverged_at=books.diverged_at,
    )
