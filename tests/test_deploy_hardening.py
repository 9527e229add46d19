"""The shipped deployment (deploy/serve.sh: HAProxy in front of a replica) closes what a deployment can.

Through the balancer: Streamlit's /_stcore/metrics is not served, no response may be framed by
another site, a request body over the upload limit is refused before a replica reads it, and one
source address is held to a number of connections and a request rate; the default limits still
admit a class of 100 behind one NAT address.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import urllib.error
import urllib.request
from email.message import Message

import pytest

from scripts.class_sessions import Session
from tests.async_loop import run_async
from tests.factories import needs_haproxy, serve_replicas

pytestmark = [
    pytest.mark.server,
    needs_haproxy,
    pytest.mark.xdist_group("measures"),
]  # 700 connections: not beside a benchmark

UPLOAD_BODY_CAP = 16 * 2**20  # deploy/haproxy.cfg: 15 MB of picture plus 1 MB of multipart framing
TIGHT = {"SRC_MAX_CONNECTIONS": "20", "SRC_MAX_REQUESTS_10S": "60"}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    with serve_replicas(1, tmp_path_factory.mktemp("shipped")) as served:
        yield served


@pytest.fixture(scope="module")
def tight(tmp_path_factory):
    with serve_replicas(1, tmp_path_factory.mktemp("tight"), **TIGHT) as served:
        yield served


def get(url: str, headers: dict | None = None) -> tuple[int, Message, bytes]:
    """(status, headers (names in any case), body)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def raw_request(url: str, head: str, body: bytes = b"") -> bytes:
    """Send a hand-written request (headers may promise more body than is sent); the response's first bytes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(head.encode() + b"\r\n" + body)
        return sock.recv(4096)


# ---------------------------------------------------------------- what the shipped balancer closes


@pytest.mark.parametrize(
    "path",
    ["/_stcore/metrics", "/_stcore/metrics?x=1", "/_stcore/%6Detrics", "/_stcore/METRICS", "//_stcore/metrics"],
)
def test_streamlit_metrics_are_not_served_through_the_balancer(shipped, path):
    assert get(shipped.url + path)[0] == 404
    assert get(shipped.replica_url("r1") + "/_stcore/metrics")[0] == 200  # the replica alone still serves them


@pytest.mark.parametrize("path", ["/", "/inside_model", "/_stcore/health", "/static/no-such-file.js"])
def test_no_other_site_may_frame_the_app(shipped, path):
    _, headers, _ = get(shipped.url + path)
    assert headers.get("X-Frame-Options") == "SAMEORIGIN"
    assert headers.get("Content-Security-Policy") == "frame-ancestors 'self'"


def test_the_balancer_refuses_an_upload_body_over_the_limit_before_a_replica_reads_it(shipped):
    over = raw_request(
        shipped.url,
        "PUT /_stcore/upload_file/some-session/some-file HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {UPLOAD_BODY_CAP + 1}\r\n",
        b"--b\r\n" * 100,  # the first bytes only: the answer must not wait for the rest
    )
    assert over.startswith(b"HTTP/1.1 413") and b"413 Payload Too Large</h1>" in over, over[:200]
    chunked = raw_request(
        shipped.url,
        "PUT /_stcore/upload_file/some-session/some-file HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n",
        b"10\r\n" + b"x" * 16 + b"\r\n",
    )
    assert chunked.startswith(b"HTTP/1.1 400"), chunked[:200]
    # At the cap, HAProxy lets it through: Streamlit answers (here 403, the request has no XSRF token).
    at_cap = raw_request(
        shipped.url,
        "PUT /_stcore/upload_file/some-session/some-file HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {UPLOAD_BODY_CAP}\r\n",
        b"--b\r\n",
    )
    assert not at_cap.startswith(b"HTTP/1.1 413") and at_cap.startswith(b"HTTP/1.1 4"), at_cap[:200]


def test_the_default_limits_admit_a_class_of_100_behind_one_address(shipped):
    """100 websockets held open and 600 more connections loading at once, all from 127.0.0.1."""

    async def health(url: str) -> int:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(b"GET /_stcore/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 60)
            return int(line.split()[1]) if line else 0
        finally:
            writer.close()

    async def lecture():
        sessions = [Session(shipped.url) for _ in range(100)]
        await asyncio.gather(*(s.connect(60) for s in sessions))
        try:
            statuses = await asyncio.gather(*(health(shipped.url) for _ in range(600)))
            return statuses, sum(s.ws.state.name == "OPEN" for s in sessions)
        finally:
            await asyncio.gather(*(s.close() for s in sessions))

    statuses, open_websockets = run_async(lecture())
    assert open_websockets == 100
    assert statuses.count(200) == 600, {s: statuses.count(s) for s in set(statuses)}


# ---------------------------------------------------------------- the per-source limits, made small
# Each test speaks from its own loopback address: the balancer counts per source address.


def connect_from(url: str, source: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=20, source_address=(source, 0))


def health_status(sock: socket.socket) -> int:
    """GET /_stcore/health on an open connection: its status, or 0 if the balancer closed the connection."""
    try:
        sock.sendall(b"GET /_stcore/health HTTP/1.1\r\nHost: x\r\n\r\n")
        head = sock.recv(4096)
        return int(head.split()[1]) if head else 0
    except OSError:  # reset by the balancer
        return 0


def test_one_source_gets_at_most_its_connections(tight):
    sockets = []
    try:
        for _ in range(30):
            with contextlib.suppress(OSError):  # a connection may be reset as it opens
                sockets.append(connect_from(tight.url, "127.0.0.2"))
        time.sleep(0.5)  # HAProxy has tracked (and closed the excess of) all of them
        statuses = [health_status(sock) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
    assert statuses.count(200) == int(TIGHT["SRC_MAX_CONNECTIONS"]), statuses
    assert get(tight.url + "/_stcore/health")[0] == 200  # another address is not held back


def test_one_source_gets_429_above_its_request_rate(tight):
    statuses = []
    for _ in range(100):
        with connect_from(tight.url, "127.0.0.3") as sock:
            statuses.append(health_status(sock))
    limit = int(TIGHT["SRC_MAX_REQUESTS_10S"])
    assert statuses[:limit] == [200] * limit and set(statuses[limit:]) == {429}, statuses
    assert get(tight.url + "/_stcore/health")[0] == 200  # another address is not held back
