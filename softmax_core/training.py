"""Train softmax regression on Fashion-MNIST: the one place a trainer is chosen for a setting's ``impl``.

``train(config, data)`` is what a notebook, the command line, the run store's
:func:`~softmax_core.train_or_load.train_or_load` and the server's queue call.
``TRAINERS`` maps each implementation to its trainer: minibatch SGD
(:mod:`softmax_core.sgd_trainer`: scratch, concise, by hand) or full-batch
L-BFGS (:mod:`softmax_core.lbfgs_trainer`: the linear ceiling). Every trainer
takes ``(config, data, progress, should_stop, progress_every)`` and returns a
:class:`TrainResult`, stopping early (status "diverged"/"cancelled") instead of
raising.

The names a caller of ``train`` needs are importable from here too: the
settings and result types and their limits (defined in
:mod:`softmax_core.training_settings`) and the trained model's predictions
(:mod:`softmax_core.predictions`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from softmax_core import lbfgs_trainer, sgd_trainer
from softmax_core.data import FashionMNIST
from softmax_core.predictions import EVAL_BATCH, as_pixels, confusion_matrix, predict_probs, predicted_classes
from softmax_core.torch_threads import one_thread
from softmax_core.training_settings import (
    ALL_IMPLS,
    BYHAND,
    IMPL_NAMES,
    IMPLS,
    LBFGS,
    MAX_BATCH_LOSSES,
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_INIT_STD,
    MAX_LR,
    MAX_SEED,
    MAX_TRAIN_SIZE,
    MIN_LR,
    TRAINING_CODE_VERSION,
    EpochMetrics,
    Progress,
    TrainConfig,
    TrainResult,
)

__all__ = [
    "ALL_IMPLS", "BYHAND", "EVAL_BATCH", "IMPLS", "IMPL_NAMES", "LBFGS", "MAX_BATCH_LOSSES", "MAX_BATCH_SIZE",
    "MAX_EPOCHS", "MAX_INIT_STD", "MAX_LR", "MAX_SEED", "MAX_TRAIN_SIZE", "MIN_LR", "TRAINERS", "TRAINING_CODE_VERSION",
    "EpochMetrics", "Progress", "TrainConfig", "TrainResult", "Trainer", "as_pixels", "confusion_matrix", "one_thread",
    "predict_probs", "predicted_classes", "train",
]  # fmt: skip


class Trainer(Protocol):
    """What every trainer is: a setting and the data in, a result out (the queue and ``train_or_load`` take one)."""

    def __call__(
        self,
        config: TrainConfig,
        data: FashionMNIST,
        progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        progress_every: int = 20,
    ) -> TrainResult: ...


TRAINERS: dict[str, Trainer] = {
    **dict.fromkeys(IMPLS, sgd_trainer.train),
    LBFGS: lbfgs_trainer.train,
}


def train(
    config: TrainConfig,
    data: FashionMNIST,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress_every: int = 20,
) -> TrainResult:
    """Train one model with the trainer of ``config.impl``; stop early (status "diverged"/"cancelled") instead of raising.

    ``progress`` is called every ``progress_every`` batches (L-BFGS: every few iterations) and after each
    epoch; ``should_stop`` is asked before every batch (L-BFGS: every evaluation).
    """
    config = config.validated()
    progress_every = max(1, int(progress_every))
    if len(data.train_images) == 0 or len(data.test_images) == 0:
        raise ValueError("the dataset has no training or no test images")
    return TRAINERS[config.impl](config, data, progress, should_stop, progress_every)
