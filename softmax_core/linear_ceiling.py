r"""The best a linear model can do: softmax regression trained to convergence with full-batch L-BFGS.

Same model as the chapter (``softmax(X W + b)`` on pixels / 255), but instead of
ten epochs of minibatch SGD it minimises, over all 60,000 training images at once,

    mean cross-entropy + (l2 / 2) * ||W||^2      (the bias is not penalised)

with ``torch.optim.LBFGS``. The penalty ``l2`` is chosen on a validation split
carved from the training images (never the test set), then the model is refit
on all 60,000 with it. The run is stored like any other, through
``train_or_load`` or a ``TrainingJobs`` job (impl ``"lbfgs"``; its ``epochs``
field counts L-BFGS iterations, ``l2`` holds the penalty).

Why it converges in few iterations: the optimiser works on standardised pixels
``(x - mean) / std`` (std floored at 0.1 so near-constant border pixels are not
blown up), i.e. on ``V = W * std``. That is a change of variables of the same
objective (the penalty is written in ``W``), so the optimum is the same model;
it only makes the problem far better conditioned for L-BFGS. The weights are
mapped back to raw pixels before they are stored.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from softmax_core import training
from softmax_core.models import NUM_INPUTS, NUM_OUTPUTS, initial_parameters

PENALTIES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3)  # the grid the validation split chooses from
DEFAULT_L2 = 1e-4  # used when no search was run
DEFAULT_ITERATIONS = 60
VALIDATION_SIZE = 10_000  # carved from the 60,000 training images for the penalty search
SPLIT_SEED = 0
STD_FLOOR = 0.1
RECORD_EVERY = 5  # a history entry (train loss, train and test accuracy) every this many iterations
THREADS = 1  # torch threads for the fit: see the README's measurement (one_thread is the project's default)


def ceiling_config(l2: float = DEFAULT_L2, iterations: int = DEFAULT_ITERATIONS, seed: int = 0) -> training.TrainConfig:
    """The run-store config of a ceiling fit: impl lbfgs, full batch, zero init, L-BFGS step scale 1."""
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
    """The finished lbfgs run with the highest final test accuracy (on this data, if a fingerprint is given), or None.

    For the training page's reference line: ``run.history[-1].test_acc`` and :func:`best_linear_label`.
    """
    ceiling = [r for r in runs if r.config.impl == training.LBFGS and r.status == "finished" and r.history
               and (data_fingerprint is None or r.data_fingerprint == data_fingerprint)
               and math.isfinite(r.history[-1].test_acc)]  # fmt: skip
    return max(ceiling, key=lambda r: r.history[-1].test_acc, default=None)


def best_linear_label(run) -> str:
    """``"best linear: 0.8612"``: the text of the reference line."""
    return f"best linear: {run.history[-1].test_acc:.4f}"


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    global THREADS
    from softmax_core.data import DataError, load_fashion_mnist
    from softmax_core.run_store import RunStore
    from softmax_core.train_or_load import train_or_load

    parser = argparse.ArgumentParser(
        prog="python -m softmax_core.linear_ceiling",
        description="Choose the L2 penalty on a validation split of the training images, then fit L-BFGS on all "
                    "60,000 and store the run (same store as the dashboard).")  # fmt: skip
    parser.add_argument("--l2", type=float, help="skip the search and use this penalty")
    parser.add_argument("--penalties", type=float, nargs="+", default=list(PENALTIES), help="the grid to search")
    parser.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS, help="L-BFGS iterations per fit")
    parser.add_argument("--data-dir")
    parser.add_argument("--runs-dir")
    parser.add_argument("--no-cache", action="store_true", help="refit even if the run is stored")
    parser.add_argument(
        "--threads",
        type=int,
        choices=(1, 2),
        default=THREADS,
        help="torch threads for the fits (to measure one against two)",
    )
    parser.add_argument("--json", action="store_true", help="end stdout with one JSON line")
    args = parser.parse_args(argv)
    THREADS = args.threads
    try:
        data = load_fashion_mnist(args.data_dir)
        l2 = args.l2
        search = None
        if l2 is None:
            print(f"Searching the penalty: fit on {60_000 - VALIDATION_SIZE:,} training images, "
                  f"validate on {VALIDATION_SIZE:,} ...", flush=True)  # fmt: skip
            search = search_penalty(data, args.penalties, args.iterations, report=lambda t: print(
                f"  l2 {t.l2:g}: validation accuracy {t.validation_accuracy:.4f}, NLL {t.validation_nll:.4f}, "
                f"{t.iterations} iterations, {t.seconds:.1f} s", flush=True))  # fmt: skip
            l2 = search.best_l2
            print(f"chosen l2 {l2:g}; search took {search.seconds:.1f} s", flush=True)
        config = ceiling_config(l2, args.iterations)
        cpu = time.process_time()
        run, cached, replaced_broken = train_or_load(RunStore(args.runs_dir), config, data, refresh=args.no_cache)
        cpu = time.process_time() - cpu
    except (DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    last = run.history[-1] if run.history else None
    if replaced_broken:
        print(f"the stored run was broken ({replaced_broken}): fitted again and replaced")
    print(f"{'read from the store' if cached else 'fitted'}: {run.message}")
    print(f"fit on {len(data.train_images):,} images: {run.train_seconds:.2f} s wall"
          + ("" if cached else f" ({cpu:.2f} s CPU, {args.threads} torch thread(s))")
          + (f", test accuracy {last.test_acc:.4f}" if last else ""))  # fmt: skip
    if args.json:
        print(json.dumps({"l2": l2, "iterations": args.iterations, "cached": cached, "status": run.status,
                          "test_acc": last.test_acc if last else None, "fit_seconds": run.train_seconds,
                          "fit_cpu_seconds": None if cached else cpu,
                          "search_seconds": search.seconds if search else None,
                          "search": [t.__dict__ for t in search.trials] if search else None,
                          "replaced_broken": replaced_broken or None,
                          "key": getattr(run, "key", None)}))  # fmt: skip
    return 0 if run.status == "finished" else 1


if __name__ == "__main__":
    sys.exit(main())
