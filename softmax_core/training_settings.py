"""What a training is asked for and what it gives back: the settings, their limits, progress and result types.

A leaf module: it imports nothing else of the project, so the trainers, the run
store, the queue, the command line and the pages can all read it without
importing one another. ``TrainConfig.validated`` is the one check of a setting;
the command line prints these limits in its help and the training page gives
them to its widgets.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch

# Bump whenever a change to the trainers (sgd_trainer, lbfgs_trainer) or models.py could alter any number a run produces:
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
LBFGS = "lbfgs"  # the linear ceiling: full-batch L-BFGS with an L2 penalty (softmax_core.lbfgs_trainer)
ALL_IMPLS = (*IMPLS, LBFGS)

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
