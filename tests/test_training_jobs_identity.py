"""Who a student is (across reloads), which address they come from (behind the balancer), and the one registry."""

from __future__ import annotations

import threading

import pytest
import streamlit as st
from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string

from dashboard import training_jobs as tj
from softmax_core.training_queue import TrainingJobs
from tests.factories_training import queue_data

pytestmark = pytest.mark.unit


def test_the_browser_token_is_the_same_under_every_mask_streamlit_sends():
    token = bytes(range(16))
    cookies = {generate_xsrf_token_string(token, 1_700_000_000) for _ in range(20)}
    assert len(cookies) > 1  # Streamlit masks the token anew on every response
    assert {tj.browser_token(c) for c in cookies} == {token}
    assert tj.browser_token('"' + next(iter(cookies)) + '"') == token  # quoted by some clients
    assert tj.browser_token(token.hex()) == token  # version 1: plain hex
    other = generate_xsrf_token_string(bytes(range(1, 17)), 1_700_000_000)
    assert tj.browser_token(other) != token


@pytest.mark.parametrize("cookie", [None, "", "2|zz|00|1", "2|00112233|0011|", "2|001122|00112233445566778899|1", "x"])
def test_an_unreadable_cookie_is_no_token(cookie):
    assert tj.browser_token(cookie) is None


LOOPBACK_PROXY = frozenset({tj.LOOPBACK})


@pytest.mark.parametrize(
    "peer, forwarded, trusted, address",
    [
        ("198.51.100.4", [], frozenset(), "198.51.100.4"),
        ("198.51.100.4", ["203.0.113.9"], frozenset(), "198.51.100.4"),  # a client's own header is ignored
        (None, ["203.0.113.9"], frozenset(), tj.LOOPBACK),  # not trusted by default
        (None, ["203.0.113.9"], LOOPBACK_PROXY, "203.0.113.9"),  # behind the balancer on 127.0.0.1
        (None, ["10.9.9.9", "203.0.113.9"], LOOPBACK_PROXY, "203.0.113.9"),  # forged first, balancer's last
        (None, ["10.9.9.9, 203.0.113.9"], LOOPBACK_PROXY, "203.0.113.9"),  # one header, comma-separated
        (None, ["2001:db8::7"], LOOPBACK_PROXY, "2001:db8::7"),
        (None, ["not an address"], LOOPBACK_PROXY, tj.LOOPBACK),
        (None, [], LOOPBACK_PROXY, tj.LOOPBACK),  # a direct local connection
        ("192.0.2.10", ["203.0.113.9"], frozenset({"192.0.2.10"}), "203.0.113.9"),  # a balancer elsewhere
    ],
)
def test_the_forwarded_address_is_believed_only_from_a_trusted_proxy(peer, forwarded, trusted, address):
    assert tj.forwarded_client(peer, forwarded, trusted) == address


def test_trusted_proxies_come_from_the_environment(monkeypatch):
    monkeypatch.setenv(tj.TRUSTED_PROXIES_ENV, " 127.0.0.1, 192.0.2.10 ,")
    assert tj.trusted_proxies() == {tj.LOOPBACK, "192.0.2.10"}
    monkeypatch.delenv(tj.TRUSTED_PROXIES_ENV)
    assert tj.trusted_proxies() == frozenset()


def test_the_registry_survives_a_cleared_cache_and_is_made_once(tmp_path):
    data = queue_data()
    made = []
    barrier = threading.Barrier(8)

    def get():
        barrier.wait()
        made.append(tj.training_jobs(str(tmp_path), "fp-test", data))

    threads = [threading.Thread(target=get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    jobs = made[0]
    assert isinstance(jobs, TrainingJobs) and all(j is jobs for j in made)
    st.cache_resource.clear()  # what any viewer's "clear cache" did to it
    st.cache_data.clear()
    assert tj.training_jobs(str(tmp_path), "fp-test", data) is jobs
    assert tj.training_jobs(str(tmp_path / "other"), "fp-test", data) is not jobs
