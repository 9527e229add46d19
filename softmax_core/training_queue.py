"""Trainings that run in the background of a server process: one fair queue.

A Streamlit script reruns on every click and every session has its own
script, so a training cannot live inside a script run. It lives here instead.
A page keeps one :class:`TrainingJobs` per server (a registry in an imported
module, which no viewer can clear), calls ``start(config, session=..., address=...)``
and polls ``job.snapshot()``; a rerun or a second tab never kills or duplicates
a training. A job trains through :func:`~softmax_core.train_or_load.train_or_load`
with the queue's ``trainer`` (``TrainingJobs(store, data, trainer=...)``; by
default :func:`softmax_core.training.train`), so a test passes a fake one.

Rules for a class sharing one server:

- ``max_parallel`` workers compute the queued jobs in order of their *round*,
  then of their start: a job's round is one more than the number of jobs its
  network address already has queued, so every address gets its first job in
  before anyone's second (one address is first come, first served; a client
  that queues forty trainings delays the next student by one, not forty);
- identical settings (one run key) join the one job that trains them;
  ``leave(job, session)`` (the page's Stop) takes one student out, and the job
  stops only when nobody waits for it any more (``job.cancel()`` stops it for
  everyone: for scripts and tests);
- one ``session`` (a student: the page passes a browser identity that survives a
  reload) waits for at most one job: starting another raises
  :class:`SessionBusy`, which carries the first job so the page can offer to leave it;
- a new job is refused with :class:`QueueFull` when its address already has
  ``max_per_address`` jobs queued or computing, or ``max_queued`` jobs wait in all
  (joining a job never is: it adds no work);
- one training may cost at most ``max_cost`` (see :func:`training_cost`);
  more raises :class:`TooCostly` with a sentence that names the bound;
- a queued job reports its place in the queue and an estimated wait, from the
  seconds per unit of cost measured on the epochs this server has trained.
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from softmax_core import training_settings as settings
from softmax_core.run_store import RunStore, StoredRun, run_key
from softmax_core.train_or_load import train_or_load
from softmax_core.training import Trainer

# One minibatch step costs about as much as this many examples: an epoch took 0.19 s at batch 256
# and about 11 s at batch 1 on this project's machine (docs/performance.md), i.e. ~3 us per example
# plus ~180 us per step.
STEP_COST_EXAMPLES = 60
MAX_COST_ENV = "SOFTMAX_MAX_TRAINING_COST"
# 6 million example-equivalents: the chapter's setting (10 epochs, batch 256) costs 0.74 million,
# 80 epochs at batch 256 fit, one epoch at batch 1 (3.7 million) fits, two do not.
DEFAULT_MAX_COST = 6_000_000
SECONDS_PER_COST = 3e-6  # the first guess for the wait, until this server has measured an epoch
KEEP_ENDED = 256  # ended jobs kept for their page (a cancel or failure message); older ones are let go
PER_ADDRESS_ENV = "SOFTMAX_QUEUE_PER_ADDRESS"
# A class of 100 behind one NAT shares one address, and each student may queue a training at once.
DEFAULT_PER_ADDRESS = 100
QUEUED_ENV = "SOFTMAX_QUEUE_TOTAL"
DEFAULT_QUEUED = 200  # two such classes on one server


def training_cost(config: settings.TrainConfig, n_train: int = settings.MAX_TRAIN_SIZE) -> int:
    """Examples seen (epochs x training images), each minibatch step counted as STEP_COST_EXAMPLES more."""
    config = config.validated()
    if config.impl == settings.LBFGS:
        # One L-BFGS iteration is about one full pass over the images (a 60-iteration fit made 65 evaluations).
        return config.epochs * n_train
    steps = math.ceil(n_train / config.batch_size)
    return config.epochs * (n_train + STEP_COST_EXAMPLES * steps)


def max_cost_from_env() -> int:
    """``$SOFTMAX_MAX_TRAINING_COST`` (an integer; 0 means no bound), else ``DEFAULT_MAX_COST``."""
    return _int_from_env(MAX_COST_ENV, DEFAULT_MAX_COST)


def _int_from_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


class TooCostly(ValueError):
    """The settings cost more than this server allows for one training."""


class QueueFull(RuntimeError):
    """The queue holds as many new jobs as this server allows, in all or from this address."""


class SessionBusy(RuntimeError):
    """This session already has a training queued or running; ``job`` is that one."""

    def __init__(self, job: TrainingJob):
        super().__init__(f"This session already has a training queued or running ({job.key}).")
        self.job = job


@dataclass(frozen=True)
class JobSnapshot:
    """What a page needs to draw one job, copied at one moment (safe to read while training goes on)."""

    key: str
    config: settings.TrainConfig
    state: str  # "running" (queued or computing) | "done" | "cancelled" | "failed"
    progress: settings.Progress | None  # the latest progress report, None while queued
    history: tuple[settings.EpochMetrics, ...]  # finished epochs so far
    result: StoredRun | settings.TrainResult | None  # StoredRun when done, TrainResult when cancelled
    error: str  # a sentence when state is "failed"
    cached: bool  # done without training: the run was already in the store
    waiting: str  # while queued: a sentence with the place and the wait ("" once it computes)
    place: int = 0  # 1 = next to start; 0 when not queued
    wait_seconds: float = 0.0  # estimated seconds until it starts computing (0 when not queued)
    waiters: int = 0  # students waiting for it (a job started without a session counts one)

    @property
    def finished(self) -> bool:
        return self.state != "running"


class TrainingJob:
    """One training: queued, then computed; everything it reports goes through ``snapshot()``."""

    def __init__(
        self,
        jobs: TrainingJobs,
        config: settings.TrainConfig,
        key: str,
        cost: int,
        address: str | None = None,
        trained_by: str = "",
    ):
        self.key, self.config, self.cost, self.address = key, config, cost, address
        self.trained_by = trained_by  # stored with the run: the signed-in name of who started it
        self.order: tuple[int, int] = (0, 0)  # (round, start number): its place in the queue, set when queued
        self._jobs = jobs
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._state = "running"
        self._started = False  # computing (not queued)
        self._progress: settings.Progress | None = None
        self._result = None
        self._error = ""
        self._cached = False
        self._waiters: set[str | None] = set()  # guarded by the registry's lock

    def snapshot(self) -> JobSnapshot:
        place, wait = self._jobs.queue_position(self)
        waiters = self._jobs.waiters(self)
        with self._lock:
            progress = self._progress
            history = progress.history if progress is not None else ()
            if isinstance(self._result, (StoredRun, settings.TrainResult)) and self._result.history:
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
                waiters=waiters,
            )

    def cancel(self) -> None:
        """Stop it for everyone: at the next batch, or out of the queue at once; nothing of it is stored.

        A student's Stop is ``TrainingJobs.leave``: the job goes on for the others waiting for it.
        """
        self._stop.set()
        if self._jobs._unqueue(self):  # still queued: it never runs
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

    # -- in a worker thread

    def _on_progress(self, progress: settings.Progress) -> None:
        with self._lock:
            before = len(self._progress.history) if self._progress is not None else 0
        if len(progress.history) > before:
            # The rate first, then the progress: a snapshot never shows a finished epoch with the old rate.
            # An L-BFGS history entry spans several iterations ("epochs"); an SGD entry spans one epoch.
            span = progress.history[-1].epoch - (progress.history[-2].epoch if len(progress.history) > 1 else 0)
            self._jobs._measured_epoch(progress.history[-1].seconds, self.cost * max(1, span) / max(1, progress.epochs))
        with self._lock:
            self._progress = progress

    def _run(self) -> None:
        """Compute the job (the worker has taken it out of the queue)."""
        if self._stop.is_set():
            self._finish("cancelled", result=None, error="")
            return
        with self._lock:
            self._started = True
            # A first progress report at once: the page shows the bar before the first 20 batches are done.
            steps = math.ceil(len(self._jobs.data.train_images) / self.config.batch_size)
            self._progress = settings.Progress(1, self.config.epochs, 0, steps, ())
        try:
            outcome = train_or_load(
                self._jobs.store,
                self.config,
                self._jobs.data,
                progress=self._on_progress,
                should_stop=self._stop.is_set,
                trained_by=self.trained_by,
                trainer=self._jobs.trainer,
            )
            result, cached = outcome.run, outcome.cached
            state = "cancelled" if isinstance(result, settings.TrainResult) and result.status == "cancelled" else "done"
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
    """All background trainings of one server process: one per run key, one per student, a fair queue."""

    def __init__(
        self,
        store: RunStore,
        data,
        max_parallel: int = 1,
        max_cost: int | None = None,
        max_per_address: int | None = None,
        max_queued: int | None = None,
        trainer: Trainer | None = None,
    ):
        self.store = store
        self.data = data
        self.trainer = trainer  # None: training.train (train_or_load looks it up when a job is computed)
        self.max_parallel = max(1, int(max_parallel))
        self.max_cost = max_cost_from_env() if max_cost is None else int(max_cost)
        self.max_per_address = (
            _int_from_env(PER_ADDRESS_ENV, DEFAULT_PER_ADDRESS) if max_per_address is None else int(max_per_address)
        )
        self.max_queued = _int_from_env(QUEUED_ENV, DEFAULT_QUEUED) if max_queued is None else int(max_queued)
        # One task per queued job; each task computes whichever job is first in the queue when a worker is free.
        self._executor = ThreadPoolExecutor(max_workers=self.max_parallel, thread_name_prefix="training")
        self._jobs: dict[str, TrainingJob] = {}
        self._queue: list[TrainingJob] = []  # queued, not yet computing, sorted by job.order
        self._computing: set[TrainingJob] = set()
        self._by_session: dict[str | None, TrainingJob] = {}
        self._started_count = itertools.count()
        self._seconds_per_cost = SECONDS_PER_COST
        self._lock = threading.RLock()  # re-entered when start() finishes a stored run's job at once

    def key_for(self, config: settings.TrainConfig) -> str:
        return run_key(config.validated(), self.data.fingerprint)

    def cost_of(self, config: settings.TrainConfig) -> int:
        return training_cost(config, len(self.data.train_images))

    def check_cost(self, config: settings.TrainConfig) -> None:
        """Raise ``TooCostly`` with a sentence naming the bound if one training of ``config`` costs too much."""
        cost = self.cost_of(config)
        if not self.max_cost or cost <= self.max_cost:
            return
        n = len(self.data.train_images)
        if config.validated().impl == settings.LBFGS:
            how, fix = f"L-BFGS iterations x {n:,} images", "use fewer iterations"
        else:
            how = f"epochs x {n:,} images, each minibatch step counting as {STEP_COST_EXAMPLES} more"
            fix = "use fewer epochs or a larger batch"
        raise TooCostly(
            f"These settings cost {cost:,} example-steps and this server allows at most {self.max_cost:,} "
            f"per training ({how}): {fix}."
        )

    def start(
        self, config: settings.TrainConfig, session: str | None = None, address: str | None = None, trained_by: str = ""
    ) -> TrainingJob:
        """The job training ``config`` (joined if it is queued or running, else a new one in the queue).

        A new job reads the store first, so a stored run finishes at once. With ``session``, a session that
        already waits for another job gets ``SessionBusy``; over the cost bound gives ``TooCostly``, a full
        queue (in all, or for ``address``) ``QueueFull``. ``trained_by`` (a signed-in name) is stored with the
        run a new job trains; a joined job keeps its own.
        """
        config = config.validated()
        key = run_key(config, self.data.fingerprint)
        with self._lock:
            mine = self._by_session.get(session) if session is not None else None
            if mine is not None and mine.key != key and mine.is_active() and not mine.cancel_requested():
                raise SessionBusy(mine)
            job = self._jobs.get(key)
            if job is None or not job.is_active():
                job = TrainingJob(self, config, key, self.cost_of(config), address, trained_by)
                if (stored := self.store.get(key)) is not None:  # shown at once, never queued nor refused
                    job._finish("done", result=stored, error="", cached=True)
                    self._jobs[key] = job
                    return job
                self.check_cost(config)
                self._check_room(address)
                self._jobs[key] = job
                self._enqueue(job)
            if session is not None and mine is not None and mine is not job:
                mine._waiters.discard(session)  # its other job ended or is stopping: it waits for this one now
            job._waiters.add(session)
            if session is not None:
                self._by_session[session] = job
            return job

    def leave(self, job: TrainingJob, session: str | None) -> bool:
        """``session`` stops waiting for ``job`` (its Stop); the job stops once nobody waits. True if it stops."""
        with self._lock:
            job._waiters.discard(session)
            if self._by_session.get(session) is job:
                del self._by_session[session]
            if job._waiters:
                return False
        job.cancel()
        return True

    def is_waiting(self, job: TrainingJob, session: str | None) -> bool:
        """Whether ``session`` waits for ``job`` (started or joined it, and has not left it)."""
        with self._lock:
            return session in job._waiters

    def waiters(self, job: TrainingJob) -> int:
        with self._lock:
            return len(job._waiters)

    def get(self, key: str) -> TrainingJob | None:
        """The latest job for ``key`` in this process (queued, running or ended), if any."""
        with self._lock:
            return self._jobs.get(key)

    def of_session(self, session: str) -> TrainingJob | None:
        """The job this session waits for, if it is still queued or running."""
        with self._lock:
            job = self._by_session.get(session)
        return job if job is not None and job.is_active() else None

    def running(self) -> list[TrainingJob]:
        with self._lock:
            jobs = list(self._jobs.values())
        return [job for job in jobs if job.is_active()]

    def computing(self) -> list[TrainingJob]:
        """The jobs being computed now (at most ``max_parallel``)."""
        with self._lock:
            return list(self._computing)

    def queue_position(self, job: TrainingJob) -> tuple[int, float]:
        """(place, estimated seconds until it starts): place 1 is next; (0, 0.0) if not queued."""
        with self._lock:
            if job not in self._queue:
                return 0, 0.0
            ahead = self._queue[: self._queue.index(job)]
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

    # -- the queue

    def _check_room(self, address: str | None) -> None:
        """Raise ``QueueFull`` with a sentence if the queue may not take one more new job (from ``address``)."""
        if self.max_queued and len(self._queue) >= self.max_queued:
            raise QueueFull(
                f"The server's queue is full: {len(self._queue)} trainings are waiting, the most it takes. "
                "Try again when some have finished."
            )
        if address is None or not self.max_per_address:
            return
        mine = sum(1 for j in self._jobs.values() if j.address == address and j.is_active())
        if mine >= self.max_per_address:
            raise QueueFull(
                f"Your network address already has {mine} training{'' if mine == 1 else 's'} queued or running on "
                "this server, the most one address may have. Try again when one has finished."
            )

    def _enqueue(self, job: TrainingJob) -> None:
        """Put ``job`` after every job of an earlier round (its round: 1 + its address's queued jobs)."""
        same_address = sum(1 for j in self._queue if j.address == job.address)
        job.order = (1 + same_address, next(self._started_count))
        bisect.insort(self._queue, job, key=lambda j: j.order)
        self._executor.submit(self._compute_next)

    def _compute_next(self) -> None:
        """A worker is free: compute the first job in the queue (one task was submitted per queued job)."""
        with self._lock:
            if not self._queue:
                return  # its job left the queue before a worker was free
            job = self._queue.pop(0)
            self._computing.add(job)
        job._run()

    def _unqueue(self, job: TrainingJob) -> bool:
        """Take ``job`` out of the queue if it is still there (not computing); True if it was."""
        with self._lock:
            if job in self._queue:
                self._queue.remove(job)
                return True
            return False

    # -- called by jobs

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
