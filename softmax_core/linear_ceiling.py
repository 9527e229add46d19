r"""The best a linear model can do: softmax regression trained to convergence with full-batch L-BFGS.

Same model as the chapter (``softmax(X W + b)`` on pixels / 255), but instead of
ten epochs of minibatch SGD it minimises, over all 60,000 training images at once,

    mean cross-entropy + (l2 / 2) * ||W||^2      (the bias is not penalised)

with ``torch.optim.LBFGS``.

One rule decides what "the best linear model" is: :func:`ceiling_config` with
its defaults, ``DEFAULT_L2`` for ``DEFAULT_ITERATIONS`` iterations on all
training images. The calibration page's button, ``python -m
softmax_core.linear_ceiling`` and ``softmax-train --impl lbfgs`` all fit that
config, so they store one run under one key. The penalty is fixed rather than
searched on every fit: the search costs five fits on 50,000 images, about four
times the fit itself, too long for a button pressed in class while it holds
the server's one training queue; and the choice between neighbouring penalties can flip with
a few validation images between machines, so a search per fit would not even
give the same model everywhere. ``CHOSEN`` records how ``DEFAULT_L2`` was
chosen (the grid, the split, the validation accuracy); ``--search`` reruns
that search, stores nothing and says whether it still picks ``DEFAULT_L2``.
The penalty is chosen on a validation split carved from the training images,
never on the test set.

Why it converges in few iterations: the optimiser works on standardised pixels
``(x - mean) / std`` (std floored at 0.1 so near-constant border pixels are not
blown up), i.e. on ``V = W * std``. That is a change of variables of the same
objective (the penalty is written in ``W``), so the optimum is the same model;
it only makes the problem far better conditioned for L-BFGS. The weights are
mapped back to raw pixels before they are stored.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from softmax_core import json_safe, training
from softmax_core.models import NUM_INPUTS, NUM_OUTPUTS, initial_parameters

PENALTIES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3)  # the grid the validation split chooses from
VALIDATION_SIZE = 10_000  # carved from the 60,000 training images for the penalty search
SPLIT_SEED = 0
STD_FLOOR = 0.1
RECORD_EVERY = 5  # a history entry (train loss, train and test accuracy) every this many iterations
THREADS = 1  # torch threads for the fit: see docs/performance.md (one_thread is the project's default)


@dataclass(frozen=True)
class PenaltyChoice:
    """How a penalty was chosen: fitted on ``fit_size`` training images, scored on the other ``validation_size``."""

    l2: float
    validation_accuracy: float  # of the chosen penalty
    penalties: tuple[float, ...]  # the grid it was chosen from
    iterations: int  # L-BFGS iterations of each trial fit
    fit_size: int
    validation_size: int


# What ``python -m softmax_core.linear_ceiling --search`` chose (docs/ceiling-and-accuracy.md has the run).
CHOSEN = PenaltyChoice(l2=3e-5, validation_accuracy=0.8485, penalties=PENALTIES, iterations=60,
                       fit_size=60_000 - VALIDATION_SIZE, validation_size=VALIDATION_SIZE)  # fmt: skip
DEFAULT_L2 = CHOSEN.l2  # the ceiling's penalty: the one rule's
DEFAULT_ITERATIONS = 60  # the ceiling's L-BFGS iterations


def ceiling_config(l2: float | None = None, iterations: int | None = None, seed: int = 0) -> training.TrainConfig:
    """The run-store config of a ceiling fit: impl lbfgs, full batch, zero init, L-BFGS step scale 1.

    Without arguments it is *the* best linear model, the one rule every caller fits
    (``DEFAULT_L2``, ``DEFAULT_ITERATIONS``, read when called).
    """
    l2 = DEFAULT_L2 if l2 is None else l2
    iterations = DEFAULT_ITERATIONS if iterations is None else iterations
    return training.TrainConfig(impl=training.LBFGS, lr=1.0, batch_size=training.MAX_TRAIN_SIZE, epochs=iterations,
                                seed=seed, init_std=0.0, l2=l2).validated()  # fmt: skip


@contextmanager
def _threads(n: int):
    if n == 1:
        with training.one_thread():
            yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _Stop(Exception):
    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Fit:
    weight: torch.Tensor  # (784, 10), for pixels in [0, 1]
    bias: torch.Tensor  # (10,)
    history: tuple[training.EpochMetrics, ...]
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
    progress: Callable[[training.Progress], None] | None = None,
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
    history: list[training.EpochMetrics] = []
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
        history.append(training.EpochMetrics(iteration, data_loss, train_acc, test_acc, now - last_time))
        last_time = now
        if progress is not None:
            progress(training.Progress(iteration, iterations, 1, 1, tuple(history)))

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


def train_lbfgs(config: training.TrainConfig, data, progress=None, should_stop=None) -> training.TrainResult:
    """``training.train`` for impl "lbfgs": fit on all training images, test accuracy in the history."""
    config = config.validated()
    generator = torch.Generator().manual_seed(config.seed)
    init = initial_parameters(config.init_std, generator)
    with _threads(THREADS):
        pixels = training.as_pixels(data.train_images.reshape(len(data.train_images), -1))
        test = (training.as_pixels(data.test_images.reshape(len(data.test_images), -1)), data.test_labels)
        fit = fit_lbfgs(pixels, data.train_labels, config.l2, config.epochs, lr=config.lr, init=init, test=test,
                        progress=progress, should_stop=should_stop)  # fmt: skip
    return training.TrainResult(config=config, history=fit.history, status=fit.status, message=fit.message,
                                weight=fit.weight, bias=fit.bias, train_seconds=fit.seconds)  # fmt: skip


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
) -> PenaltySearch:
    """Fit on the training images minus a validation split, one fit per penalty; best validation accuracy wins.

    Ties go to the lower validation NLL. The test images are never looked at.
    """
    if not penalties:
        raise ValueError("give at least one penalty to try")
    started = time.perf_counter()
    pixels = training.as_pixels(data.train_images.reshape(len(data.train_images), -1))
    fit_index, val_index = validation_split(len(pixels), validation_size, seed)
    X, y = pixels[fit_index], data.train_labels[fit_index]
    Xv, yv = pixels[val_index], data.train_labels[val_index]
    trials = []
    with _threads(THREADS):
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
# ``TrainingJobs`` job) dispatches impl lbfgs to ``train_lbfgs`` through ``training.train``.


def best_linear_run(runs, data_fingerprint: str | None = None):
    """The stored run of the one rule (``ceiling_config()``), finished, on this data if a fingerprint is given; or None.

    Other L-BFGS runs (another penalty or iteration count, fitted by hand) are not "the best linear model":
    choosing among them by test accuracy would choose on the test set, and the reference line would move
    with whoever fitted what. For the training page's reference line: :func:`best_linear_label`.
    """
    from softmax_core.run_store import run_key  # imports training, which imports this module late

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


# ---------------------------------------------------------------- command line


class _Usage(Exception):
    """A bad argument: one line on stderr, exit 2."""


def build_parser() -> argparse.ArgumentParser:
    from softmax_core.train import OneLineParser, runs_dir_help

    parser = OneLineParser(
        prog="python -m softmax_core.linear_ceiling",
        description=f"Fit the best linear model (L2 {DEFAULT_L2:g}, {DEFAULT_ITERATIONS} L-BFGS iterations on all "
                    "training images) and store it: the run the calibration page's button fits. --search reruns "
                    "the validation search that chose the penalty and stores nothing.")  # fmt: skip
    parser.add_argument("--search", action="store_true",
                        help="rerun the penalty search on a 50,000 / 10,000 split of the training images; "
                             "stores nothing")  # fmt: skip
    parser.add_argument("--l2", type=float, help=f"fit this penalty instead of {DEFAULT_L2:g} (another run)")
    parser.add_argument(
        "--penalties",
        type=float,
        nargs="+",
        help="with --search: the grid (default " + " ".join(f"{p:g}" for p in PENALTIES) + ")",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        help=f"L-BFGS iterations per fit, 1 to {training.MAX_EPOCHS} (default {DEFAULT_ITERATIONS})",
    )
    parser.add_argument("--data-dir", help="folder with the four Fashion-MNIST files")
    parser.add_argument("--runs-dir", help=runs_dir_help())
    parser.add_argument("--no-cache", action="store_true", help="refit even if the run is stored")
    parser.add_argument("--threads", type=int, choices=(1, 2), default=THREADS,
                        help="torch threads for the fits (to measure one against two)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="end stdout with one JSON line")
    return parser


def _finite_penalty(flag: str, value: float) -> float:
    if not (math.isfinite(value) and value >= 0):
        raise _Usage(f"{flag}: a penalty must be a finite number >= 0, got {value!r}")
    return value


def checked_arguments(args) -> tuple[float | None, int, tuple[float, ...]]:
    """(l2 or None for a search, iterations, penalties) after every check; raises ``_Usage`` with a sentence.

    Everything is checked here, before the data is read or a fit starts.
    """
    from softmax_core.train import runs_dir_problem

    if args.search and args.l2 is not None:
        raise _Usage("--search chooses the penalty and --l2 sets it: give one of them")
    if args.penalties is not None and not args.search:
        raise _Usage("--penalties is the grid of --search: add --search, or fit one penalty with --l2")
    if args.search and (args.runs_dir is not None or args.no_cache):
        raise _Usage("--search stores nothing: --runs-dir and --no-cache belong to a fit")
    iterations = DEFAULT_ITERATIONS if args.iterations is None else args.iterations
    if not 1 <= iterations <= training.MAX_EPOCHS:
        raise _Usage(f"--iterations must be between 1 and {training.MAX_EPOCHS}, got {iterations}")
    penalties = tuple(_finite_penalty("--penalties", p) for p in (args.penalties or PENALTIES))
    if args.search:
        return None, iterations, penalties
    l2 = DEFAULT_L2 if args.l2 is None else _finite_penalty("--l2", args.l2)
    problem = runs_dir_problem(args.runs_dir)
    if problem:
        raise _Usage(problem)
    return l2, iterations, penalties


def _search(data, penalties, iterations: int, as_json: bool) -> int:
    fit_size = len(data.train_images) - VALIDATION_SIZE
    print(f"Searching the penalty: fit on {fit_size:,} training images, validate on {VALIDATION_SIZE:,} ...",
          flush=True)  # fmt: skip
    search = search_penalty(data, penalties, iterations, report=lambda t: print(
        f"  l2 {t.l2:g}: validation accuracy {t.validation_accuracy:.4f}, NLL {t.validation_nll:.4f}, "
        f"{t.iterations} iterations, {t.seconds:.1f} s", flush=True))  # fmt: skip
    found = search.choice()
    print(f"chosen l2 {found.l2:g} (validation accuracy {found.validation_accuracy:.4f}); "
          f"search took {search.seconds:.1f} s")  # fmt: skip
    agrees = found.l2 == CHOSEN.l2
    if agrees:
        print(f"That is the penalty the best linear model is fitted with ({DEFAULT_L2:g}).")
    else:
        print(f"warning: this search chose {found.l2:g}; the best linear model is fitted with the recorded choice "
              f"{CHOSEN.l2:g} (validation accuracy {CHOSEN.validation_accuracy:.4f}, {CHOSEN.iterations} iterations, "
              f"grid {' '.join(f'{p:g}' for p in CHOSEN.penalties)}).", file=sys.stderr)  # fmt: skip
    if as_json:
        print(json_safe.dumps({"chosen": asdict(found), "recorded": asdict(CHOSEN), "agrees": agrees,
                               "search_seconds": search.seconds,
                               "trials": [asdict(t) for t in search.trials]}))  # fmt: skip
    return 0


def _fit(data, l2: float, iterations: int, args) -> int:
    from softmax_core.run_store import RunStore
    from softmax_core.train_or_load import train_or_load

    config = ceiling_config(l2, iterations)
    store = RunStore(args.runs_dir)
    cpu = time.process_time()
    try:
        run, cached, replaced_broken = train_or_load(store, config, data, refresh=args.no_cache)
    except OSError as exc:  # e.g. the disk filled up while saving
        print(f"error: cannot use the run store {store.root}: {exc}", file=sys.stderr)
        return 2
    cpu = time.process_time() - cpu
    last = run.history[-1] if run.history else None
    if replaced_broken:
        print(f"the stored run was broken ({replaced_broken}): fitted again and replaced")
    print(f"{'read from the store' if cached else 'fitted'}: {run.message}")
    if last is not None and run.status == "finished":
        print(fit_sentence(run, len(data.train_images)))
        print(choice_sentence(l2) + ("" if config == ceiling_config() else
                                     " Not the best linear model the pages show: that is "
                                     f"L2 {DEFAULT_L2:g}, {DEFAULT_ITERATIONS} iterations."))  # fmt: skip
    if not cached:
        print(f"{cpu:.2f} s CPU, {args.threads} torch thread(s)")
    if args.json:
        print(json_safe.dumps({"l2": l2, "iterations": iterations, "best_linear": config == ceiling_config(),
                          "cached": cached, "status": run.status,
                          "test_acc": last.test_acc if last else None,
                          "train_loss": last.train_loss if last else None,
                          "train_acc": last.train_acc if last else None,
                          "iterations_done": last.epoch if last else None,
                          "fit_seconds": run.train_seconds, "fit_cpu_seconds": None if cached else cpu,
                          "replaced_broken": replaced_broken or None,
                          "key": getattr(run, "key", None)}))  # fmt: skip
    return 0 if run.status == "finished" else 1


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 done, 1 the fit diverged or was stopped, 2 a bad argument, missing data or an unusable store."""
    global THREADS
    from softmax_core.data import DataError, load_fashion_mnist

    args = build_parser().parse_args(argv)
    try:
        l2, iterations, penalties = checked_arguments(args)
    except _Usage as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    THREADS = args.threads
    try:
        data = load_fashion_mnist(args.data_dir)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if l2 is None:
        return _search(data, penalties, iterations, args.json)
    return _fit(data, l2, iterations, args)


def cli() -> int:
    """:func:`main`, with Ctrl-C ending in one line (exit 130) like ``softmax-train``; a store write is atomic."""
    try:
        return main()
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(cli())
