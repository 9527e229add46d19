"""Test helpers of the training core: a fake trainer for the queue, the command line in a process, stored runs.

The queue's tests pass :class:`ControlledTrain` as ``TrainingJobs(..., trainer=...)``; page tests, whose page
builds its own queue, put it in place of ``training.train`` (which the queue looks up when a job is computed).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from softmax_core import training
from softmax_core.lbfgs_trainer import RECORD_EVERY
from softmax_core.run_store import RunStore, StoredRun, run_key
from softmax_core.training import confusion_matrix
from softmax_core.training_settings import EpochMetrics, Progress, TrainConfig, TrainResult

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- made-up results and data for the store

TWO_EPOCHS = TrainConfig(epochs=2)


def make_result(config=None, status="finished", seed=0, losses=(0.8, 0.6)) -> TrainResult:
    """A run with made-up weights. A finished run has one row per epoch, as the store checks: without a config
    it trained as many epochs as it has losses; with one, the last loss repeats for the epochs not given."""
    if config is None:
        config = TrainConfig(epochs=len(losses)) if status == "finished" else TWO_EPOCHS
    elif status == "finished" and config.impl in training.IMPLS and len(losses) < config.epochs:
        losses = (*losses, *[losses[-1]] * (config.epochs - len(losses)))
    g = torch.Generator().manual_seed(seed)
    history = tuple(
        EpochMetrics(epoch=i + 1, train_loss=loss, train_acc=0.7 + 0.01 * i, test_acc=0.75 + 0.01 * i, seconds=1.5)
        for i, loss in enumerate(losses)
    )
    return TrainResult(
        config=config,
        history=history,
        status=status,
        message=f"{status} by hand",
        weight=torch.randn(784, 10, generator=g),
        bias=torch.randn(10, generator=g),
        train_seconds=3.0,
    )


def make_confusion(seed=0) -> torch.Tensor:
    return torch.randint(0, 1000, (10, 10), generator=torch.Generator().manual_seed(seed))


def fake_data(fingerprint="fp-test") -> SimpleNamespace:
    """What train_or_load reads from a dataset besides what the (monkeypatched) train uses."""
    g = torch.Generator().manual_seed(1)
    return SimpleNamespace(
        fingerprint=fingerprint,
        test_images=torch.randint(0, 256, (50, 28, 28), dtype=torch.uint8, generator=g),
        test_labels=torch.randint(0, 10, (50,), generator=g),
    )


@contextlib.contextmanager
def warnings_as_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# ---------------------------------------------------------------- the queue's data and a fake trainer


def queue_data():
    """The store tests' fake dataset, plus the length of a full training set (the cost bound reads it)."""
    data = fake_data()
    data.train_images = range(60_000)
    return data


class ControlledTrain:
    """A trainer that reports one epoch, then waits to be released or stopped."""

    def __init__(self):
        self.calls = 0
        self.order = []
        self.started = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, config, data, progress=None, should_stop=None, progress_every=20):
        with self._lock:
            self.calls += 1
            self.order.append(config.seed)
        first = make_result(config=config, losses=(0.9,)).history[:1]  # the first epoch only
        if progress is not None:
            progress(Progress(epoch=1, epochs=config.epochs, batch=10, batches=10, history=first))
        self.started.set()
        while not self.release.wait(0.02):
            if should_stop is not None and should_stop():
                result = make_result(config=config, status="cancelled", losses=(0.9,))
                return result
        return make_result(config=config, losses=(0.9, 0.7)[: config.epochs])  # one row per epoch, as the store checks


# ---------------------------------------------------------------- the command line in its own process


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m softmax_core.cli ARGS`` from the repository root, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "softmax_core.cli", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )  # fmt: skip


def last_json(proc: subprocess.CompletedProcess) -> dict:
    """The JSON object on the last stdout line of a run that succeeded (strict JSON: no NaN or Infinity)."""
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    return json.loads(lines[-1], parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def run_cli_here(*args: str) -> subprocess.CompletedProcess:
    """:func:`run_cli`'s answer from ``softmax_core.cli.main`` in this process: the same parser, checks and
    messages, without the 2-5 s a new Python spends importing torch. For arguments refused before any data is
    read; ``run_cli`` keeps the real process (its entry point, its exit code) for one case of each kind."""
    from softmax_core.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's own errors end this way, as in the process
            code = exc.code
    return subprocess.CompletedProcess(["softmax-train", *args], code, out.getvalue(), err.getvalue())


def assert_one_line_error(proc: subprocess.CompletedProcess, *expected: str) -> str:
    """Exit 2, nothing on stdout, one ``error: ...`` line on stderr holding every ``expected`` text; that line."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@contextmanager
def unwritable_folder(tmp_path: Path):
    """A folder this user cannot write into: mode 555, or (for root, whom modes do not stop) /sys/kernel."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        for candidate in (folder, Path("/sys/kernel")):
            try:
                with tempfile.TemporaryFile(dir=candidate):
                    pass
            except OSError:
                yield candidate
                return
        pytest.skip("no folder here refuses this user's writes")
    finally:
        folder.chmod(0o755)


# ---------------------------------------------------------------- stored runs


def stored_lbfgs(store: RunStore, fingerprint: str, config: TrainConfig, test_acc: float, *, iterations_done=None,
                 train_loss=0.4567, train_acc=0.8321, seconds=7.5):  # fmt: skip
    """A stored L-BFGS run with chosen metrics (weights drawn, not fitted): what the sentences must read."""
    done = config.epochs if iterations_done is None else iterations_done
    # as fit_lbfgs records: a row every RECORD_EVERY iterations, the last at `done`, iterations strictly increasing
    early = (EpochMetrics(RECORD_EVERY, 0.9, 0.7, 0.7, 1.0),) if done > RECORD_EVERY else ()
    history = (*early, EpochMetrics(done, train_loss, train_acc, test_acc, 1.0))
    g = torch.Generator().manual_seed(0)
    result = TrainResult(config, history, "finished", "by hand", torch.randn(784, 10, generator=g) * 0.01,
                         torch.zeros(10), seconds)  # fmt: skip
    return store.save(run_key(config, fingerprint), result, torch.eye(10, dtype=torch.int64), fingerprint)


def store_fake_run(
    runs_dir, fmnist, config: TrainConfig, status: str = "finished", message: str = "", history=None, confusion=None
):
    """Put a run in the store without training, so the page has something exact to show."""
    config = config.validated()
    history = history or tuple(
        EpochMetrics(e, 1.0 / e, 0.5 + 0.02 * e, 0.6 + 0.01 * e, 0.1) for e in range(1, config.epochs + 1)
    )
    result = TrainResult(config, history, status, message, torch.zeros(784, 10), torch.zeros(10), 1.5)
    confusion = torch.eye(10, dtype=torch.int64) * 1000 if confusion is None else confusion
    return RunStore(runs_dir).save(run_key(config, fmnist.fingerprint), result, confusion, fmnist.fingerprint)


INSIDE_EPOCHS = 3  # the epochs of the runs the "Inside the model" page tests store


def inside_parameters(seed: int, epochs: int = INSIDE_EPOCHS):
    """Made-up weights per epoch: epoch 0 small noise, later ones a fixed pattern that grows."""
    g = torch.Generator().manual_seed(seed)
    pattern = torch.randn(784, 10, generator=g) * 0.2
    weights = torch.stack([torch.randn(784, 10, generator=g) * 0.01] + [pattern * k for k in range(1, epochs + 1)])
    biases = torch.stack([torch.zeros(10)] + [torch.randn(10, generator=g) * 0.1 for _ in range(epochs)])
    return weights, biases


def store_inside_run(runs_dir, fmnist, config: TrainConfig, weights, biases, snapshots: bool = False) -> StoredRun:
    """A finished run with these per-epoch weights; with ``snapshots`` the store keeps every epoch's."""
    config = config.validated()
    history = tuple(EpochMetrics(e, 1.0 / e, 0.5, 0.6, 0.1) for e in range(1, config.epochs + 1))
    kept = (weights, biases) if snapshots else None
    result = TrainResult(config, history, "finished", "", weights[-1], biases[-1], 1.5, snapshots=kept)
    confusion = confusion_matrix(weights[-1], biases[-1], fmnist.test_images, fmnist.test_labels)
    return RunStore(runs_dir).save(run_key(config, fmnist.fingerprint), result, confusion, fmnist.fingerprint)


def calibration_weights(seed: int, scale: float):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(784, 10, generator=g) * scale, torch.randn(10, generator=g) * scale


def store_calibration_run(runs_dir, fmnist, config: TrainConfig, seed: int = 0, scale: float = 0.05,
                          status: str = "finished", message: str = ""):  # fmt: skip
    """A run whose weights are ``calibration_weights(seed, scale)``, with an identity confusion matrix."""
    config = config.validated()
    history = tuple(EpochMetrics(e, 0.5, 0.8, 0.8, 0.1) for e in range(1, config.epochs + 1))
    w, b = calibration_weights(seed, scale)
    result = TrainResult(config, history, status, message, w, b, 1.0)
    return RunStore(runs_dir).save(run_key(config, fmnist.fingerprint), result, torch.eye(10, dtype=torch.int64),
                                   fmnist.fingerprint)  # fmt: skip
