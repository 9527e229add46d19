r"""The best a linear model can do, as one rule: which L-BFGS fit it is, how its penalty was chosen, its labels.

The fit itself is :mod:`softmax_core.lbfgs_trainer` (impl ``lbfgs``): softmax
regression trained to convergence with full-batch L-BFGS and an L2 penalty.

One rule decides what "the best linear model" is: :func:`ceiling_config` with
its defaults, ``DEFAULT_L2`` for ``DEFAULT_ITERATIONS`` iterations on all
training images. The calibration page's button and ``softmax-train --impl
lbfgs`` both fit that config, so they store one run under one key. The penalty is fixed rather than
searched on every fit: the search costs five fits on 50,000 images, about four
times the fit itself, too long for a button pressed in class while it holds
the server's one training queue; and the choice between neighbouring penalties can flip with
a few validation images between machines, so a search per fit would not even
give the same model everywhere. ``CHOSEN`` records how ``DEFAULT_L2`` was
chosen (the grid, the split, the validation accuracy); ``softmax-train
--search`` reruns that search (:func:`search_penalty`), stores nothing and says whether it still picks ``DEFAULT_L2``.
The penalty is chosen on a validation split carved from the training images,
never on the test set.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from softmax_core.lbfgs_trainer import THREADS, fit_lbfgs, fit_threads
from softmax_core.predictions import as_pixels
from softmax_core.run_store import run_key
from softmax_core.training_settings import LBFGS, MAX_TRAIN_SIZE, TrainConfig

PENALTIES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3)  # the grid the validation split chooses from
VALIDATION_SIZE = 10_000  # carved from the 60,000 training images for the penalty search
SPLIT_SEED = 0


@dataclass(frozen=True)
class PenaltyChoice:
    """How a penalty was chosen: fitted on ``fit_size`` training images, scored on the other ``validation_size``."""

    l2: float
    validation_accuracy: float  # of the chosen penalty
    penalties: tuple[float, ...]  # the grid it was chosen from
    iterations: int  # L-BFGS iterations of each trial fit
    fit_size: int
    validation_size: int


# What ``softmax-train --search`` chose (docs/ceiling-and-accuracy.md has the run).
CHOSEN = PenaltyChoice(l2=3e-5, validation_accuracy=0.8485, penalties=PENALTIES, iterations=60,
                       fit_size=60_000 - VALIDATION_SIZE, validation_size=VALIDATION_SIZE)  # fmt: skip
DEFAULT_L2 = CHOSEN.l2  # the ceiling's penalty: the one rule's
DEFAULT_ITERATIONS = 60  # the ceiling's L-BFGS iterations


def ceiling_config(l2: float | None = None, iterations: int | None = None, seed: int = 0) -> TrainConfig:
    """The run-store config of a ceiling fit: impl lbfgs, full batch, zero init, L-BFGS step scale 1.

    Without arguments it is *the* best linear model, the one rule every caller fits
    (``DEFAULT_L2``, ``DEFAULT_ITERATIONS``, read when called).
    """
    l2 = DEFAULT_L2 if l2 is None else l2
    iterations = DEFAULT_ITERATIONS if iterations is None else iterations
    return TrainConfig(impl=LBFGS, lr=1.0, batch_size=MAX_TRAIN_SIZE, epochs=iterations,
                                seed=seed, init_std=0.0, l2=l2).validated()  # fmt: skip


# ---------------------------------------------------------------- choosing the penalty


@dataclass(frozen=True)
class PenaltyTrial:
    l2: float
    validation_accuracy: float
    validation_nll: float
    iterations: int
    seconds: float


@dataclass(frozen=True)
class PenaltySearch:
    trials: tuple[PenaltyTrial, ...]
    best_l2: float
    train_size: int
    validation_size: int
    seconds: float

    def choice(self) -> PenaltyChoice:
        """The outcome in the form ``CHOSEN`` records it."""
        best = next(t for t in self.trials if t.l2 == self.best_l2)
        return PenaltyChoice(best.l2, best.validation_accuracy, tuple(t.l2 for t in self.trials), best.iterations,
                             self.train_size, self.validation_size)  # fmt: skip


def validation_split(n: int, validation_size: int = VALIDATION_SIZE, seed: int = SPLIT_SEED):
    """(fit indices, validation indices) of the training images, from one seeded permutation."""
    if not 0 < validation_size < n:
        raise ValueError(f"the validation split must hold between 1 and {n - 1} images, got {validation_size}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[validation_size:].sort().values, order[:validation_size].sort().values


def search_penalty(
    data,
    penalties=PENALTIES,
    iterations: int = DEFAULT_ITERATIONS,
    validation_size: int = VALIDATION_SIZE,
    seed: int = SPLIT_SEED,
    report: Callable[[PenaltyTrial], None] | None = None,
    threads: int = THREADS,
) -> PenaltySearch:
    """Fit on the training images minus a validation split, one fit per penalty; best validation accuracy wins.

    Ties go to the lower validation NLL. The test images are never looked at.
    """
    if not penalties:
        raise ValueError("give at least one penalty to try")
    started = time.perf_counter()
    pixels = as_pixels(data.train_images.reshape(len(data.train_images), -1))
    fit_index, val_index = validation_split(len(pixels), validation_size, seed)
    X, y = pixels[fit_index], data.train_labels[fit_index]
    Xv, yv = pixels[val_index], data.train_labels[val_index]
    trials = []
    with fit_threads(threads):
        for l2 in penalties:
            fit = fit_lbfgs(X, y, float(l2), iterations)
            with torch.no_grad():
                scores = Xv @ fit.weight + fit.bias
                acc = float((scores.argmax(1) == yv).float().mean())
                val_nll = float(F.cross_entropy(scores, yv))
            trials.append(PenaltyTrial(float(l2), acc, val_nll, fit.iterations, fit.seconds))
            if report is not None:
                report(trials[-1])
    best = max(trials, key=lambda t: (t.validation_accuracy, -t.validation_nll))
    return PenaltySearch(tuple(trials), best.l2, len(fit_index), len(val_index), time.perf_counter() - started)


# ---------------------------------------------------------------- the run store
# A ceiling run is stored like any run: ``train_or_load(store, ceiling_config(...), data)`` (or a
# ``TrainingJobs`` job) fits impl lbfgs with ``lbfgs_trainer.train``, chosen by ``training.train``.


def best_linear_run(runs, data_fingerprint: str | None = None):
    """The stored run of the one rule (``ceiling_config()``), finished, on this data if a fingerprint is given; or None.

    Other L-BFGS runs (another penalty or iteration count, fitted by hand) are not "the best linear model":
    choosing among them by test accuracy would choose on the test set, and the reference line would move
    with whoever fitted what. For the training page's reference line: :func:`best_linear_label`.
    """
    rule = ceiling_config()
    return next((r for r in runs if r.config == rule and r.status == "finished" and r.history
                 and r.key == run_key(rule, r.data_fingerprint)
                 and (data_fingerprint is None or r.data_fingerprint == data_fingerprint)
                 and math.isfinite(r.history[-1].test_acc)), None)  # fmt: skip


def best_linear_label(run) -> str:
    """``"best linear (L2 <penalty>): <test accuracy>"``: the reference line's text, naming its penalty."""
    return f"best linear (L2 {run.config.l2:g}): {run.history[-1].test_acc:.4f}"


def _iterations_done(run) -> str:
    done, limit = run.history[-1].epoch, run.config.epochs
    return f"{done} L-BFGS iterations" if done >= limit else f"{done} L-BFGS iterations (converged before {limit})"


def fit_sentence(run, n_train: int) -> str:
    """What a stored L-BFGS run is, every figure read from the run: penalty, iterations, images, time, accuracy."""
    last = run.history[-1]
    return (f"L2 penalty {run.config.l2:g}, {_iterations_done(run)} on all {n_train:,} training images "
            f"({run.train_seconds:.1f}\u00a0s): test accuracy {last.test_acc:.4f}, train loss {last.train_loss:.4f}, "
            f"train accuracy {last.train_acc:.4f}.")  # fmt: skip


def choice_sentence(l2: float, chosen: PenaltyChoice | None = None) -> str:
    """How the penalty ``l2`` came about: the validation search's choice (from ``CHOSEN``), or set by hand."""
    chosen = CHOSEN if chosen is None else chosen
    if l2 != chosen.l2:
        return f"The penalty {l2:g} was set by hand; the validation search chose {chosen.l2:g}."
    grid = ", ".join(f"{p:g}" for p in chosen.penalties)
    return (f"The penalty {l2:g} is the one of {grid} that scored best on {chosen.validation_size:,} training "
            f"images held out from a fit on the other {chosen.fit_size:,} ({chosen.iterations} iterations each; "
            f"validation accuracy {chosen.validation_accuracy:.4f}). The test set was never used to choose.")  # fmt: skip
