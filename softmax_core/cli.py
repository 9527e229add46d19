"""``softmax-train``: train (or read) one softmax regression on Fashion-MNIST, any kind, from the command line.

It uses the same run store as the dashboard, so a lecturer can fill the store
before class and the page then shows those runs at once::

    softmax-train --impl scratch --epochs 10 --batch-size 256 --lr 0.1 --seed 0
    python -m softmax_core.cli --epochs 1 --batch-size 1024 --json   # last stdout line: one JSON object
    softmax-train --impl lbfgs            # the best linear model (the calibration page's button fits the same run)
    softmax-train --search                # rerun the search that chose its penalty; stores nothing

(``softmax-train`` is installed by ``pip install -e .``; ``python -m
softmax_core.cli`` is the same program.) ``--impl`` picks the trainer
(:data:`softmax_core.training.TRAINERS`); ``--impl lbfgs`` starts from the best
linear model's settings (:func:`softmax_core.linear_ceiling.ceiling_config`). A
stored run that fails its checks is trained again and replaced; the output
says so (``replaced_broken``).

Exit codes: 0 done (finished or diverged, both stored; a search), 2 bad
arguments, an unusable run store folder or missing data (one line on stderr;
every argument and the folder are checked before the data is read), 130
stopped with Ctrl-C (nothing stored).
"""

from __future__ import annotations

import argparse
import functools
import math
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass

from softmax_core import json_safe, lbfgs_trainer, training
from softmax_core import linear_ceiling as ceiling
from softmax_core import training_settings as limits
from softmax_core.data import DataError, load_fashion_mnist
from softmax_core.run_store import RunStore, StoredRun, default_runs_dir, run_key
from softmax_core.train_or_load import train_or_load
from softmax_core.training_settings import LBFGS, Progress, TrainConfig

# The options that set one field of a TrainConfig (the count is --epochs, alias --iterations).
CONFIG_OPTIONS = {"lr": "--lr", "batch_size": "--batch-size", "seed": "--seed", "init_std": "--init-std"}


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (``error: ...``) and exit 2, like every other error here."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


class Usage(Exception):
    """A bad argument found after parsing: one line on stderr, exit 2."""


def runs_dir_help() -> str:
    return f"run store folder (default: $SOFTMAX_RUNS_DIR or {default_runs_dir()})"


def runs_dir_problem(runs_dir: str | None) -> str:
    """Why the run store folder cannot be used, in one sentence, or "" if it can.

    Checked before the data is read or anything is trained, so a typo costs nothing. A folder
    that does not exist yet is fine if it can be created: its nearest existing parent must be a
    writable folder. Writability is tried (a temporary file), not guessed from permission bits.
    """
    if runs_dir is not None and not runs_dir.strip():
        return "--runs-dir is empty: name a folder"
    folder = RunStore(runs_dir).root
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    where = f"cannot use the run store {folder}"
    if not existing.is_dir():
        if existing == folder:
            return f"{where}: it is a file, not a folder"
        return f"{where}: {existing} is a file, so the folder cannot be created there"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        inside = "" if existing == folder else f" (it would be created inside {existing})"
        return f"{where}: cannot write there{inside}: {exc.strerror or exc}"
    return ""


def build_parser() -> argparse.ArgumentParser:
    """The arguments; their ranges are the settings' limits (checked by ``TrainConfig.validated``).

    Every setting defaults to None here, so :func:`checked_plan` can tell a given option from an
    absent one: the defaults depend on the kind (``TrainConfig()`` for SGD, ``ceiling_config()`` for lbfgs).
    """
    t, sgd, best = limits, TrainConfig(), ceiling.ceiling_config()
    parser = OneLineParser(
        prog="softmax-train",
        description="Train softmax regression on Fashion-MNIST (or read the stored run) and print its metrics; "
        "or, with --search, rerun the validation search that chose the best linear model's penalty.",
    )
    parser.add_argument(
        "--impl",
        choices=t.ALL_IMPLS,
        help="; ".join(f"{impl} = {name}" for impl, name in t.IMPL_NAMES.items())
        + f"; lbfgs = the linear ceiling (full-batch L-BFGS with --l2). Default {sgd.impl}",
    )
    parser.add_argument(
        "--epochs",
        "--iterations",
        type=int,
        help=f"1 to {t.MAX_EPOCHS} (for lbfgs: L-BFGS iterations). Default {sgd.epochs}, lbfgs {best.epochs}",
    )
    parser.add_argument("--l2", type=float, help=f"L2 penalty (lbfgs only). Default for lbfgs {best.l2:g}")
    parser.add_argument(
        "--batch-size", type=int, help=f"1 to {t.MAX_BATCH_SIZE}. Default {sgd.batch_size}, lbfgs {best.batch_size}"
    )
    parser.add_argument(
        "--lr",
        type=float,
        help=f"learning rate, {t.MIN_LR:g} to {t.MAX_LR:g} (lbfgs: step scale). Default {sgd.lr:g}, lbfgs {best.lr:g}",
    )
    parser.add_argument("--seed", type=int, help=f"0 to {t.MAX_SEED} (2**31 - 1). Default {sgd.seed}")
    parser.add_argument(
        "--init-std",
        type=float,
        help=f"std of the initial weights, 0 to {t.MAX_INIT_STD:g}. Default {sgd.init_std:g}, lbfgs {best.init_std:g}",
    )
    parser.add_argument(
        "--search",
        action="store_true",
        help=f"rerun the penalty search of the best linear model on a {limits.MAX_TRAIN_SIZE - ceiling.VALIDATION_SIZE:,}"
        f" / {ceiling.VALIDATION_SIZE:,} split of the training images, --iterations per fit; stores nothing",
    )
    parser.add_argument(
        "--penalties",
        type=float,
        nargs="+",
        help="with --search: the grid (default " + " ".join(f"{p:g}" for p in ceiling.PENALTIES) + ")",
    )
    parser.add_argument(
        "--threads",
        type=int,
        choices=(1, 2),
        help=f"torch threads for an lbfgs fit or the search (to measure one against two). Default {lbfgs_trainer.THREADS}",
    )
    parser.add_argument(
        "--data-dir", help="folder with the four Fashion-MNIST files (default: $SOFTMAX_DATA_DIR or the cache)"
    )
    parser.add_argument("--runs-dir", help=runs_dir_help())
    parser.add_argument(
        "--no-cache", action="store_true", help="train anew even if the run is stored (and store the new one)"
    )
    parser.add_argument("--json", action="store_true", help="end stdout with one JSON line of the results")
    return parser


@dataclass(frozen=True)
class Search:
    """What ``--search`` runs: one fit per penalty, ``iterations`` each, on ``threads`` torch threads."""

    penalties: tuple[float, ...]
    iterations: int
    threads: int


@dataclass(frozen=True)
class Fit:
    """What a training runs: ``config`` (validated) on ``threads`` torch threads (lbfgs only)."""

    config: TrainConfig
    threads: int


def checked_plan(args: argparse.Namespace) -> Search | Fit:
    """The search or the training the arguments ask for, after every check; raises :class:`Usage` with a sentence.

    Everything is checked here, before the data is read or anything is trained.
    """
    if args.search:
        return _checked_search(args)
    if args.penalties is not None:
        raise Usage("--penalties is the grid of --search: add --search, or fit one penalty with --l2")
    impl = args.impl or TrainConfig().impl
    if impl != LBFGS and args.threads not in (None, 1):
        raise Usage("--threads is for lbfgs fits and --search: SGD trains on one torch thread")
    defaults = ceiling.ceiling_config() if impl == LBFGS else TrainConfig()
    if impl == LBFGS:
        _check_iterations(args.epochs)
        if args.l2 is not None:
            _finite_penalty("--l2", args.l2)
    given = {field: getattr(args, field) for field in (*CONFIG_OPTIONS, "epochs", "l2")}
    settings = {**asdict(defaults), **{k: v for k, v in given.items() if v is not None}, "impl": impl}
    try:
        config = TrainConfig(**settings).validated()
    except ValueError as exc:
        raise Usage(str(exc)) from None
    problem = runs_dir_problem(args.runs_dir)
    if problem:
        raise Usage(problem)
    return Fit(config, lbfgs_trainer.THREADS if args.threads is None else args.threads)


def _checked_search(args: argparse.Namespace) -> Search:
    if args.l2 is not None:
        raise Usage("--search chooses the penalty and --l2 sets it: give one of them")
    if args.runs_dir is not None or args.no_cache:
        raise Usage("--search stores nothing: --runs-dir and --no-cache belong to a fit")
    if args.impl not in (None, LBFGS):
        raise Usage(f"--search chooses the penalty of an lbfgs fit: --impl {args.impl} does not apply")
    given = [flag for field, flag in CONFIG_OPTIONS.items() if getattr(args, field) is not None]
    if given:
        verb = "belongs" if len(given) == 1 else "belong"
        raise Usage(f"--search fits with the best linear model's settings: {', '.join(given)} {verb} to a fit")
    iterations = ceiling.DEFAULT_ITERATIONS if args.epochs is None else args.epochs
    _check_iterations(iterations)
    penalties = tuple(_finite_penalty("--penalties", p) for p in (args.penalties or ceiling.PENALTIES))
    return Search(penalties, iterations, lbfgs_trainer.THREADS if args.threads is None else args.threads)


def _check_iterations(iterations: int | None) -> None:
    if iterations is not None and not 1 <= iterations <= limits.MAX_EPOCHS:
        raise Usage(f"--iterations must be between 1 and {limits.MAX_EPOCHS}, got {iterations}")


def _finite_penalty(flag: str, value: float) -> float:
    if not (math.isfinite(value) and value >= 0):
        raise Usage(f"{flag}: a penalty must be a finite number >= 0, got {value!r}")
    return value


def summary(run, key: str, cached: bool, replaced_broken: str = "") -> dict:
    """The JSON object the CLI prints: config, per-epoch metrics, seconds, cached, key, status.

    ``replaced_broken`` is null, or why the stored run could not be served
    (it was trained again and replaced, so ``cached`` is false). A diverged run
    adds ``diverged_at`` ([epoch, batch]) and its ``batch_losses``. ``train_loss``, ``train_acc`` and
    ``test_acc`` are the last history entry's (null without one); ``best_linear`` says whether the run is
    the best linear model the pages show (``ceiling_config()``).
    """
    last = run.history[-1] if run.history else None
    return {
        "key": key,
        "cached": cached,
        "status": run.status,
        "replaced_broken": replaced_broken or None,
        "message": run.message,
        "config": run.config.to_dict(),
        "epochs": [
            {
                "epoch": m.epoch,
                "train_loss": m.train_loss,
                "train_acc": m.train_acc,
                "test_acc": m.test_acc,
                "seconds": m.seconds,
            }
            for m in run.history
        ],
        "train_seconds": run.train_seconds,
        "diverged_at": list(run.diverged_at) if run.diverged_at is not None else None,
        "batch_losses": list(run.batch_losses),
        "path": str(run.path) if isinstance(run, StoredRun) else None,
        "train_loss": last.train_loss if last else None,
        "train_acc": last.train_acc if last else None,
        "test_acc": last.test_acc if last else None,
        "best_linear": run.config == ceiling.ceiling_config(),
    }


class ProgressBar:
    """``epoch 3/10 [#####.....] batch 120/235  epoch 2: loss 0.512, test acc 0.821`` on stderr, redrawn in place."""

    WIDTH = 30

    def __init__(self, stream):
        self.stream = stream

    def __call__(self, p: Progress) -> None:
        done = ((p.epoch - 1) + p.batch / max(p.batches, 1)) / max(p.epochs, 1)
        filled = round(self.WIDTH * done)
        line = f"\repoch {p.epoch}/{p.epochs} [{'#' * filled}{'.' * (self.WIDTH - filled)}] batch {p.batch}/{p.batches}"
        if p.history:
            last = p.history[-1]
            line += f"  epoch {last.epoch}: loss {last.train_loss:.3f}, test acc {last.test_acc:.3f}"
        self.stream.write(line.ljust(100)[:100])
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def print_table(run, key: str, cached: bool, out, replaced_broken: str = "") -> None:
    origin = "read from the store" if cached else "trained"
    if replaced_broken:
        origin = f"trained again, the stored run was broken ({replaced_broken})"
    c = run.config
    print(f"{c.impl} lr={c.lr} batch={c.batch_size} seed={c.seed}: {origin}", file=out)
    print(f"{'epoch':>5}  {'train loss':>10}  {'train acc':>9}  {'test acc':>8}  {'seconds':>7}", file=out)
    for m in run.history:
        row = f"{m.epoch:>5}  {m.train_loss:>10.4f}  {m.train_acc:>9.4f}  {m.test_acc:>8.4f}  {m.seconds:>7.2f}"
        print(row, file=out)
    print(f"{run.status}: {run.message}" if run.message else run.status, file=out)
    where = f" in {run.path}" if isinstance(run, StoredRun) else ""
    print(f"key {key}{where}, trained in {run.train_seconds:.1f} s", file=out)
    if run.config.impl == LBFGS and run.status == "finished" and run.history:
        print_ceiling_sentences(run, out)


def print_ceiling_sentences(run, out) -> None:
    """What an lbfgs run is beside the best linear model: its figures, and how its penalty came about."""
    print(ceiling.fit_sentence(run, limits.MAX_TRAIN_SIZE), file=out)
    rule = ceiling.ceiling_config()
    other = (
        ""
        if run.config == rule
        else (f" Not the best linear model the pages show: that is L2 {rule.l2:g}, {rule.epochs} iterations.")
    )
    print(ceiling.choice_sentence(run.config.l2) + other, file=out)


def main(argv: list[str] | None = None) -> int:
    """Check every argument, then read the data, then train (or read the stored run) or search."""
    args = build_parser().parse_args(argv)
    try:
        plan = checked_plan(args)
    except Usage as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() and isinstance(plan, Fit) else None
    if bar:
        print("Loading Fashion-MNIST ...", file=sys.stderr, flush=True)
    try:
        data = load_fashion_mnist(args.data_dir)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if isinstance(plan, Search):
        return search(data, plan, args.json)
    return fit(data, plan, args, bar)


def fit(data, plan: Fit, args: argparse.Namespace, bar: ProgressBar | None) -> int:
    """Train ``plan.config`` (or read it from the store) and print the table or the JSON line."""
    config = plan.config
    store = RunStore(args.runs_dir)
    key = run_key(config, data.fingerprint)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C: stop after this batch, store nothing
    cpu = time.process_time()
    try:
        run, cached, replaced_broken = train_or_load(
            store, config, data, progress=bar, should_stop=stop.is_set, refresh=args.no_cache, trainer=trainer_of(plan)
        )
    except OSError as exc:  # e.g. the runs folder is not writable
        if bar:
            bar.close()
        print(f"error: cannot use the run store {store.root}: {exc}", file=sys.stderr)
        return 2
    cpu = time.process_time() - cpu
    if bar:
        bar.close()
    if run.status == "cancelled":
        print(f"Stopped: {run.message or 'cancelled'} Nothing was stored.", file=sys.stderr)
        return 130
    if replaced_broken:
        print(f"warning: the stored run was broken and was trained again: {replaced_broken}", file=sys.stderr)
    if run.status == "diverged":
        print(f"warning: {run.message}", file=sys.stderr)
    if args.json:
        print(json_safe.dumps(summary(run, key, cached, replaced_broken)))
    else:
        print_table(run, key, cached, sys.stdout, replaced_broken)
        if config.impl == LBFGS and not cached:
            print(f"{cpu:.2f} s CPU, {plan.threads} torch thread(s)")
    sys.stdout.flush()
    return 0


def trainer_of(plan: Fit) -> training.Trainer:
    """``training.train`` (the trainer of the config's impl), or for ``--threads 2`` the L-BFGS trainer told so."""
    if plan.threads == lbfgs_trainer.THREADS:
        return training.train
    return functools.partial(lbfgs_trainer.train, threads=plan.threads)


def search(data, plan: Search, as_json: bool) -> int:
    """Rerun the penalty search and say whether it still picks the recorded penalty; store nothing."""
    fit_size = len(data.train_images) - ceiling.VALIDATION_SIZE
    try:  # from the first line on: a Ctrl-C right after it is the search's, not the start-up's
        print(f"Searching the penalty: fit on {fit_size:,} training images, validate on "
              f"{ceiling.VALIDATION_SIZE:,} ...", flush=True)  # fmt: skip
        found = ceiling.search_penalty(data, plan.penalties, plan.iterations, threads=plan.threads,
                                       report=_print_trial)  # fmt: skip
    except KeyboardInterrupt:  # nothing to store or stop cleanly: the search is only printed
        print("Stopped.", file=sys.stderr)
        return 130
    chosen, recorded = found.choice(), ceiling.CHOSEN
    print(f"chosen l2 {chosen.l2:g} (validation accuracy {chosen.validation_accuracy:.4f}); "
          f"search took {found.seconds:.1f} s")  # fmt: skip
    agrees = chosen.l2 == recorded.l2
    if agrees:
        print(f"That is the penalty the best linear model is fitted with ({ceiling.DEFAULT_L2:g}).")
    else:
        print(f"warning: this search chose {chosen.l2:g}; the best linear model is fitted with the recorded choice "
              f"{recorded.l2:g} (validation accuracy {recorded.validation_accuracy:.4f}, {recorded.iterations} "
              f"iterations, grid {' '.join(f'{p:g}' for p in recorded.penalties)}).", file=sys.stderr)  # fmt: skip
    if as_json:
        print(json_safe.dumps({"chosen": asdict(chosen), "recorded": asdict(recorded), "agrees": agrees,
                               "search_seconds": found.seconds,
                               "trials": [asdict(t) for t in found.trials]}))  # fmt: skip
    return 0


def _print_trial(t: ceiling.PenaltyTrial) -> None:
    print(f"  l2 {t.l2:g}: validation accuracy {t.validation_accuracy:.4f}, NLL {t.validation_nll:.4f}, "
          f"{t.iterations} iterations, {t.seconds:.1f} s", flush=True)  # fmt: skip


def cli() -> int:
    """The ``softmax-train`` command: :func:`main`, with Ctrl-C before training (e.g. while loading) ending quietly."""
    try:
        return main()
    except KeyboardInterrupt:
        print("Stopped; nothing was stored.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(cli())
