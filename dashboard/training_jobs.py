"""The server's one queue of background trainings, and the widgets every page that trains shows for a job.

The training page and the calibration page (its "fit the best linear model"
button) submit to the same :class:`~softmax_core.training_queue.TrainingJobs`, so a class
shares one fair queue, one job per student across pages and reloads, identical
settings joining one job, and one cost bound.

Who a student is: the browser's Streamlit XSRF cookie, which Streamlit sets when the
page first checks the server (``/_stcore/health``) and the browser sends with every
websocket it opens (a reload or a second tab is the same student, although each is a
new Streamlit session). It
is random per browser and never shown: only a hash of it is kept. A client without
it (XSRF protection switched off, a script) is counted per Streamlit session.
Which network address a student comes from: the connection's peer, or behind the
balancer (a peer listed in ``$SOFTMAX_TRUSTED_PROXIES``) the address the balancer
appended to ``X-Forwarded-For``; a forwarded address from anyone else is ignored.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import ipaddress
import os
import threading
import uuid
from collections.abc import Callable, Iterable

import streamlit as st

from dashboard import clear_cache_guard
from dashboard.sign_in import signed_in_name
from softmax_core.figures.training_figures import config_label
from softmax_core.run_store import RunStore
from softmax_core.training import LBFGS, TrainConfig
from softmax_core.training_queue import JobSnapshot, QueueFull, SessionBusy, TooCostly, TrainingJob, TrainingJobs

clear_cache_guard.install()

SESSION_KEY = "train_session"  # a session's id in the queue when its browser sent no XSRF cookie
XSRF_COOKIE = "_streamlit_xsrf"  # Streamlit's name for it (web/server/starlette/starlette_server_config.py)
TRUSTED_PROXIES_ENV = "SOFTMAX_TRUSTED_PROXIES"  # comma-separated: whose X-Forwarded-For is believed
LOOPBACK = "loopback"  # Streamlit reports a peer on 127.0.0.1 or ::1 as no address
POLL_SECONDS = 0.25  # progress on screen four times a second
SLOW_POLL_SECONDS = 1.0  # while a job waits in the queue: its place and a countdown in whole seconds
# A poll that finds the job running waits this long for it to end (the thread sleeps; a click on Stop
# is handled when the wait is over), so the finished result needs no further poll to be seen.
WAIT_FOR_END_SECONDS = 0.2


_registries: dict[tuple[str, str], TrainingJobs] = {}
_registries_lock = threading.Lock()


def training_jobs(runs_dir: str, data_fingerprint: str, data) -> TrainingJobs:
    """The server's one registry of background trainings (per runs folder and dataset), made on first use.

    A plain module-level registry, not ``st.cache_resource``: any viewer can clear Streamlit's caches
    (see ``clear_cache_guard``), and a cleared registry lost its running trainings and its one-worker bound.
    """
    with _registries_lock:
        jobs = _registries.get((runs_dir, data_fingerprint))
        if jobs is None:
            jobs = _registries[(runs_dir, data_fingerprint)] = TrainingJobs(RunStore(runs_dir), data)
        return jobs


def browser_token(cookie: str | None) -> bytes | None:
    """The random token inside Streamlit's XSRF cookie, the same for every masked copy of it; None if unreadable.

    Streamlit sends the cookie as ``2|mask|token XOR mask|timestamp`` with a new mask on every response
    (version 1: the token in hex).
    """
    if not isinstance(cookie, str):  # no cookie (or, under AppTest, a mocked one)
        return None
    value = cookie.strip("\"' ")
    try:
        if value.startswith("2|"):
            _, mask_hex, masked_hex, _timestamp = value.split("|")
            mask, masked = binascii.a2b_hex(mask_hex), binascii.a2b_hex(masked_hex)
            if len(mask) != 4:
                return None
            token = bytes(b ^ mask[i % 4] for i, b in enumerate(masked))
        else:
            token = binascii.a2b_hex(value)
    except (binascii.Error, ValueError):
        return None
    return token if len(token) >= 8 else None


def student_id() -> str:
    """Who is asking, across reloads and tabs: a hash of the browser's XSRF token, else this session's id."""
    token = browser_token(st.context.cookies.get(XSRF_COOKIE))
    if token is not None:
        return "browser-" + hashlib.sha256(token).hexdigest()[:32]
    return "session-" + st.session_state.setdefault(SESSION_KEY, uuid.uuid4().hex)


@functools.cache
def _trusted_proxies(raw: str) -> frozenset[str]:
    names = {part.strip() for part in raw.split(",") if part.strip()}
    return frozenset(LOOPBACK if name in ("127.0.0.1", "::1", "localhost") else name for name in names)


def trusted_proxies() -> frozenset[str]:
    """``$SOFTMAX_TRUSTED_PROXIES``: the balancer's addresses (deploy/serve.sh: 127.0.0.1); none by default."""
    return _trusted_proxies(os.environ.get(TRUSTED_PROXIES_ENV, ""))


def forwarded_client(peer: str | None, forwarded_for: Iterable[str], trusted: frozenset[str]) -> str:
    """The client's address: ``peer`` (None: loopback), or, when ``peer`` is a trusted proxy, the last address
    in ``X-Forwarded-For`` (the one the proxy appended; anything before it the client may have written)."""
    peer = peer if isinstance(peer, str) and peer else LOOPBACK  # AppTest's mocked runtime gives no string
    if peer not in trusted:
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    if not hops:
        return peer
    try:
        return str(ipaddress.ip_address(hops[-1]))
    except ValueError:
        return peer


def client_address() -> str:
    """This session's network address, for the queue's per-address bound and its fair order."""
    return forwarded_client(st.context.ip_address, st.context.headers.get_all("X-Forwarded-For"), trusted_proxies())


def start_job(jobs: TrainingJobs, config: TrainConfig, *, cancel_key: str, button: str) -> TrainingJob | None:
    """Queue ``config`` for this student; a sentence instead of a job when it costs too much, the queue is
    full or the student already waits for another training.

    ``button`` names the button to press again after leaving the other job (markdown, e.g. ``"**Train**"``).
    """
    me = student_id()
    try:
        return jobs.start(config, session=me, address=client_address(), trained_by=signed_in_name())
    except TooCostly as exc:
        st.error(str(exc), icon=":material/timer_off:")
    except QueueFull as exc:
        st.warning(str(exc), icon=":material/hourglass_disabled:")
    except SessionBusy as busy:
        st.warning(
            "You already have a training queued or running (" + config_label(busy.job.config) + "): one at a "
            f"time per student. Wait for it, or stop waiting for it and press {button} again.",
            icon=":material/block:",
        )
        st.button("Stop waiting for my other training", key=cancel_key, on_click=jobs.leave, args=(busy.job, me))
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


def job_progress(jobs: TrainingJobs, job: TrainingJob, snap: JobSnapshot, *, stop_key: str) -> None:
    """The progress bar (or the place in the queue), and a Stop button for a student who waits for it.

    Stop takes this student out of the job; it stops when nobody waits for it any more. A student who
    only sees it (the same settings, not pressed) or has stopped waiting gets no Stop, since it is others'
    job, but may join it.
    """
    fraction, text = progress_text(snap)
    st.progress(min(1.0, fraction), text=text)
    me = student_id()
    if not jobs.is_waiting(job, me):
        st.caption(
            f"{students(snap.waiters)} {'waits' if snap.waiters == 1 else 'wait'} for this training; it runs on the "
            "server whatever this page does."
        )
        if st.button("Wait for it too", key=f"{stop_key}_join", icon=":material/group_add:"):
            if start_job(jobs, job.config, cancel_key=f"{stop_key}_other", button="**Wait for it too**") is not None:
                st.rerun()
        return
    stop, note = st.columns([1, 5], vertical_alignment="center")
    stop.button(
        "Stop",
        icon=":material/stop:",
        key=stop_key,
        on_click=jobs.leave,
        args=(job, me),
        help="Stop waiting for this training: it stops after the current "
        f"{'L-BFGS step' if snap.config.impl == LBFGS else 'batch'} (or leaves the queue) unless other students "
        "wait for it too; nothing of it is stored.",
    )
    others = snap.waiters - 1
    shared = f" {students(others)} also {'waits' if others == 1 else 'wait'} for it." if others > 0 else ""
    note.caption(f"Training runs on the server: leaving or reloading the page does not stop it.{shared}")


def students(n: int) -> str:
    return "1 student" if n == 1 else f"{n} students"


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
    job_progress(jobs, job, snap, stop_key=stop_key)
    if details is not None:
        details(snap)
    # A timed rerun of a computing job (not the page's own first call, which must not hold up the rest
    # of the page) waits for the end before it returns: the result shows at once, not a poll later.
    if runs[0] > 1 and not slow and job.wait(WAIT_FOR_END_SECONDS):
        st.rerun()


# Every session with a job runs one of these: keep ``details`` cheap (cache its figures).
_poll_often = st.fragment(_poll_body, run_every=POLL_SECONDS)
_poll_slowly = st.fragment(_poll_body, run_every=SLOW_POLL_SECONDS)
