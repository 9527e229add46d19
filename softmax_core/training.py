r"""Train softmax regression on Fashion-MNIST: the chapter's loop, kept in memory.

One epoch, as d2l's ``train_epoch_ch3`` does it: for each minibatch, predict,
take the per-example cross-entropy, update, and accumulate the summed loss and
the number correct; the epoch's train loss and accuracy are those sums divided
by 60,000 (the chapter's ``Accumulator``). Then the test accuracy, as
``evaluate_accuracy`` does. Accuracy counts ``argmax`` of the scores
``X @ W + b``, the same class as the argmax of their softmax.

What is *not* the chapter's: no ``DataLoader``. The dataset is one uint8 tensor;
a seeded ``torch.Generator`` draws the initial weights and then one permutation
per epoch, and a batch is the rows ``perm[i:i + batch_size]`` of the
(60000, 784) uint8 tensor, divided by 255 (what ``ToTensor`` does).
Same seed, same weights, same batch order, for both models.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields

import torch

from softmax_core.data import FashionMNIST
from softmax_core.models import MODELS, NUM_INPUTS, NUM_OUTPUTS, ByHandSoftmaxRegression, initial_parameters
from softmax_core.softmax import softmax
from softmax_core.tensors import tensor_of

# Bump whenever a change here or in models.py could alter any number a run produces:
# it is part of the run store's key, so stored runs from older code are not reused.
TRAINING_CODE_VERSION = "5"  # 5: runs carry per-epoch snapshots of W and b, and a diverged run its batch losses

# The minibatch-SGD implementations and their names on screen, in one place: the training page's
# choice (and its link parameter), the CLI's --impl and the run store's keys all read this.
IMPL_NAMES = {
    "scratch": "from scratch (d2l 3.6)",
    "concise": "concise, torch.nn (d2l 3.7)",
    "byhand": "by hand, ŷ − y (d2l 3.4)",
}
IMPLS = tuple(IMPL_NAMES)
BYHAND = "byhand"  # the gradient softmax(o) - one_hot(y) written out (models.ByHandSoftmaxRegression)
LBFGS = "lbfgs"  # the linear ceiling: full-batch L-BFGS with an L2 penalty (softmax_core.linear_ceiling)
ALL_IMPLS = (*IMPLS, LBFGS)
EVAL_BATCH = 10_000

# The limits of a training setting, in one place: TrainConfig enforces them, the CLI prints them in
# its help, and the training page gives them to its widgets, so every stored run can be opened from a link.
MIN_LR = 1e-6  # the learning rate must be > 0; a closed lower bound lets a number widget say so
MAX_LR = 100.0
MAX_TRAIN_SIZE = 60_000  # Fashion-MNIST's training set
MAX_BATCH_SIZE = MAX_TRAIN_SIZE
MAX_EPOCHS = 200
MAX_SEED = 2**31 - 1  # exact in a JavaScript number and in every widget; torch.manual_seed takes it as is
MAX_INIT_STD = 10.0
# A diverged run keeps the loss of its last MAX_BATCH_LOSSES batches (all of them for any setting whose
# run up to the blow-up is shorter, e.g. every run with batch size >= 256 and up to 200 epochs).
MAX_BATCH_LOSSES = 50_000


def _number(name: str, value, kind: type):
    """``value`` as ``kind`` (int or float), or a ValueError naming the field.

    Whole numbers may arrive as 256, 256.0 or "256"; ints are kept exact
    (no detour through float, which rounds above 2**53).
    """
    what = "a whole number" if kind is int else "a number"
    if isinstance(value, bool):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    if kind is int and isinstance(value, int):
        return int(value)
    if kind is int and isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass  # maybe "256.0"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {what}, got {value!r}") from None
    if kind is int:
        if not number.is_integer():
            raise ValueError(f"{name} must be {what}, got {value!r}")
        return int(number)
    return number + 0.0  # -0.0 -> 0.0, so equal configs print and hash alike


@dataclass(frozen=True)
class TrainConfig:
    impl: str = "scratch"  # one of ALL_IMPLS
    lr: float = 0.1
    batch_size: int = 256
    epochs: int = 10
    seed: int = 0
    init_std: float = 0.01
    l2: float = 0.0  # L2 penalty (lbfgs only); for lbfgs, epochs counts L-BFGS iterations

    def validated(self) -> TrainConfig:
        """``self`` if every field is valid and of its type, else a coerced copy, else ValueError."""
        impl = str(self.impl).strip().lower()
        if impl not in ALL_IMPLS:
            raise ValueError(f"impl must be one of {', '.join(ALL_IMPLS)}, got {self.impl!r}")
        lr = _number("learning rate", self.lr, float)
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rate must be a positive finite number, got {self.lr!r}")
        if not MIN_LR <= lr <= MAX_LR:
            raise ValueError(f"learning rate must be between {MIN_LR:g} and {MAX_LR:g}, got {self.lr!r}")
        batch_size = _number("batch size", self.batch_size, int)
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch size must be between 1 and {MAX_BATCH_SIZE:,}, got {self.batch_size!r}")
        epochs = _number("epochs", self.epochs, int)
        if not 1 <= epochs <= MAX_EPOCHS:
            raise ValueError(f"epochs must be between 1 and {MAX_EPOCHS}, got {self.epochs!r}")
        seed = _number("seed", self.seed, int)
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed must be a whole number from 0 to {MAX_SEED:,} (2**31 - 1), got {self.seed!r}")
        init_std = _number("init std", self.init_std, float)
        if not (math.isfinite(init_std) and 0 <= init_std <= MAX_INIT_STD):
            raise ValueError(
                f"init std must be a finite number >= 0 and at most {MAX_INIT_STD:g}, got {self.init_std!r}"
            )
        l2 = _number("L2 penalty", self.l2, float)
        if not math.isfinite(l2) or l2 < 0 or (l2 and impl != LBFGS):
            raise ValueError(f"the L2 penalty must be a finite number >= 0 (0 unless lbfgs), got {self.l2!r}")
        if impl == LBFGS and batch_size != MAX_TRAIN_SIZE:
            raise ValueError(f"lbfgs trains on the full batch: batch size must be {MAX_TRAIN_SIZE:,}, got {batch_size}")
        clean = TrainConfig(impl, lr, batch_size, epochs, seed, init_std, l2)
        same = all(
            type(mine) is type(theirs) and mine == theirs
            for mine, theirs in ((getattr(self, f.name), getattr(clean, f.name)) for f in fields(self))
        )
        return self if same else clean

    def to_dict(self) -> dict:
        """The fields as a dict; ``l2`` only when set, so the SGD runs' keys stay what they were."""
        d = asdict(self)
        return d if d["l2"] else {k: v for k, v in d.items() if k != "l2"}

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """A validated config from a dict (e.g. JSON); missing keys take defaults, unknown keys are an error."""
        if not isinstance(d, dict):
            raise ValueError(f"a training config must be a dict, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(
                f"unknown training setting(s) {', '.join(map(str, unknown))}; known: {', '.join(sorted(known))}"
            )
        return cls(**d).validated()


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int  # 1-based
    train_loss: float  # mean cross-entropy over the epoch's training examples, as they were trained on
    train_acc: float  # fraction correct over the same minibatches (before each one's update)
    test_acc: float  # fraction correct on the 10,000 test images after the epoch
    seconds: float  # training plus the test pass


@dataclass(frozen=True)
class Progress:
    epoch: int  # 1-based
    epochs: int
    batch: int  # batches done in this epoch
    batches: int  # batches per epoch
    history: tuple[EpochMetrics, ...]  # finished epochs


@dataclass(frozen=True)
class TrainResult:
    config: TrainConfig
    history: tuple[EpochMetrics, ...]
    status: str  # "finished" | "diverged" | "cancelled"
    message: str
    weight: torch.Tensor  # (784, 10) float32, both implementations
    bias: torch.Tensor  # (10,) float32
    train_seconds: float
    # W and b at the start (index 0) and after each finished epoch k (index k): (E+1, 784, 10) and
    # (E+1, 10) float32, E = len(history). None only where a result was made without training.
    snapshots: tuple[torch.Tensor, torch.Tensor] | None = None
    # A diverged run: the mean loss of each batch trained before the blow-up, in order (the last
    # MAX_BATCH_LOSSES of them), and (epoch, batch) of the batch that blew up, both 1-based.
    # Finished and cancelled runs: () and None.
    batch_losses: tuple[float, ...] = ()
    diverged_at: tuple[int, int] | None = None


def as_pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1], as ``transforms.ToTensor`` does (``x.float() / 255``)."""
    if images.dtype == torch.uint8:
        return images.to(torch.float32).div_(255)
    return images.to(torch.float32)


@contextmanager
def one_thread():
    """Run torch ops on one intra-op thread for the duration, then restore the setting.

    Each op on a 256-row batch is far too small to gain from a second thread,
    and when the cores are shared, every op's OpenMP barrier waits for a thread
    that is not scheduled (docs/performance.md has the figures). Torch keeps the setting
    per thread once a thread has used it (checked): a training in a background
    thread leaves the others alone, except that a thread doing its first torch
    work meanwhile starts with one thread too (harmless for this app's tiny ops).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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


def train(
    config: TrainConfig,
    data: FashionMNIST,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress_every: int = 20,
) -> TrainResult:
    """Train one model; stop early (status "diverged"/"cancelled") instead of raising.

    ``progress`` is called every ``progress_every`` batches and after each
    epoch; ``should_stop`` is asked before every batch.
    """
    config = config.validated()
    progress_every = max(1, int(progress_every))
    if len(data.train_images) == 0 or len(data.test_images) == 0:
        raise ValueError("the dataset has no training or no test images")
    if config.impl == LBFGS:
        from softmax_core.linear_ceiling import train_lbfgs  # imports this module: import it late

        return train_lbfgs(config, data, progress=progress, should_stop=should_stop)
    with one_thread():
        if config.impl == BYHAND:
            return _train_by_hand(config, data, progress, should_stop, progress_every)
        return _train(config, data, progress, should_stop, progress_every)


def _train(config, data, progress, should_stop, progress_every) -> TrainResult:
    generator = torch.Generator().manual_seed(config.seed)
    weight, bias = initial_parameters(config.init_std, generator)
    model = MODELS[config.impl](weight, bias, config.lr)

    images, labels = data.train_images.reshape(len(data.train_images), -1), data.train_labels  # (n, 784) uint8
    test_pixels = as_pixels(data.test_images)  # converted once, scored after every epoch
    n = len(images)
    batches = math.ceil(n / config.batch_size)
    history: list[EpochMetrics] = []
    snapshots = [model.parameters_784x10()]  # epoch 0: the initial draw
    batch_losses: deque[float] = deque(maxlen=MAX_BATCH_LOSSES)
    status, message, diverged_at = "finished", "", None
    started = time.perf_counter()

    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        order = torch.randperm(n, generator=generator)
        loss_sum, correct = 0.0, 0
        for batch, start in enumerate(range(0, n, config.batch_size), start=1):
            if should_stop is not None and should_stop():
                status = "cancelled"
                message = (
                    f"Stopped by request in epoch {epoch} (batch {batch - 1} of {batches}) "
                    f"after {len(history)} full epoch(s)."
                )
                break
            index = order[start : start + config.batch_size]
            # index_select copies whole rows, faster than images[index] (docs/performance.md).
            X, y = as_pixels(images.index_select(0, index)), labels[index]
            scores = model.scores(X)
            if not torch.isfinite(scores).all():
                status, diverged_at = "diverged", (epoch, batch)
                message = _divergence_message("The scores X @ W + b became inf or nan", epoch, batch, config)
                break
            y_hat = model.output(scores)
            losses = model.loss(y_hat, y)
            batch_loss = float(losses.detach().sum())
            if not math.isfinite(batch_loss):
                status, diverged_at = "diverged", (epoch, batch)
                message = _divergence_message(f"Loss became {batch_loss}", epoch, batch, config)
                break
            model.update(losses)
            batch_losses.append(batch_loss / len(index))
            loss_sum += batch_loss
            correct += int((scores.detach().argmax(1) == y).sum())  # argmax of scores = argmax of softmax
            if progress is not None and batch % progress_every == 0 and batch < batches:
                progress(Progress(epoch, config.epochs, batch, batches, tuple(history)))
        if status != "finished":
            break
        weight, bias = model.parameters_784x10()
        if not (torch.isfinite(weight).all() and torch.isfinite(bias).all()):
            status, diverged_at = "diverged", (epoch, batches)
            message = _divergence_message("The weights became inf or nan", epoch, batches, config)
            break
        snapshots.append((weight, bias))
        test_correct = int((predicted_classes(weight, bias, test_pixels) == data.test_labels).sum())
        test_acc = test_correct / len(data.test_labels)
        history.append(EpochMetrics(epoch, loss_sum / n, correct / n, test_acc, time.perf_counter() - epoch_start))
        if progress is not None:
            progress(Progress(epoch, config.epochs, batches, batches, tuple(history)))

    return _result(config, model, history, status, message, started, snapshots, batch_losses, diverged_at)


def _train_by_hand(config, data, progress, should_stop, progress_every) -> TrainResult:
    """:func:`_train`'s contract for :class:`ByHandSoftmaxRegression`: same seed, batches, metrics and stops.

    The batch goes to the model as 0-255 floats (it folds the / 255 into its products) and the labels
    as a row (1, B); one call of ``model.step`` measures the batch and updates, so the loop only keeps
    the books.
    """
    generator = torch.Generator().manual_seed(config.seed)
    model = ByHandSoftmaxRegression(*initial_parameters(config.init_std, generator), config.lr)
    images = data.train_images.reshape(len(data.train_images), -1)  # (n, 784) uint8
    if images.dtype != torch.uint8:  # floats in [0, 1], as as_pixels reads them: the model takes 0-255
        images = images.to(torch.float32) * 255
    label_row = data.train_labels.reshape(1, -1)
    test_pixels = as_pixels(data.test_images)
    n = len(images)
    batches = math.ceil(n / config.batch_size)
    # Every batch is gathered into the same two buffers: a fresh (B, 784) float tensor per batch
    # would be a fresh allocation, page faults included, each time.
    raw = torch.empty(min(config.batch_size, n), images.shape[1], dtype=images.dtype)
    buffer = torch.empty(raw.shape, dtype=torch.float32)
    history: list[EpochMetrics] = []
    snapshots = [model.parameters_784x10()]
    batch_losses: deque[float] = deque(maxlen=MAX_BATCH_LOSSES)
    status, message, diverged_at = "finished", "", None
    started = time.perf_counter()

    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        order = torch.randperm(n, generator=generator)
        loss_sum, correct = 0.0, 0
        for batch, start in enumerate(range(0, n, config.batch_size), start=1):
            if should_stop is not None and should_stop():
                status = "cancelled"
                message = (
                    f"Stopped by request in epoch {epoch} (batch {batch - 1} of {batches}) "
                    f"after {len(history)} full epoch(s)."
                )
                break
            index = order[start : start + config.batch_size]
            size = len(index)
            into = (raw, buffer) if size == len(raw) else (raw[:size], buffer[:size])  # the last batch is shorter
            pixels = into[1].copy_(torch.index_select(images, 0, index, out=into[0]))
            batch_loss, batch_correct = model.step(pixels, label_row.index_select(1, index))
            if not math.isfinite(batch_loss):
                status, diverged_at = "diverged", (epoch, batch)
                message = _divergence_message(f"Loss became {batch_loss}", epoch, batch, config)
                break
            batch_losses.append(batch_loss / size)
            loss_sum += batch_loss
            correct += batch_correct
            if progress is not None and batch % progress_every == 0 and batch < batches:
                progress(Progress(epoch, config.epochs, batch, batches, tuple(history)))
        if status != "finished":
            break
        weight, bias = model.parameters_784x10()
        if not (torch.isfinite(weight).all() and torch.isfinite(bias).all()):
            status, diverged_at = "diverged", (epoch, batches)
            message = _divergence_message("The weights became inf or nan", epoch, batches, config)
            break
        snapshots.append((weight, bias))
        test_correct = int((predicted_classes(weight, bias, test_pixels) == data.test_labels).sum())
        history.append(
            EpochMetrics(
                epoch,
                loss_sum / n,
                correct / n,
                test_correct / len(data.test_labels),
                time.perf_counter() - epoch_start,
            )
        )
        if progress is not None:
            progress(Progress(epoch, config.epochs, batches, batches, tuple(history)))

    return _result(config, model, history, status, message, started, snapshots, batch_losses, diverged_at)


def _result(config, model, history, status, message, started, snapshots, batch_losses, diverged_at) -> TrainResult:
    """What both SGD loops return: the final weights, the books, and a message for a finished run."""
    if status == "finished":
        last = history[-1]
        message = (
            f"Finished {config.epochs} epoch(s): train loss {last.train_loss:.3f}, "
            f"train accuracy {last.train_acc:.3f}, test accuracy {last.test_acc:.3f}."
        )
    weight, bias = model.parameters_784x10()
    return TrainResult(
        config=config,
        history=tuple(history),
        status=status,
        message=message,
        weight=weight,
        bias=bias,
        train_seconds=time.perf_counter() - started,
        snapshots=(torch.stack([w for w, _ in snapshots]), torch.stack([b for _, b in snapshots])),
        batch_losses=tuple(batch_losses) if status == "diverged" else (),
        diverged_at=diverged_at,
    )


def _flat_pixels(images) -> torch.Tensor:
    X = as_pixels(torch.as_tensor(images))
    if X.dim() == 2 and X.shape[1] == NUM_INPUTS:
        return X
    if X.dim() >= 2 and X.shape[-2:] == (28, 28):
        return X.reshape(-1, NUM_INPUTS)
    raise ValueError(f"images must have shape (n, 28, 28) or (n, 784), got {tuple(X.shape)}")


def _scores(weight, bias, images) -> torch.Tensor:
    W, b = tensor_of(weight, torch.float32), tensor_of(bias, torch.float32)  # read-only when a server shares them
    if W.shape != (NUM_INPUTS, NUM_OUTPUTS) or b.shape != (NUM_OUTPUTS,):
        raise ValueError(f"weight must be (784, 10) and bias (10,), got {tuple(W.shape)} and {tuple(b.shape)}")
    return _flat_pixels(images) @ W + b


def predict_probs(weight, bias, images) -> torch.Tensor:
    """``softmax(X @ W + b)`` for uint8 (0-255) or float ([0, 1]) images: (n, 10)."""
    with torch.inference_mode():
        return softmax(_scores(weight, bias, images), dim=1)


def predicted_classes(weight, bias, images) -> torch.Tensor:
    """``argmax(X @ W + b)`` per image, in batches of 10,000 (d2l's ``evaluate_accuracy`` counts these).

    Training's test accuracy and :func:`confusion_matrix` both call this, so
    the matrix's diagonal always agrees with the reported accuracy.
    """
    if len(images) == 0:
        return torch.zeros(0, dtype=torch.int64)
    with torch.inference_mode():
        return torch.cat(
            [_scores(weight, bias, images[i : i + EVAL_BATCH]).argmax(1) for i in range(0, len(images), EVAL_BATCH)]
        )


def confusion_matrix(weight, bias, images, labels) -> torch.Tensor:
    """(10, 10) int64 counts: row = true class, column = predicted class."""
    y = torch.as_tensor(labels, dtype=torch.int64)
    predicted = predicted_classes(weight, bias, images)
    if predicted.shape != y.shape:
        raise ValueError(f"{len(predicted)} images but {len(y)} labels: give one label per image")
    if len(y) and (y.min() < 0 or y.max() >= NUM_OUTPUTS):
        raise ValueError(f"labels must be class numbers 0-{NUM_OUTPUTS - 1}")
    return torch.bincount(y * NUM_OUTPUTS + predicted, minlength=NUM_OUTPUTS**2).reshape(NUM_OUTPUTS, NUM_OUTPUTS)
