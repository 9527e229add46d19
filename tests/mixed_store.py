"""A run store holding one stored run of every kind a page must serve, trained for real in a few seconds.

The kinds (``KINDS``): the chapter's two implementations with equal settings (so each has its
counterpart), the L-BFGS best linear model (no snapshots; a history row every few iterations),
an L-BFGS fit that stopped before its iteration limit (converged), a run that diverged in its
first epoch, and a run stored the way older training code stored it (no snapshots). Each is
trained on the real Fashion-MNIST through :func:`softmax_core.train_or_load.train_or_load`, the
path the server and the CLI take; only the last is written by hand, without its snapshots.

The L-BFGS fit is stored last, so it is the newest run: what a page shows when nothing else
picks a run (the state right after the README's ``linear_ceiling`` step).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

from softmax_core import training
from softmax_core.linear_ceiling import ceiling_config
from softmax_core.run_store import RunStore, StoredRun, run_key
from softmax_core.train_or_load import train_or_load
from softmax_core.training import TrainConfig

# In the order they are stored (oldest first).
CONFIGS: dict[str, TrainConfig] = {
    "no_snapshots": TrainConfig(epochs=2, seed=1).validated(),
    "diverged": TrainConfig(lr=3.0, epochs=2).validated(),
    "concise": TrainConfig(impl="concise", epochs=2).validated(),
    "scratch": TrainConfig(epochs=2).validated(),
    "lbfgs_converged": ceiling_config(10.0, 200),  # a heavy penalty: converges after about 15 of 200 iterations
    "lbfgs": ceiling_config(1e-4, 10),
}
KINDS = tuple(CONFIGS)


def fill(root: Path, data) -> dict[str, StoredRun]:
    """Store one run of each kind under ``root`` (its keys are ``run_key(config, data.fingerprint)``)."""
    store = RunStore(root)
    runs = {}
    for kind, config in CONFIGS.items():
        if kind == "no_snapshots":
            result = dataclasses.replace(training.train(config, data), snapshots=None)
            confusion = training.confusion_matrix(result.weight, result.bias, data.test_images, data.test_labels)
            runs[kind] = store.save(run_key(config, data.fingerprint), result, confusion, data.fingerprint)
        else:
            runs[kind] = train_or_load(store, config, data).run
        time.sleep(0.005)  # distinct created_at (milliseconds): the listing's order is the order above
    _check_kinds(runs)
    return runs


def _check_kinds(runs: dict[str, StoredRun]) -> None:
    """Each run is the kind its name says, so a test on it tests what it claims to."""
    assert runs["scratch"].status == runs["concise"].status == "finished"
    assert runs["scratch"].snapshots is not None and runs["concise"].snapshots is not None
    assert runs["diverged"].status == "diverged" and runs["diverged"].diverged_at is not None
    assert runs["no_snapshots"].status == "finished" and runs["no_snapshots"].snapshots is None
    lbfgs, converged = runs["lbfgs"], runs["lbfgs_converged"]
    assert lbfgs.status == "finished" and lbfgs.history[-1].epoch == lbfgs.config.epochs
    assert len(lbfgs.history) != lbfgs.config.epochs  # a row every few iterations, not one per "epoch"
    assert converged.status == "finished" and converged.history[-1].epoch < converged.config.epochs


def copy(source: Path, target: Path) -> RunStore:
    """A copy of a filled store (its lock files left behind), for a test that may damage or extend it."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".locks"))
    return RunStore(target)
