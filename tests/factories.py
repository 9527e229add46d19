"""What several test modules build: files, servers, the deployment behind HAProxy.

One place, so a test module never imports another test module. The training fakes (a controlled
trainer, fake data, stored results) are in ``tests/factories_training.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from scripts.local_server import wait_healthy
from tests.async_loop import run_async
from tests.conftest import ROOT, SHARED_DATA

if TYPE_CHECKING:
    from scripts.bench_class import PageLoad, Session


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    """The bytes of ``image`` saved as ``fmt``, as a file a user uploads."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


# ---------------------------------------------------------------- what users send: pictures, links, settings

GARMENT_STEPS = [
    "Your picture",
    "White background",
    "Trimmed",
    "Longest edge 28",
    "Sharpened",
    "Extended to 28 x 28",
    "Negated",
    "8-bit grey",
]  # the upload's steps, as the page titles them (Zalando's, after a white background)

# Every query parameter a link can carry, per page (the run pages need a stored run: STORE_PAGES).
PAGES = {
    "softmax_temperature": ["sm_preset", "sm_labels", "sm_logits", "sm_T", "sm_dtype"],
    "loss_curves": ["loss_y", "loss_y_hat", "loss_delta", "loss_range", "loss_lr", "loss_view", "loss_axis"],
    "cross_entropy_steps": ["yhat", "y", "step", "all"],
    "training": [
        "train_impl",
        "train_lr",
        "train_batch_size",
        "train_epochs",
        "train_seed",
        "train_init_std",
        "train_tab",
    ],
}
STORE_PAGES = {
    "inside_model": ["run", "in_epoch", "in_rescale", "in_image"],
    "calibration": ["run", "cal_run", "cal_T", "cal_image", "cal_compare", *PAGES["training"][:-1]],
}

SIGN_IN_SETTINGS = {
    "redirect_uri": "https://softmax.example.edu/oauth2callback",
    "cookie_secret": "0123456789abcdef" * 4,
    "client_id": "dashboard",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "https://login.example.edu/.well-known/openid-configuration",
}  # complete sign-in settings ([auth] in secrets.toml) that point nowhere real


def live_markup(markdown: str) -> list[str]:
    """Link, image, HTML or autolink syntax that would render: outside code spans and not backslash-escaped."""
    outside = re.sub(r"(`+)(.+?)\1", "", markdown)  # a code span shows its content literally
    return re.findall(r"(?<!\\)\]\(|(?<!\\)<[A-Za-z/!]|https?://|(?<!\\)www\.", outside)


def store_with_a_run(runs_dir, data) -> str:
    """A finished two-epoch run with made-up weights and snapshots: the pages show all their controls."""
    import torch

    from softmax_core.run_store import RunStore, run_key
    from softmax_core.training import EpochMetrics, TrainConfig, TrainResult

    config = TrainConfig(epochs=2).validated()
    g = torch.Generator().manual_seed(0)
    weights, biases = torch.randn(3, 784, 10, generator=g) * 0.05, torch.randn(3, 10, generator=g) * 0.05
    history = tuple(EpochMetrics(e, 0.5, 0.8, 0.8, 0.1) for e in (1, 2))
    result = TrainResult(config, history, "finished", "", weights[-1], biases[-1], 1.0, snapshots=(weights, biases))
    key = run_key(config, data.fingerprint)
    RunStore(runs_dir).save(key, result, torch.eye(10, dtype=torch.int64), data.fingerprint)
    return key


# ---------------------------------------------------------------- the deployment: deploy/serve.sh, HAProxy in front

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
needs_haproxy = pytest.mark.skipif(
    not Path(HAPROXY).exists(), reason="HAProxy is not installed (apt-get install haproxy)"
)


def free_port_pair() -> int:
    """A port p with p and p + 10, p + 11 free (balancer, then two replicas: serve.sh's layout)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        try:
            for other in (port + 10, port + 11):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", other))
            return port
        except OSError:
            continue
    raise RuntimeError("no free ports for the balancer and two replicas")


class Replicas:
    """A running deploy/serve.sh: the balancer's URL, each replica's pid and port (read from its log)."""

    def __init__(self, proc: subprocess.Popen, url: str, log: Path, runs: Path):
        self.proc, self.url, self.log, self.runs = proc, url, log, runs
        self.replicas: dict[str, tuple[int, int]] = {}  # name -> (pid, port)
        self.balancer_pid = 0

    def read_pids(self, count: int, timeout: float = 30) -> None:
        """Wait until serve.sh has logged ``count`` replicas and HAProxy; fail with its log if it has not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log.read_text().splitlines():
                words = line.split()
                if line.startswith("serve.sh: replica"):
                    self.replicas[words[2]] = (int(words[4]), int(words[6]))
                elif line.startswith("serve.sh: haproxy pid"):
                    self.balancer_pid = int(words[3])
            if len(self.replicas) == count and self.balancer_pid:
                return
            time.sleep(0.1)  # serve.sh writes its log as it starts each process
        raise AssertionError(
            f"serve.sh did not log {count} replicas and HAProxy in {timeout:.0f} s:\n{self.log.read_text()}"
        )

    def replica_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.replicas[name][1]}"

    def pids(self) -> list[int]:
        return [pid for pid, _ in self.replicas.values()] + [self.balancer_pid]


@contextlib.contextmanager
def serve_replicas(count: int, folder: Path, port: int | None = None, **env: str) -> Iterator[Replicas]:
    """``deploy/serve.sh count`` on 127.0.0.1 (port: free_port_pair()), runs in folder/runs, until every replica and
    the balancer answer their health check; stopped by Ctrl-C (SIGINT), as a person stops it, however the block ends.
    """
    port = port or free_port_pair()
    log = folder / "serve.log"
    environment = {
        **os.environ,
        "SOFTMAX_DATA_DIR": str(SHARED_DATA),
        "SOFTMAX_RUNS_DIR": str(folder / "runs"),
        "BIND": "127.0.0.1",
        "PYTHON": sys.executable,
        "HAPROXY": HAPROXY,
        **env,
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["deploy/serve.sh", str(count), str(port)], cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT
        )
    served = Replicas(proc, f"http://127.0.0.1:{port}", log, folder / "runs")
    try:
        served.read_pids(count)
        for name in served.replicas:
            wait_healthy(served.replica_url(name), timeout=90)
        wait_healthy(served.url, timeout=30)
        yield served
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def left_running(pids: list[int], timeout: float = 20) -> list[int]:
    """The processes among ``pids`` still alive after waiting up to ``timeout`` seconds for them to end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
        time.sleep(0.2)  # a process ends when the kernel says so: no event to wait on for another's child
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def load_pages(targets: list[tuple[str, str, str]]) -> list:
    """Each (server URL, page, query) opened at once by a session of its own over Streamlit's websocket; what each
    page showed (scripts/bench_class.py's Session). A server's first load runs its main script (a warm-up)."""
    from scripts.bench_class import Session  # streamlit and websockets: only the server lanes need them

    async def one(url, page, query):
        session = Session(url)
        await session.connect(60)
        try:
            return await session.load(page, query, timeout=120)
        finally:
            await session.close()

    async def every():
        return await asyncio.gather(*(one(*target) for target in targets))

    return run_async(every())


# ---------------------------------------------------------------- the training queue over Streamlit's websocket

TIMEOUT = 240.0  # seconds: a page load or a training on a busy 2-core machine


LONG = "train_epochs=25&train_batch_size=128"  # several seconds of training: long enough to act meanwhile


SHORT = "train_epochs=1&train_batch_size=1024"


async def press(session: Session, query: str, label: str = "Train", shown: PageLoad | None = None) -> PageLoad:
    """Open the training page at ``query`` (unless ``shown`` is it already) and press the button ``label``."""
    shown = shown or await session.load("training", query, timeout=TIMEOUT)
    assert label in shown.buttons, (label, shown.texts, shown.error)
    return await session.press("training", query, shown.buttons[label], timeout=TIMEOUT)


async def follow(session: Session, query: str, shown: PageLoad, until, timeout: float = TIMEOUT) -> PageLoad:
    """Poll as the browser does (the progress fragment on its timer) until ``until(texts)``; the last load."""
    poll, page_hash = shown.auto_rerun, shown.page_script_hash
    deadline = time.monotonic() + timeout
    while not until(shown.texts):
        assert not shown.error, shown.error
        assert poll is not None and time.monotonic() < deadline, shown.texts
        await asyncio.sleep(poll[1])
        page_hash = shown.page_script_hash or page_hash
        shown = await session.load("training", query, timeout=TIMEOUT, fragment=(poll[0], page_hash))
        poll = shown.auto_rerun or poll
    # A fragment's run does not name its timer again: the load handed back carries the timer it runs on,
    # so a caller can follow from it (seen in CI: a training that showed "Starting…" first, then epochs).
    return dataclasses.replace(shown, auto_rerun=poll, page_script_hash=shown.page_script_hash or page_hash)


def has(*parts: str):
    """A test of a page's texts: does any of them contain any of ``parts``?"""
    return lambda texts: any(any(part in t for part in parts) for t in texts)


def progress_of(load: PageLoad) -> str:
    """The progress bar's text in a load (its place in the queue, or the epoch)."""
    return next((t for t in load.texts if t.startswith(("Queued", "Epoch", "Starting"))), "")
