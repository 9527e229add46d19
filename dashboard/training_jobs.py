"""The server's one queue of background trainings, and the widgets every page that trains shows for a job.

The training page and the calibration page (its "fit the best linear model"
button) submit to the same :class:`~softmax_core.jobs.TrainingJobs`, so a class
shares one first-come-first-served queue, one job per session across pages,
identical settings joining one job, and one cost bound.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import streamlit as st

from dashboard.sign_in import signed_in_name
from softmax_core.figures.training_figures import config_label
from softmax_core.jobs import JobSnapshot, SessionBusy, TooCostly, TrainingJob, TrainingJobs
from softmax_core.run_store import RunStore
from softmax_core.training import LBFGS, TrainConfig

SESSION_KEY = "train_session"  # this browser session's id in the queue (shared by every page)
POLL_SECONDS = 0.25  # progress on screen four times a second
SLOW_POLL_SECONDS = 1.0  # while a job waits in the queue: its place and a countdown in whole seconds
# A poll that finds the job running waits this long for it to end (the thread sleeps; a click on Stop
# is handled when the wait is over), so the finished result needs no further poll to be seen.
WAIT_FOR_END_SECONDS = 0.2


@st.cache_resource
def training_jobs(runs_dir: str, data_fingerprint: str, _data) -> TrainingJobs:
    """The server's one registry of background trainings (per runs folder and dataset)."""
    return TrainingJobs(RunStore(runs_dir), _data)


def session_id() -> str:
    return st.session_state.setdefault(SESSION_KEY, uuid.uuid4().hex)


def start_job(jobs: TrainingJobs, config: TrainConfig, *, cancel_key: str, button: str) -> TrainingJob | None:
    """Queue ``config`` for this session; a sentence instead of a job when it costs too much or the session is busy.

    ``button`` names the button to press again after cancelling the other job (markdown, e.g. ``"**Train**"``).
    """
    try:
        return jobs.start(config, session=session_id(), trained_by=signed_in_name())
    except TooCostly as exc:
        st.error(str(exc), icon=":material/timer_off:")
    except SessionBusy as busy:
        st.warning(
            "You already have a training queued or running (" + config_label(busy.job.config) + "): one at a "
            f"time per student. Wait for it, or cancel it and press {button} again.",
            icon=":material/block:",
        )
        st.button("Cancel my other training", key=cancel_key, on_click=busy.job.cancel)
    return None


def progress_text(snap: JobSnapshot) -> tuple[float, str]:
    """(fraction done, the bar's text): the place in the queue while waiting, then epochs or L-BFGS iterations."""
    progress = snap.progress
    if progress is None:
        return 0.0, snap.waiting or "Starting…"
    done = (progress.epoch - 1) * progress.batches + progress.batch
    fraction = done / max(1, progress.epochs * progress.batches)
    if snap.config.impl == LBFGS:  # one "batch" per iteration: the full training set
        return fraction, f"L-BFGS iteration {done} of {progress.epochs}"
    return fraction, f"Epoch {progress.epoch} of {progress.epochs}, batch {progress.batch} of {progress.batches}"


def job_progress(job: TrainingJob, snap: JobSnapshot, *, stop_key: str) -> None:
    """The progress bar (or the place in the queue), a Stop button, and where the training runs."""
    fraction, text = progress_text(snap)
    st.progress(min(1.0, fraction), text=text)
    stop, note = st.columns([1, 5], vertical_alignment="center")
    stop.button(
        "Stop",
        icon=":material/stop:",
        key=stop_key,
        on_click=job.cancel,
        help=f"Stop after the current {'L-BFGS step' if snap.config.impl == LBFGS else 'batch'}, or leave the queue; "
        "nothing is stored.",
    )
    note.caption("Training runs on the server: leaving or reloading the page does not stop it.")


def poll_job(
    jobs: TrainingJobs, key: str, *, stop_key: str, details: Callable[[JobSnapshot], None] | None = None
) -> None:
    """The queued or running job's progress, then ``details(snapshot)``; when it ends, the whole page reruns.

    A job that will not start for a while is polled once a second (its place and countdown change
    by the second), otherwise four times a second; when that changes, the page reruns once.
    """
    job = jobs.get(key)
    snap = job.snapshot() if job is not None else None
    slow = snap is not None and polls_slowly(snap)
    poll = _poll_slowly if slow else _poll_often
    poll(jobs, key, stop_key=stop_key, details=details, slow=slow, runs=[0])


def polls_slowly(snap: JobSnapshot) -> bool:
    """Queued with more than two slow polls to wait: a class's queue polls 4x less often meanwhile."""
    return snap.state == "running" and snap.progress is None and snap.wait_seconds > 2 * SLOW_POLL_SECONDS


def _poll_body(
    jobs: TrainingJobs,
    key: str,
    *,
    stop_key: str,
    details: Callable[[JobSnapshot], None] | None,
    slow: bool,
    runs: list[int],
) -> None:
    """One poll; ``slow`` says which poller runs it, ``runs`` counts its runs (the first is inline)."""
    runs[0] += 1
    job = jobs.get(key)
    snap = job.snapshot() if job is not None else None
    if snap is None or snap.finished:
        st.rerun()
    if polls_slowly(snap) != slow:
        st.rerun()  # its start is near (or further away): the full run picks the other poller
    job_progress(job, snap, stop_key=stop_key)
    if details is not None:
        details(snap)
    # A timed rerun of a computing job (not the page's own first call, which must not hold up the rest
    # of the page) waits for the end before it returns: the result shows at once, not a poll later.
    if runs[0] > 1 and not slow and job.wait(WAIT_FOR_END_SECONDS):
        st.rerun()


# Every session with a job runs one of these: keep ``details`` cheap (cache its figures).
_poll_often = st.fragment(_poll_body, run_every=POLL_SECONDS)
_poll_slowly = st.fragment(_poll_body, run_every=SLOW_POLL_SECONDS)
