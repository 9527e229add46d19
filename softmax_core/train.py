"""Train (or read) one softmax regression on Fashion-MNIST from the command line.

It uses the same run store as the dashboard, so a lecturer can fill the store
before class and the page then shows those runs at once::

    python -m softmax_core.train --impl scratch --epochs 10 --batch-size 256 --lr 0.1 --seed 0
    python -m softmax_core.train --epochs 1 --batch-size 1024 --json   # last stdout line: one JSON object

Exit codes: 0 done (finished or diverged, both stored), 2 bad arguments or
missing data, 130 stopped with Ctrl-C (nothing stored).
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading

from softmax_core import training
from softmax_core.data import DataError, load_fashion_mnist
from softmax_core.run_store import RunStore, StoredRun, default_runs_dir, run_key

DEFAULTS = training.TrainConfig()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m softmax_core.train",
        description="Train softmax regression on Fashion-MNIST (or read the stored run) and print its metrics.",
    )
    parser.add_argument("--impl", choices=training.ALL_IMPLS, default=DEFAULTS.impl,
                        help="scratch = d2l 3.6 (own softmax, loss, SGD); concise = d2l 3.7 (torch.nn); "
                             "lbfgs = the linear ceiling (full-batch L-BFGS with --l2)")
    parser.add_argument("--epochs", "--iterations", type=int, default=DEFAULTS.epochs,
                        help="epochs (for lbfgs: L-BFGS iterations)")
    parser.add_argument("--l2", type=float, default=DEFAULTS.l2, help="L2 penalty (lbfgs only)")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument("--lr", type=float, default=DEFAULTS.lr, help="learning rate")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--init-std", type=float, default=DEFAULTS.init_std, help="std of the initial weights")
    parser.add_argument("--data-dir", help="folder with the four Fashion-MNIST files (default: $SOFTMAX_DATA_DIR or the cache)")
    parser.add_argument("--runs-dir", help=f"run store folder (default: $SOFTMAX_RUNS_DIR or {default_runs_dir()})")
    parser.add_argument("--no-cache", action="store_true", help="train anew even if the run is stored (and store the new one)")
    parser.add_argument("--json", action="store_true", help="end stdout with one JSON line of the results")
    return parser  # fmt: skip


def _number(x: float):
    """JSON has no NaN/inf: a diverged loss becomes null."""
    return x if math.isfinite(x) else None


def summary(run, key: str, cached: bool) -> dict:
    """The JSON object the CLI prints: config, per-epoch metrics, seconds, cached, key, status."""
    return {
        "key": key,
        "cached": cached,
        "status": run.status,
        "message": run.message,
        "config": run.config.to_dict(),
        "epochs": [
            {
                "epoch": m.epoch,
                "train_loss": _number(m.train_loss),
                "train_acc": _number(m.train_acc),
                "test_acc": _number(m.test_acc),
                "seconds": m.seconds,
            }
            for m in run.history
        ],
        "train_seconds": run.train_seconds,
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


def print_table(run, key: str, cached: bool, out) -> None:
    origin = "read from the store" if cached else "trained"
    print(f"{run.config.impl} lr={run.config.lr} batch={run.config.batch_size} seed={run.config.seed}: {origin}", file=out)
    print(f"{'epoch':>5}  {'train loss':>10}  {'train acc':>9}  {'test acc':>8}  {'seconds':>7}", file=out)
    for m in run.history:
        print(f"{m.epoch:>5}  {m.train_loss:>10.4f}  {m.train_acc:>9.4f}  {m.test_acc:>8.4f}  {m.seconds:>7.2f}", file=out)
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
        run, cached = store.train_or_load(config, data, progress=bar, should_stop=stop.is_set, refresh=args.no_cache)
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
    if run.status == "diverged":
        print(f"warning: {run.message}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary(run, key, cached), allow_nan=False))
    else:
        print_table(run, key, cached, sys.stdout)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C before training started (e.g. while loading the data)
        print("Stopped; nothing was stored.", file=sys.stderr)
        sys.exit(130)
