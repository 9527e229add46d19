"""Test helpers of the training core: a fake trainer for the queue, the command line in a process, stored runs.

The queue's tests pass :class:`ControlledTrain` as ``TrainingJobs(..., trainer=...)``; page tests, whose page
builds its own queue, put it in place of ``training.train`` (which the queue looks up when a job is computed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from softmax_core.lbfgs_trainer import RECORD_EVERY
from softmax_core.run_store import RunStore, run_key
from softmax_core.training_settings import EpochMetrics, Progress, TrainConfig, TrainResult
from tests.test_run_store import fake_data, make_result

ROOT = Path(__file__).resolve().parents[1]


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
