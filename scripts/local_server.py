"""``streamlit run streamlit_app.py`` on a free 127.0.0.1 port, for the browser tests and the benchmarks.

One place that starts the app's own server, waits for ``/_stcore/health`` and kills it if it never
answers; a port another process takes between choosing and binding it is retried on another port.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORT_ATTEMPTS = 5


class ServerExited(RuntimeError):
    """The server process ended before it answered its health check; ``output`` is its log."""

    def __init__(self, output: str):
        super().__init__(f"streamlit exited early:\n{output}")
        self.output = output


def free_port() -> int:
    """A port free at this moment; another process may still take it before streamlit binds it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen | None = None, log=None, timeout: float = 90) -> None:
    """Return once ``url`` answers ``/_stcore/health``; raise ServerExited if ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            output = (log.seek(0), log.read())[1].decode(errors="replace") if log is not None else ""
            raise ServerExited(output)
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)  # polling the health endpoint until it answers
    raise RuntimeError(f"{url} did not answer its health check within {timeout:.0f} s")


def start_streamlit(
    env_overrides: dict[str, str], extra_args: Sequence[str] = (), timeout: float = 60
) -> tuple[subprocess.Popen, str]:
    """The healthy server and its URL; if another process took the port first, try another."""
    for _ in range(PORT_ATTEMPTS):
        started = _start_on(free_port(), env_overrides, extra_args, timeout)
        if started is not None:
            return started
    raise RuntimeError(f"streamlit found its port taken {PORT_ATTEMPTS} times in a row")


def _start_on(
    port: int, env_overrides: dict[str, str], extra_args: Sequence[str], timeout: float
) -> tuple[subprocess.Popen, str] | None:
    """The server and its URL once healthy; None if the port was taken before streamlit could bind it."""
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "streamlit_app.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        *extra_args,
    ]
    # The log goes to a file, not a pipe: nobody drains a pipe while tests run, and a full pipe
    # (64 KiB of log lines) blocks the server's next write, so it stops answering mid-test.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env_overrides}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log, timeout)
    except ServerExited as exited:
        if f"Port {port} is already in use" in exited.output or f"Port {port} is not available" in exited.output:
            return None
        raise
    except BaseException:
        proc.kill()
        raise
    return proc, url


def stop_streamlit(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Ask the server to stop (SIGTERM); kill it if it has not within ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextlib.contextmanager
def running_streamlit(env_overrides: dict[str, str], extra_args=()) -> Iterator[str]:
    """``with running_streamlit(env) as url:`` a server for the block, stopped however the block ends."""
    proc, url = start_streamlit(env_overrides, extra_args)
    try:
        yield url
    finally:
        stop_streamlit(proc)
