"""Train in a child process, so the server's interpreter lock stays with the pages.

A training thread inside the server holds Python's interpreter lock between
its torch calls; while it trains, every page load of every other student waits
for the lock too. :class:`TrainingProcess` keeps one long-lived child,
``python -m softmax_core.training_process``, that reads the dataset once and
then trains one job at a time with
:func:`~softmax_core.train_or_load.train_or_load` into the job's run store
folder (the one the server reads). Jobs, progress, Stop and results travel as
plain pickles over two pipes (``multiprocessing.connection``'s own pickler
would hand tensors over as shared memory, which needs a multiprocessing parent). It is a fresh
interpreter, not ``multiprocessing``'s spawn: that re-runs the ``__main__``
module in the child, and inside a Streamlit script run ``__main__`` is the page.

Its :meth:`TrainingProcess.train_or_load` has the signature of the function, so
:class:`~softmax_core.jobs.TrainingJobs` takes either. If the child dies (killed,
out of memory), the job fails with a sentence and the next job starts a new child.
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

from softmax_core import training
from softmax_core.train_or_load import Outcome

# The child sends at most this many progress reports a second within an epoch (every finished epoch is
# always sent): at batch 1 the trainer reports about 270 times a second, more than a page can show.
PROGRESS_PER_SECOND = 20
STOP_CHECK_SECONDS = 0.05  # how often the waiting thread passes a Stop on to the child
TORCH_THREADS = 1  # one core trains; on a small server the other stays free for the pages
STOP = "stop"


class ChildDied(RuntimeError):
    """The training process ended without an answer."""


def _send(conn: Connection, message) -> None:
    conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def _recv(conn: Connection):
    return pickle.loads(conn.recv_bytes())  # our own child or server: the other end of a pipe we made


class TrainingProcess:
    """One child process that trains jobs one at a time (a second caller waits for the first)."""

    def __init__(self, data_dir: str | Path):
        """The child reads Fashion-MNIST from ``data_dir`` (never downloads: the server has read it there)."""
        self._data_dir = str(data_dir)
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._to_child: Connection | None = None
        self._from_child: Connection | None = None
        self._fingerprint = ""  # of the dataset the child read

    def start(self) -> None:
        """Start the child now (it imports torch and reads the dataset, a few seconds) rather than at the first job."""
        with self._lock:
            try:
                self._ensure_child()
            except (EOFError, OSError, ChildDied):
                self._forget_child()  # the first job tries again and reports it

    def train_or_load(self, store, config, data, progress=None, should_stop=None) -> Outcome:
        """As :func:`~softmax_core.train_or_load.train_or_load`, computed in the child on the dataset it read."""
        with self._lock:
            try:
                self._ensure_child()
                if self._fingerprint != data.fingerprint:
                    raise ValueError("The training process read another dataset than this server's.")
                _send(self._to_child, (str(store.root), config))
                kind, value = self._answer(progress, should_stop)
            except (EOFError, OSError, ChildDied) as exc:
                self._forget_child()
                raise ChildDied("The training process ended before the training did.") from exc
        if kind == "failed":
            raise value  # the training's own exception, raised in the child
        return Outcome(*value)

    def close(self) -> None:
        """Let the child go (it exits when its pipe closes)."""
        with self._lock:
            self._forget_child()

    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _answer(self, progress, should_stop) -> tuple[str, object]:
        """Pass progress on and Stop over, until the child answers ("done", outcome) or ("failed", exception)."""
        stop_sent = False
        while True:
            if not stop_sent and should_stop is not None and should_stop():
                _send(self._to_child, STOP)
                stop_sent = True
            if not self._from_child.poll(STOP_CHECK_SECONDS):
                if self._process.poll() is not None:
                    raise ChildDied(f"exit code {self._process.returncode}")
                continue
            kind, value = _recv(self._from_child)
            if kind != "progress":
                return kind, value
            if progress is not None:
                progress(value)

    def _ensure_child(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._forget_child()
        jobs_r, jobs_w = os.pipe()  # server -> child
        answers_r, answers_w = os.pipe()  # child -> server
        command = [sys.executable, "-m", "softmax_core.training_process", str(jobs_r), str(answers_w), self._data_dir]
        root = Path(__file__).resolve().parents[1]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
        try:
            self._process = subprocess.Popen(command, pass_fds=(jobs_r, answers_w), env=env, stdin=subprocess.DEVNULL)
        finally:
            os.close(jobs_r)
            os.close(answers_w)
        self._to_child = Connection(jobs_w, readable=False)
        self._from_child = Connection(answers_r, writable=False)
        kind, self._fingerprint = _recv(self._from_child)  # EOFError if the child could not read the data
        if kind != "ready":
            raise ChildDied(f"unexpected first message {kind!r}")

    def _forget_child(self) -> None:
        for conn in (self._to_child, self._from_child):
            if conn is not None:
                conn.close()
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process, self._to_child, self._from_child = None, None, None


# -- the child


def _serve(jobs: Connection, answers: Connection, data_dir: str) -> None:
    """Read the data once, then train each (store folder, config) sent, until the server closes the pipe."""
    import torch

    from softmax_core.data import load_fashion_mnist
    from softmax_core.run_store import RunStore
    from softmax_core.train_or_load import train_or_load

    torch.set_num_threads(TORCH_THREADS)
    data = load_fashion_mnist(data_dir, download=False)
    _send(answers, ("ready", data.fingerprint))
    while True:
        try:
            message = _recv(jobs)
        except EOFError:  # the server is gone
            return
        if message == STOP:  # a Stop that arrived after its job had ended
            continue
        runs_dir, config = message
        answers_send = _Throttled(answers)
        stopped = [False]

        def should_stop(_stopped=stopped) -> bool:
            while not _stopped[0] and jobs.poll():  # only a Stop arrives while a job runs
                _stopped[0] = _recv(jobs) == STOP
            return _stopped[0]

        try:
            outcome = train_or_load(RunStore(runs_dir), config, data, progress=answers_send, should_stop=should_stop)
        except Exception as exc:  # raised again in the server's thread; the child keeps serving
            try:
                _send(answers, ("failed", exc))
            except Exception:  # an exception that does not pickle: its type and text
                _send(answers, ("failed", RuntimeError(f"{type(exc).__name__}: {exc}")))
        else:
            _send(answers, ("done", tuple(outcome)))


class _Throttled:
    """Sends progress at most PROGRESS_PER_SECOND times a second, and every epoch's end."""

    def __init__(self, answers: Connection):
        self._answers, self._last = answers, 0.0

    def __call__(self, progress: training.Progress) -> None:
        now = time.monotonic()
        if progress.batch == progress.batches or now - self._last >= 1.0 / PROGRESS_PER_SECOND:
            self._last = now
            _send(self._answers, ("progress", progress))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The server's training process (started by TrainingProcess).")
    parser.add_argument("jobs_fd", type=int)
    parser.add_argument("answers_fd", type=int)
    parser.add_argument("data_dir")
    args = parser.parse_args(argv)
    _serve(Connection(args.jobs_fd, writable=False), Connection(args.answers_fd, readable=False), args.data_dir)


if __name__ == "__main__":
    main()
