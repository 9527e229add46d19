"""The one decision pages, background jobs and the CLI share: read the stored run, or train it first.

The run store (:mod:`softmax_core.run_store`) only reads and writes; this
module decides when to train. The store serves a run only after checking it
(its record against the run format, the tensor files' checksums, shapes and
finite values; once per file); a broken one is trained again, replaced, and
reported in ``replaced_broken``. The CLI, the server's queue
(:mod:`softmax_core.training_queue`) and the pages all read through these checks.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import torch

from softmax_core import training
from softmax_core.predictions import confusion_matrix
from softmax_core.run_store import Cancelled, RunStore, StoredRun, run_key
from softmax_core.training import Trainer
from softmax_core.training_settings import TrainConfig, TrainResult

log = logging.getLogger(__name__)


class RunStoreError(OSError):
    """The run store could not be read or written. The message names no server path: the log does."""


class Outcome(NamedTuple):
    run: StoredRun | TrainResult  # a TrainResult only when cancelled (nothing stored)
    cached: bool  # True: served from the store without training
    replaced_broken: str  # "" or why the stored run could not be served (it was trained again and replaced)


def usable_run(store: RunStore, key: str) -> tuple[StoredRun | None, str]:
    """(run, "") if the stored run can be served, (None, why) if it is broken, (None, "") if there is none.

    ``why`` is a sentence naming the run's key and what is wrong (never a server path), fit for a page.
    """
    try:
        return store.open(key), ""
    except ValueError as exc:
        return None, str(exc)


def train_or_load(
    store: RunStore,
    config: TrainConfig,
    data,
    progress=None,
    should_stop=None,
    *,
    refresh: bool = False,
    trained_by: str = "",
    trainer: Trainer | None = None,
) -> Outcome:
    """The stored run for ``config`` on ``data``, training it first if it is missing or broken.

    Single flight: while one caller trains a key, others asking for it wait
    (``should_stop`` is asked while waiting) and then read the stored run.
    ``refresh=True`` trains anew and replaces the stored run (the CLI's
    ``--no-cache``). Finished and diverged runs are stored; a cancelled run is
    returned as a ``TrainResult`` and not stored. ``trained_by`` (a signed-in name) is stored with a new run.
    A file the store cannot read or write raises :class:`RunStoreError`, whose message a page may show (the
    path goes to the server log). ``trainer`` trains a missing run; None means :func:`training.train`, looked
    up at each call so that a test may replace it for a page that builds its own queue.
    """
    trainer = training.train if trainer is None else trainer
    try:
        return _train_or_load(store, config, data, progress, should_stop, refresh, trained_by, trainer)
    except RunStoreError:
        raise
    except OSError as exc:
        log.warning("Run store %s: %r", store.root, exc)
        reason = exc.strerror or type(exc).__name__
        raise RunStoreError(f"The run store cannot be read or written ({reason}); nothing was stored.") from None


def _train_or_load(store, config, data, progress, should_stop, refresh: bool, trained_by: str, trainer) -> Outcome:
    config = config.validated()
    key = run_key(config, data.fingerprint)
    broken = ""
    if not refresh:
        run, broken = usable_run(store, key)
        if run is not None:
            return Outcome(run, True, "")
    try:
        with store.lock(key, should_stop):
            if not refresh:
                run, broken_now = usable_run(store, key)
                if run is not None:
                    return Outcome(run, True, "")  # someone else trained it while we waited
                broken = broken_now or broken
            result = trainer(config, data, progress=progress, should_stop=should_stop)
            if result.status == "cancelled":
                return Outcome(result, False, "")
            confusion = confusion_matrix(result.weight, result.bias, data.test_images, data.test_labels)
            return Outcome(store.write_locked(key, result, confusion, data.fingerprint, trained_by), False, broken)
    except Cancelled:
        return Outcome(_cancelled_while_waiting(config), False, "")


def _cancelled_while_waiting(config) -> TrainResult:
    return TrainResult(
        config=config,
        history=(),
        status="cancelled",
        message="Stopped while waiting for another training of the same settings; nothing was stored.",
        weight=torch.zeros(784, 10),
        bias=torch.zeros(10),
        train_seconds=0.0,
    )
