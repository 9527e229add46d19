"""Trainings that run in the background of a server process, one per run key.

A Streamlit script reruns on every click and every session has its own
script, so a training cannot live inside a script run. It lives here instead:
one thread per run key, shared by every session that asks for that key. A
page keeps one :class:`TrainingJobs` per server (``st.cache_resource``), calls
``start(config)`` (which hands back the running job if there is one) and polls
``job.snapshot()``; a rerun or a second tab never kills or duplicates a
training, and ``job.cancel()`` stops it between batches.

At most ``max_parallel`` trainings compute at once (the machine has few
cores); further jobs wait in line and say so in ``snapshot().waiting``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from softmax_core import training
from softmax_core.run_store import RunStore, StoredRun, run_key
from softmax_core.train_or_load import train_or_load


@dataclass(frozen=True)
class JobSnapshot:
    """What a page needs to draw one job, copied at one moment (safe to read while training goes on)."""

    key: str
    config: training.TrainConfig
    state: str  # "running" | "done" | "cancelled" | "failed"
    progress: training.Progress | None  # the latest progress report, None before the first batch
    history: tuple[training.EpochMetrics, ...]  # finished epochs so far
    result: StoredRun | training.TrainResult | None  # StoredRun when done, TrainResult when cancelled
    error: str  # a sentence when state is "failed"
    cached: bool  # done without training: the run was already in the store
    waiting: str  # while running: why it has not started computing yet ("" once it has)

    @property
    def finished(self) -> bool:
        return self.state != "running"


class TrainingJob:
    """One training in a thread; everything it reports goes through ``snapshot()``."""

    def __init__(self, store: RunStore, data, config: training.TrainConfig, key: str, slots: threading.Semaphore):
        self.key = key
        self.config = config
        self._store, self._data, self._slots = store, data, slots
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._state = "running"
        self._progress: training.Progress | None = None
        self._result = None
        self._error = ""
        self._cached = False
        self._waiting = "Waiting for a free training slot."
        self._thread = threading.Thread(target=self._run, name=f"training-{key}", daemon=True)

    def start(self) -> TrainingJob:
        self._thread.start()
        return self

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            progress = self._progress
            history = progress.history if progress is not None else ()
            if isinstance(self._result, (StoredRun, training.TrainResult)) and self._result.history:
                history = self._result.history
            return JobSnapshot(
                key=self.key,
                config=self.config,
                state=self._state,
                progress=progress,
                history=history,
                result=self._result,
                error=self._error,
                cached=self._cached,
                waiting=self._waiting if self._state == "running" else "",
            )

    def cancel(self) -> None:
        """Ask the training to stop at its next batch; nothing of it is stored."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (for scripts and tests); True if it has."""
        return self._done.wait(timeout)

    # -- the thread

    def _on_progress(self, progress: training.Progress) -> None:
        with self._lock:
            self._progress = progress
            self._waiting = ""

    def _run(self) -> None:
        try:
            while not self._slots.acquire(timeout=0.1):
                if self._stop.is_set():
                    self._finish("cancelled", result=None, error="")
                    return
            try:
                with self._lock:
                    self._waiting = "Waiting for the first batch (or for another process training the same settings)."
                result, cached, _replaced_broken = train_or_load(
                    self._store, self.config, self._data, progress=self._on_progress, should_stop=self._stop.is_set
                )
            finally:
                self._slots.release()
            state = "cancelled" if isinstance(result, training.TrainResult) and result.status == "cancelled" else "done"
            self._finish(state, result=result, error="", cached=cached)
        except Exception as exc:  # shown in the page as a sentence; the server keeps running
            self._finish("failed", result=None, error=f"Training failed: {type(exc).__name__}: {exc}")

    def _finish(self, state: str, result, error: str, cached: bool = False) -> None:
        with self._lock:
            self._state, self._result, self._error, self._cached = state, result, error, cached
        self._done.set()


class TrainingJobs:
    """All background trainings of one server process, at most one per run key."""

    def __init__(self, store: RunStore, data, max_parallel: int = 1):
        self.store = store
        self.data = data
        self._jobs: dict[str, TrainingJob] = {}
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(max(1, int(max_parallel)))

    def key_for(self, config: training.TrainConfig) -> str:
        return run_key(config.validated(), self.data.fingerprint)

    def start(self, config: training.TrainConfig) -> TrainingJob:
        """The running job for this config, or a new one (which reads the store first, so it may finish at once)."""
        config = config.validated()
        key = run_key(config, self.data.fingerprint)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.snapshot().state == "running":
                return job
            job = TrainingJob(self.store, self.data, config, key, self._slots)
            self._jobs[key] = job
            return job.start()

    def get(self, key: str) -> TrainingJob | None:
        """The latest job for ``key`` in this process (running or ended), if any."""
        with self._lock:
            return self._jobs.get(key)

    def running(self) -> list[TrainingJob]:
        with self._lock:
            return [job for job in self._jobs.values() if job.snapshot().state == "running"]
