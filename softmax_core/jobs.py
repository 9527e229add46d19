"""Trainings that run in the background of a server process: one queue, first come first served.

A Streamlit script reruns on every click and every session has its own
script, so a training cannot live inside a script run. It lives here instead.
A page keeps one :class:`TrainingJobs` per server (``st.cache_resource``),
calls ``start(config, session=...)`` and polls ``job.snapshot()``; a rerun or
a second tab never kills or duplicates a training, and ``job.cancel()`` stops
it between batches (or takes it out of the queue).

Rules for a class sharing one server:

- a ``concurrent.futures`` executor with ``max_parallel`` workers runs the
  jobs in the order they were started (its work queue is FIFO);
- identical settings (one run key) join the one job that trains them;
- one session has at most one job queued or running: starting another raises
  :class:`SessionBusy`, which carries the first job so the page can offer to
  cancel it;
- one training may cost at most ``max_cost`` (see :func:`training_cost`);
  more raises :class:`TooCostly` with a sentence that names the bound;
- a queued job reports its place in the queue and an estimated wait, from the
  seconds per unit of cost measured on the epochs this server has trained.
"""

from __future__ import annotations

import math
import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from softmax_core import training
from softmax_core.run_store import RunStore, StoredRun, run_key
from softmax_core.train_or_load import train_or_load

# One minibatch step costs about as much as this many examples: an epoch took 0.19 s at batch 256
# and about 11 s at batch 1 on this project's machine (README "Measured"), i.e. ~3 us per example
# plus ~180 us per step.
STEP_COST_EXAMPLES = 60
MAX_COST_ENV = "SOFTMAX_MAX_TRAINING_COST"
# 6 million example-equivalents: the chapter's setting (10 epochs, batch 256) costs 0.74 million,
# 80 epochs at batch 256 fit, one epoch at batch 1 (3.7 million) fits, two do not.
DEFAULT_MAX_COST = 6_000_000
SECONDS_PER_COST = 3e-6  # the first guess for the wait, until this server has measured an epoch
KEEP_ENDED = 256  # ended jobs kept for their page (a cancel or failure message); older ones are let go


def training_cost(config: training.TrainConfig, n_train: int = training.MAX_TRAIN_SIZE) -> int:
    """Examples seen (epochs x training images), each minibatch step counted as STEP_COST_EXAMPLES more."""
    config = config.validated()
    if config.impl == training.LBFGS:
        # One L-BFGS iteration is about one full pass over the images (a 60-iteration fit made 65 evaluations).
        return config.epochs * n_train
    steps = math.ceil(n_train / config.batch_size)
    return config.epochs * (n_train + STEP_COST_EXAMPLES * steps)


def max_cost_from_env() -> int:
    """``$SOFTMAX_MAX_TRAINING_COST`` (an integer; 0 means no bound), else ``DEFAULT_MAX_COST``."""
    raw = os.environ.get(MAX_COST_ENV, "").strip()
    return int(raw) if raw else DEFAULT_MAX_COST


class TooCostly(ValueError):
    """The settings cost more than this server allows for one training."""


class SessionBusy(RuntimeError):
    """This session already has a training queued or running; ``job`` is that one."""

    def __init__(self, job: TrainingJob):
        super().__init__(f"This session already has a training queued or running ({job.key}).")
        self.job = job


@dataclass(frozen=True)
class JobSnapshot:
    """What a page needs to draw one job, copied at one moment (safe to read while training goes on)."""

    key: str
    config: training.TrainConfig
    state: str  # "running" (queued or computing) | "done" | "cancelled" | "failed"
    progress: training.Progress | None  # the latest progress report, None while queued
    history: tuple[training.EpochMetrics, ...]  # finished epochs so far
    result: StoredRun | training.TrainResult | None  # StoredRun when done, TrainResult when cancelled
    error: str  # a sentence when state is "failed"
    cached: bool  # done without training: the run was already in the store
    waiting: str  # while queued: a sentence with the place and the wait ("" once it computes)
    place: int = 0  # 1 = next to start; 0 when not queued
    wait_seconds: float = 0.0  # estimated seconds until it starts computing (0 when not queued)

    @property
    def finished(self) -> bool:
        return self.state != "running"


class TrainingJob:
    """One training: queued in the executor, then computed; everything it reports goes through ``snapshot()``."""

    def __init__(self, jobs: TrainingJobs, config: training.TrainConfig, key: str, cost: int, trained_by: str = ""):
        self.key, self.config, self.cost = key, config, cost
        self.trained_by = trained_by  # stored with the run: the signed-in name of who started it
        self._jobs = jobs
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._state = "running"
        self._started = False  # computing (not queued)
        self._progress: training.Progress | None = None
        self._result = None
        self._error = ""
        self._cached = False
        self.future = None

    def snapshot(self) -> JobSnapshot:
        place, wait = self._jobs.queue_position(self)
        with self._lock:
            progress = self._progress
            history = progress.history if progress is not None else ()
            if isinstance(self._result, (StoredRun, training.TrainResult)) and self._result.history:
                history = self._result.history
            queued = self._state == "running" and not self._started
            if queued and place:
                waiting = f"Queued: place {place}, starts in about {math.ceil(wait)} s."
            else:
                waiting = "Starting…" if queued else ""
            return JobSnapshot(
                key=self.key,
                config=self.config,
                state=self._state,
                progress=progress,
                history=history,
                result=self._result,
                error=self._error,
                cached=self._cached,
                waiting=waiting,
                place=place if queued else 0,
                wait_seconds=wait if queued else 0.0,
            )

    def cancel(self) -> None:
        """Stop at the next batch, or leave the queue at once; nothing of it is stored."""
        self._stop.set()
        if self.future is not None and self.future.cancel():  # still queued: it never runs
            self._jobs._left_queue(self)
            self._finish("cancelled", result=None, error="")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (for scripts and tests); True if it has."""
        return self._done.wait(timeout)

    def is_active(self) -> bool:
        """Queued or computing (not ended)."""
        with self._lock:
            return self._state == "running"

    def cancel_requested(self) -> bool:
        """Stop was asked for: the job ends at its next batch, so it no longer holds its session's place."""
        return self._stop.is_set()

    def remaining_cost(self) -> float:
        """Cost still to compute: all of it while queued, the unfinished epochs while computing."""
        with self._lock:
            if self._state != "running":
                return 0.0
            if not self._started or self._progress is None:
                return float(self.cost)
            p = self._progress
            done = (p.epoch - 1 + p.batch / max(1, p.batches)) / max(1, p.epochs)
            return self.cost * max(0.0, 1.0 - done)

    # -- in the executor's worker thread

    def _on_progress(self, progress: training.Progress) -> None:
        with self._lock:
            before = len(self._progress.history) if self._progress is not None else 0
            self._progress = progress
        if len(progress.history) > before:
            # An L-BFGS history entry spans several iterations ("epochs"); an SGD entry spans one epoch.
            span = progress.history[-1].epoch - (progress.history[-2].epoch if len(progress.history) > 1 else 0)
            self._jobs._measured_epoch(progress.history[-1].seconds, self.cost * max(1, span) / max(1, progress.epochs))

    def _run(self) -> None:
        self._jobs._left_queue(self)
        if self._stop.is_set():
            self._finish("cancelled", result=None, error="")
            return
        self._jobs._started(self)
        with self._lock:
            self._started = True
            # A first progress report at once: the page shows the bar before the first 20 batches are done.
            steps = math.ceil(len(self._jobs.data.train_images) / self.config.batch_size)
            self._progress = training.Progress(1, self.config.epochs, 0, steps, ())
        try:
            outcome = train_or_load(
                self._jobs.store,
                self.config,
                self._jobs.data,
                progress=self._on_progress,
                should_stop=self._stop.is_set,
                trained_by=self.trained_by,
            )
            result, cached = outcome.run, outcome.cached
            state = "cancelled" if isinstance(result, training.TrainResult) and result.status == "cancelled" else "done"
            self._finish(state, result=result, error="", cached=cached)
        except Exception as exc:  # shown in the page as a sentence; the server keeps running
            self._finish("failed", result=None, error=f"Training failed: {type(exc).__name__}: {exc}")

    def _finish(self, state: str, result, error: str, cached: bool = False) -> None:
        with self._lock:
            if self._state != "running":
                return
            self._state, self._result, self._error, self._cached = state, result, error, cached
        self._jobs._ended(self)
        self._done.set()


class TrainingJobs:
    """All background trainings of one server process: at most one per run key, one per session, FIFO."""

    def __init__(self, store: RunStore, data, max_parallel: int = 1, max_cost: int | None = None):
        self.store = store
        self.data = data
        self.max_parallel = max(1, int(max_parallel))
        self.max_cost = max_cost_from_env() if max_cost is None else int(max_cost)
        self._executor = ThreadPoolExecutor(max_workers=self.max_parallel, thread_name_prefix="training")
        self._jobs: dict[str, TrainingJob] = {}
        self._queue: deque[TrainingJob] = deque()  # submitted, not yet computing, in submission order
        self._computing: set[TrainingJob] = set()
        self._by_session: dict[str, TrainingJob] = {}
        self._seconds_per_cost = SECONDS_PER_COST
        self._lock = threading.RLock()  # re-entered when start() finishes a stored run's job at once

    def key_for(self, config: training.TrainConfig) -> str:
        return run_key(config.validated(), self.data.fingerprint)

    def cost_of(self, config: training.TrainConfig) -> int:
        return training_cost(config, len(self.data.train_images))

    def check_cost(self, config: training.TrainConfig) -> None:
        """Raise ``TooCostly`` with a sentence naming the bound if one training of ``config`` costs too much."""
        cost = self.cost_of(config)
        if not self.max_cost or cost <= self.max_cost:
            return
        n = len(self.data.train_images)
        if config.validated().impl == training.LBFGS:
            how, fix = f"L-BFGS iterations x {n:,} images", "use fewer iterations"
        else:
            how = f"epochs x {n:,} images, each minibatch step counting as {STEP_COST_EXAMPLES} more"
            fix = "use fewer epochs or a larger batch"
        raise TooCostly(
            f"These settings cost {cost:,} example-steps and this server allows at most {self.max_cost:,} "
            f"per training ({how}): {fix}."
        )

    def start(self, config: training.TrainConfig, session: str | None = None, trained_by: str = "") -> TrainingJob:
        """The job training ``config`` (joined if it is queued or running, else a new one at the end of the queue).

        A new job reads the store first, so a stored run finishes at once. With ``session``, a session that
        already has another job queued or running gets ``SessionBusy``; over the cost bound gives ``TooCostly``.
        ``trained_by`` (a signed-in name) is stored with the run a new job trains; a joined job keeps its own.
        """
        config = config.validated()
        key = run_key(config, self.data.fingerprint)
        with self._lock:
            mine = self._by_session.get(session) if session is not None else None
            if mine is not None and mine.key != key and mine.is_active() and not mine.cancel_requested():
                raise SessionBusy(mine)
            job = self._jobs.get(key)
            if job is None or not job.is_active():
                job = TrainingJob(self, config, key, self.cost_of(config), trained_by)
                if (stored := self.store.get(key)) is not None:  # shown at once, never queued nor refused
                    job._finish("done", result=stored, error="", cached=True)
                    self._jobs[key] = job
                    return job
                self.check_cost(config)
                self._jobs[key] = job
                self._queue.append(job)
                job.future = self._executor.submit(job._run)
            if session is not None:
                self._by_session[session] = job
            return job

    def get(self, key: str) -> TrainingJob | None:
        """The latest job for ``key`` in this process (queued, running or ended), if any."""
        with self._lock:
            return self._jobs.get(key)

    def of_session(self, session: str) -> TrainingJob | None:
        """The job this session started or joined last, if it is still queued or running."""
        with self._lock:
            job = self._by_session.get(session)
        return job if job is not None and job.is_active() else None

    def running(self) -> list[TrainingJob]:
        with self._lock:
            jobs = list(self._jobs.values())
        return [job for job in jobs if job.is_active()]

    def queue_position(self, job: TrainingJob) -> tuple[int, float]:
        """(place, estimated seconds until it starts): place 1 is next; (0, 0.0) if not queued."""
        with self._lock:
            if job not in self._queue:
                return 0, 0.0
            ahead = list(self._queue)[: self._queue.index(job)]
            computing = list(self._computing)
            rate = self._seconds_per_cost
        work = sum(j.remaining_cost() for j in computing) + sum(j.cost for j in ahead)
        return len(ahead) + 1, rate * work / self.max_parallel

    def shutdown(self) -> None:
        """Cancel everything and stop the workers (tests; a server just exits)."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)

    # -- called by jobs

    def _left_queue(self, job: TrainingJob) -> None:
        with self._lock:
            if job in self._queue:
                self._queue.remove(job)

    def _started(self, job: TrainingJob) -> None:
        with self._lock:
            self._computing.add(job)

    def _ended(self, job: TrainingJob) -> None:
        """Forget the oldest ended jobs and sessions beyond ``KEEP_ENDED``, so a long lecture does not grow memory."""
        with self._lock:
            self._computing.discard(job)
            ended = [key for key, j in self._jobs.items() if not j.is_active()]
            for key in ended[: max(0, len(ended) - KEEP_ENDED)]:
                del self._jobs[key]
            if len(self._by_session) > KEEP_ENDED:
                for session in [s for s, j in self._by_session.items() if not j.is_active()]:
                    del self._by_session[session]

    def _measured_epoch(self, seconds: float, cost: float) -> None:
        """Fold one measured epoch into the seconds per unit of cost (a moving average)."""
        if seconds > 0 and cost > 0:
            with self._lock:
                self._seconds_per_cost = 0.7 * self._seconds_per_cost + 0.3 * seconds / cost
