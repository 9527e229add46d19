"""Sign-in end to end in Chromium against a real OpenID Connect provider started here on loopback.

The provider is ``oidc-provider-mock`` (a Flask app on Authlib's server side: discovery, authorization
page, token endpoint, signed ID tokens, end-session page): its authorization page lets the test pick the
user or press Deny, as a person would. Streamlit's own ``st.login`` / ``st.logout`` do the rest; nothing
of them is mocked. The app gets its settings from a secrets.toml in a temporary folder
(``--secrets.files`` for one server, ``STREAMLIT_SECRETS_FILES`` for deploy/serve.sh's replicas).
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

import pytest

from tests.browser import assert_no_error, open_page, screenshot, wait_for_rerun
from tests.conftest import SHARED_DATA
from tests.factories import HAPROXY, free_port_pair, serve_replicas

pytestmark = pytest.mark.browser

USERS = {
    "ana": {"email": "ana@uni.edu", "email_verified": True, "name": "Ana Lima"},
    "eve": {"email": "eve@elsewhere.com", "email_verified": True, "name": "Eve Outsider"},
}
NOT_ALLOWED_START = "This copy of the dashboard is open to the people on its access list"


@pytest.fixture(scope="module")
def provider():
    """The provider's base URL: ``oidc_provider_mock.app`` served by werkzeug on 127.0.0.1, in a thread."""
    import werkzeug.serving
    from oidc_provider_mock import User, app

    users = [User(sub=sub, claims=claims) for sub, claims in USERS.items()]
    server = werkzeug.serving.make_server("127.0.0.1", 0, app(user_claims=users, require_nonce=True), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def write_secrets(folder: Path, provider: str, redirect_uri: str) -> Path:
    path = folder / "secrets.toml"
    path.write_text(
        "[auth]\n"
        f'redirect_uri = "{redirect_uri}"\n'
        f'cookie_secret = "{secrets.token_hex(32)}"\n'
        'client_id = "softmax-dashboard"\n'
        'client_secret = "test-only-secret"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
        "[access]\n"
        'allowed = ["@uni.edu"]\n'
    )
    return path


@pytest.fixture(scope="module")
def signed_app(provider, tmp_path_factory):
    """One ``streamlit run`` with sign-in on; its redirect URI follows its port (``{port}``)."""
    from scripts.local_server import start_streamlit, stop_streamlit

    folder = tmp_path_factory.mktemp("sign-in")
    path = write_secrets(folder, provider, "http://127.0.0.1:{port}/oauth2callback")
    env = {"SOFTMAX_DATA_DIR": str(SHARED_DATA), "SOFTMAX_RUNS_DIR": str(folder / "runs")}
    proc, url = start_streamlit(env, ["--secrets.files", str(path)])
    yield url
    stop_streamlit(proc)


@pytest.fixture
def context(chromium):
    ctx = chromium.new_context(viewport={"width": 1280, "height": 720})
    yield ctx
    ctx.close()


def sign_in_as(page, app_url: str, who: str) -> None:
    """Open the app, press Sign in, and at the provider's page press ``who`` (a user) or ``"Deny"``."""

    open_page(page, app_url)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/oauth2/authorize" in url, timeout=30_000)
    page.get_by_role("button", name=who, exact=True).click()
    page.wait_for_url(lambda url: url.rstrip("/") == app_url, timeout=30_000)
    page.wait_for_selector('[data-testid="stApp"]', timeout=30_000)
    wait_for_rerun(page)


def cookie_names(context) -> set[str]:
    return {c["name"] for c in context.cookies()}


def test_a_deep_link_asks_for_sign_in_first_even_as_a_fresh_servers_first_request(signed_app, context):
    """Until st.navigation has run once, Streamlit runs a pages/ file on its own (dashboard/deep_links.py)."""

    page = context.new_page()
    for path in ("home", "training?train_epochs=1", "calibration"):
        open_page(page, f"{signed_app}/{path}")
        page.get_by_role("button", name="Sign in").wait_for()
        main = page.get_by_test_id("stMain").inner_text()
        assert "sign in to open it" in main and "In a lecture?" not in main and "Train" not in main


def test_sign_in_shows_the_name_and_sign_out_returns_to_the_sign_in_page(signed_app, context):
    page = context.new_page()
    sign_in_as(page, signed_app, "ana")
    sidebar = page.get_by_test_id("stSidebar")
    assert "Signed in as Ana Lima" in sidebar.inner_text()
    assert "ana@uni.edu" not in page.content()  # the address is never shown
    page.get_by_text("Pages", exact=True).wait_for()  # the home page ran
    assert_no_error(page)
    assert "_streamlit_user" in cookie_names(context)
    screenshot(page, "sign_in_signed_in")
    # Sign out: Streamlit clears its cookie and sends the browser to the provider's end-session page.
    sidebar.get_by_role("button", name="Sign out").click()
    page.wait_for_url(lambda url: "/oauth2/end_session" in url, timeout=30_000)
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(lambda url: url.rstrip("/") == signed_app, timeout=30_000)
    wait_for_rerun(page)
    page.get_by_role("button", name="Sign in").wait_for()
    assert "_streamlit_user" not in cookie_names(context)
    assert (
        page.get_by_test_id("stSidebar").count() == 0
        or "Signed in" not in page.get_by_test_id("stSidebar").inner_text()
    )
    # A page's own address does not get around the gate either.
    open_page(page, f"{signed_app}/training")
    page.get_by_role("button", name="Sign in").wait_for()
    assert page.get_by_role("button", name="Train").count() == 0


def test_an_address_not_on_the_list_sees_one_sentence_and_a_sign_out(signed_app, context):
    page = context.new_page()
    sign_in_as(page, signed_app, "eve")
    alert = page.get_by_test_id("stAlert")
    assert alert.count() == 1 and NOT_ALLOWED_START in alert.inner_text()
    assert "Eve" not in page.get_by_test_id("stMain").inner_text().replace(NOT_ALLOWED_START, "")
    assert page.get_by_role("button", name="Sign out").count() == 1
    assert page.get_by_test_id("stSidebarNav").count() == 0  # no page list either
    screenshot(page, "sign_in_not_on_the_list")


def test_the_provider_refusing_leaves_the_user_signed_out(signed_app, context):
    page = context.new_page()
    sign_in_as(page, signed_app, "Deny")  # the provider answers the callback with error=access_denied
    page.get_by_role("button", name="Sign in").wait_for()
    assert "_streamlit_user" not in cookie_names(context)
    assert_no_error(page)


# ---------------------------------------------------------------- two replicas behind HAProxy


@pytest.fixture(scope="module")
def signed_replicas(provider, tmp_path_factory):
    """deploy/serve.sh 2 with one secrets.toml for both replicas (one cookie secret)."""
    if not Path(HAPROXY).exists():
        pytest.skip("HAProxy is not installed (apt-get install haproxy)")
    folder = tmp_path_factory.mktemp("sign-in-replicas")
    port = free_port_pair()
    path = write_secrets(folder, provider, f"http://127.0.0.1:{port}/oauth2callback")  # the balancer, not a replica
    with serve_replicas(2, folder, port=port, STREAMLIT_SECRETS_FILES=str(path)) as served:
        yield served


def test_sign_in_through_the_balancer_works_on_both_replicas(signed_replicas, context):
    page = context.new_page()
    seen: list[tuple[str, str]] = []  # (path, the replica cookie the browser sent with it)

    def note(request):
        for path in ("/auth/login", "/oauth2callback"):
            if path in request.url:
                cookie = request.header_value("cookie") or ""
                replica = [p.split("=", 1)[1] for p in cookie.split("; ") if p.startswith("STREAMLIT_REPLICA=")]
                seen.append((path, replica[0] if replica else ""))

    page.on("request", note)
    sign_in_as(page, signed_replicas.url, "ana")
    assert "Signed in as Ana Lima" in page.get_by_test_id("stSidebar").inner_text()
    # The callback went to the replica that started the sign-in (HAProxy's sticky cookie).
    [(_, started), (_, finished)] = seen
    assert started in signed_replicas.replicas and finished == started
    # The other replica reads the same sign-in cookie: both have the one cookie secret.
    other = next(name for name in signed_replicas.replicas if name != started)
    context.add_cookies([{"name": "STREAMLIT_REPLICA", "value": other, "url": signed_replicas.url}])
    open_page(page, signed_replicas.url)
    assert [c["value"] for c in context.cookies() if c["name"] == "STREAMLIT_REPLICA"] == [other]
    assert "Signed in as Ana Lima" in page.get_by_test_id("stSidebar").inner_text()
    assert_no_error(page)
