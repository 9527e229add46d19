"""Train (or read) one softmax regression on Fashion-MNIST from the command line.

It uses the same run store as the dashboard, so a lecturer can fill the store
before class and the page then shows those runs at once::

    softmax-train --impl scratch --epochs 10 --batch-size 256 --lr 0.1 --seed 0
    python -m softmax_core.train --epochs 1 --batch-size 1024 --json   # last stdout line: one JSON object

(``softmax-train`` is installed by ``pip install -e .``; ``python -m
softmax_core.train`` is the same program.) A stored run that fails its checks
is trained again and replaced; the output says so (``replaced_broken``).

Exit codes: 0 done (finished or diverged, both stored), 2 bad arguments, an
unusable run store folder or missing data (one line on stderr; the arguments
and the folder are checked before the data is read), 130 stopped with Ctrl-C
(nothing stored).
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading

from softmax_core import json_safe, training
from softmax_core.data import DataError, load_fashion_mnist
from softmax_core.run_store import RunStore, StoredRun, default_runs_dir, run_key
from softmax_core.train_or_load import train_or_load

DEFAULTS = training.TrainConfig()


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line on stderr (``error: ...``) and exit 2, like every other error here."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


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
    """The arguments; their ranges are ``training``'s limits (checked by ``TrainConfig.validated``)."""
    t = training
    parser = OneLineParser(
        prog="softmax-train",
        description="Train softmax regression on Fashion-MNIST (or read the stored run) and print its metrics.",
    )
    parser.add_argument(
        "--impl",
        choices=t.ALL_IMPLS,
        default=DEFAULTS.impl,
        help="; ".join(f"{impl} = {name}" for impl, name in t.IMPL_NAMES.items())
        + "; lbfgs = the linear ceiling (full-batch L-BFGS with --l2)",
    )
    parser.add_argument(
        "--epochs",
        "--iterations",
        type=int,
        default=DEFAULTS.epochs,
        help=f"1 to {t.MAX_EPOCHS} (for lbfgs: L-BFGS iterations)",
    )
    parser.add_argument("--l2", type=float, default=DEFAULTS.l2, help="L2 penalty (lbfgs only)")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help=f"1 to {t.MAX_BATCH_SIZE}")
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr, help=f"learning rate, {t.MIN_LR:g} to {t.MAX_LR:g}")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help=f"0 to {t.MAX_SEED} (2**31 - 1)")
    parser.add_argument(
        "--init-std", type=float, default=DEFAULTS.init_std, help=f"std of the initial weights, 0 to {t.MAX_INIT_STD:g}"
    )
    parser.add_argument(
        "--data-dir", help="folder with the four Fashion-MNIST files (default: $SOFTMAX_DATA_DIR or the cache)"
    )
    parser.add_argument("--runs-dir", help=runs_dir_help())
    parser.add_argument(
        "--no-cache", action="store_true", help="train anew even if the run is stored (and store the new one)"
    )
    parser.add_argument("--json", action="store_true", help="end stdout with one JSON line of the results")
    return parser  # fmt: skip


def summary(run, key: str, cached: bool, replaced_broken: str = "") -> dict:
    """The JSON object the CLI prints: config, per-epoch metrics, seconds, cached, key, status.

    ``replaced_broken`` is null, or why the stored run could not be served
    (it was trained again and replaced, so ``cached`` is false). A diverged run
    adds ``diverged_at`` ([epoch, batch]) and its ``batch_losses``.
    """
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
    }


class ProgressBar:
    """``epoch 3/10 [#####.....] batch 120/235  epoch 2: loss 0.512, test acc 0.821`` on stderr, redrawn in place."""

    WIDTH = 30

    def __init__(self, stream):
        self.stream = stream

    def __call__(self, p: training.Progress) -> None:
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.impl == training.LBFGS:  # the ceiling's own defaults: full batch, zero init, step scale 1
        from softmax_core.linear_ceiling import ceiling_config

        parser.set_defaults(**{k: v for k, v in ceiling_config().to_dict().items() if k != "impl"})
        args = parser.parse_args(argv)
    try:
        config = training.TrainConfig(
            impl=args.impl, lr=args.lr, batch_size=args.batch_size,
            epochs=args.epochs, seed=args.seed, init_std=args.init_std, l2=args.l2,
        ).validated()  # fmt: skip
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problem = runs_dir_problem(args.runs_dir)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() else None
    if bar:
        print("Loading Fashion-MNIST ...", file=sys.stderr, flush=True)
    try:
        data = load_fashion_mnist(args.data_dir)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = RunStore(args.runs_dir)
    key = run_key(config, data.fingerprint)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())  # Ctrl-C: stop after this batch, store nothing
    try:
        run, cached, replaced_broken = train_or_load(
            store, config, data, progress=bar, should_stop=stop.is_set, refresh=args.no_cache
        )
    except OSError as exc:  # e.g. the runs folder is not writable
        if bar:
            bar.close()
        print(f"error: cannot use the run store {store.root}: {exc}", file=sys.stderr)
        return 2
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
    sys.stdout.flush()
    return 0


def cli() -> int:
    """The ``softmax-train`` command: :func:`main`, with Ctrl-C before training (e.g. while loading) ending quietly."""
    try:
        return main()
    except KeyboardInterrupt:
        print("Stopped; nothing was stored.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(cli())
