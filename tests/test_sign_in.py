"""Sign-in settings and the gate (dashboard/sign_in.py): each bad setting gets a sentence naming it, the access
list decides who enters, and AppTests of the whole app with ``at.secrets`` / ``at.user`` (no browser, no
provider: tests/test_browser_sign_in.py signs in for real)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from dashboard.sign_in import (
    NOT_ALLOWED,
    Allowed,
    auth_problem,
    display_name,
    is_allowed,
    metadata_problem,
    parse_allowed,
)
from tests.conftest import ROOT
from tests.factories import SIGN_IN_SETTINGS

pytestmark = pytest.mark.app


def test_complete_settings_have_no_problem():
    assert auth_problem(SIGN_IN_SETTINGS) is None
    assert auth_problem(SIGN_IN_SETTINGS | {"redirect_uri": "http://localhost:{port}/oauth2callback"}) is None


@pytest.mark.parametrize("key", ["redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url"])
def test_a_missing_setting_is_named(key):
    missing = {k: v for k, v in SIGN_IN_SETTINGS.items() if k != key}
    empty = SIGN_IN_SETTINGS | {key: ""}
    for settings in (missing, empty):
        sentence = auth_problem(settings)
        assert sentence is not None and f"{key} in the [auth] section" in sentence and "missing" in sentence


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("redirect_uri", "softmax.example.edu/oauth2callback"),  # not absolute
        ("redirect_uri", "https://softmax.example.edu/"),  # not the callback path
        ("cookie_secret", "short"),
        ("cookie_secret", 12345678901234567890123456789012345),
        ("server_metadata_url", "login.example.edu/.well-known/openid-configuration"),
        ("server_metadata_url", "ftp://login.example.edu/x"),
    ],
)
def test_a_wrong_setting_is_named(key, value):
    sentence = auth_problem(SIGN_IN_SETTINGS | {key: value})
    assert sentence is not None and f"{key} in the [auth] section" in sentence


def test_an_auth_value_that_is_not_a_section_is_a_sentence():
    assert "must be a section" in auth_problem("oops")


def test_the_access_list_takes_addresses_and_domains():
    allowed = parse_allowed({"allowed": ["Ana@Uni.edu", "@cs.uni.edu", "school.org "]})
    assert allowed == Allowed(frozenset({"ana@uni.edu"}), frozenset({"cs.uni.edu", "school.org"}))
    assert parse_allowed({"allowed": "@uni.edu"}) == Allowed(frozenset(), frozenset({"uni.edu"}))


@pytest.mark.parametrize(
    ("access", "words"),
    [
        (None, "nobody may enter yet"),
        ({}, "nobody may enter yet"),
        ({"allowed": []}, "is empty"),
        ({"allowed": [3]}, "not a list of texts"),
        ({"allowed": {"a": 1}}, "not a list of texts"),
        ({"allowed": ["ana@"]}, "neither an address nor a domain"),
        ({"allowed": ["ana @uni.edu"]}, "neither an address nor a domain"),
        ({"allowed": [""]}, "neither an address nor a domain"),
    ],
)
def test_a_bad_access_list_is_named(access, words):
    sentence = parse_allowed(access)
    assert isinstance(sentence, str) and "allowed in the [access] section" in sentence and words in sentence


ALLOWED = Allowed(frozenset({"guest@other.org"}), frozenset({"uni.edu"}))


@pytest.mark.parametrize(
    ("user", "enters"),
    [
        ({"email": "ana@uni.edu"}, True),
        ({"email": "ANA@UNI.EDU ", "email_verified": True}, True),
        ({"email": "guest@other.org"}, True),
        ({"email": "someone@other.org"}, False),  # the address, not its domain
        ({"email": "ana@cs.uni.edu"}, False),  # no subdomains
        ({"email": "ana@uni.edu.evil.com"}, False),
        ({"email": "uni.edu@evil.com"}, False),
        ({"email": "ana@uni.edu", "email_verified": False}, False),  # an address the provider did not check
        ({"name": "Ana"}, False),  # no address at all
        ({"email": None}, False),
    ],
)
def test_who_enters(user, enters):
    assert is_allowed(user, ALLOWED) is enters


@given(st.emails())
def test_an_address_on_the_list_enters_in_any_case_and_others_of_its_domain_do_not(email):
    allowed = parse_allowed({"allowed": [email]})
    assert is_allowed({"email": email.upper()}, allowed)
    local, _, domain = email.rpartition("@")
    assert not is_allowed({"email": f"x{local}@{domain}"}, allowed)


def test_the_name_shown_is_never_an_address():
    assert display_name({"name": "Ana  Lima", "email": "ana@uni.edu"}) == "Ana Lima"
    assert display_name({"given_name": "Ana", "family_name": "Lima"}) == "Ana Lima"
    assert display_name({"name": "ana@uni.edu", "email": "ana@uni.edu"}) == ""
    assert display_name({"email": "ana@uni.edu", "preferred_username": "ana@uni.edu"}) == ""
    assert len(display_name({"name": "A" * 500})) == 80


def test_metadata_that_is_not_openid_connect_is_named():
    assert (
        metadata_problem('{"issuer": "x", "authorization_endpoint": "a", "token_endpoint": "t", "jwks_uri": "j"}')
        is None
    )
    assert "does not answer with JSON" in metadata_problem("<html>login</html>")
    assert "without token_endpoint, jwks_uri" in metadata_problem('{"issuer": "x", "authorization_endpoint": "a"}')


# ---------------------------------------------------------------- the whole app, with AppTest


def app(secrets: dict | None, user: dict | None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60)
    for name, section in (secrets or {}).items():
        at.secrets[name] = section
    if user is not None:
        at.user = user
    return at.run()


def errors(at: AppTest) -> list[str]:
    return [e.value.replace("\\", "") for e in at.error]


@pytest.fixture
def provider(monkeypatch):
    """A provider whose discovery document answers (the page fetches it before offering Sign in)."""
    from dashboard import sign_in

    monkeypatch.setattr(sign_in, "provider_problem", lambda url: None)


ON = {"auth": SIGN_IN_SETTINGS, "access": {"allowed": ["@uni.edu"]}}


def test_without_auth_settings_the_dashboard_is_open(env):
    at = app(None, None)
    assert not at.exception and not errors(at)
    assert "Softmax regression, live" in [t.value for t in at.title]
    assert "Sign in" not in [b.label for b in at.button] and "Sign out" not in [b.label for b in at.button]


def test_signed_out_sees_only_the_sign_in_button(env, provider):
    at = app(ON, {"is_logged_in": False})
    assert not at.exception and not errors(at)
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.get("latex")  # the home page did not run


def test_an_allowed_user_gets_the_page_their_name_and_a_sign_out(env):
    at = app(ON, {"is_logged_in": True, "email": "ana@uni.edu", "name": "Ana [Lima](http://x)"})
    assert not at.exception and not errors(at)
    assert at.get("latex")  # the home page ran
    from dashboard.user_text import literal

    assert [m.value for m in at.sidebar.markdown][0] == f"Signed in as **{literal('Ana [Lima](http://x)')}**"
    assert "Sign out" in [b.label for b in at.sidebar.button]
    assert "ana@uni.edu" not in str([m.value for m in at.markdown])


def test_a_user_not_on_the_list_gets_one_sentence_and_a_sign_out(env):
    at = app(ON, {"is_logged_in": True, "email": "eve@elsewhere.com", "name": "Eve"})
    assert not at.exception
    assert errors(at) == [NOT_ALLOWED]
    assert [b.label for b in at.button] == ["Sign out"]
    assert not at.get("latex")


@pytest.mark.parametrize("missing", ["cookie_secret", "redirect_uri", "client_id"])
def test_a_missing_setting_gives_a_sentence_not_a_traceback(env, missing):
    at = app(
        {"auth": {k: v for k, v in SIGN_IN_SETTINGS.items() if k != missing}, "access": ON["access"]},
        {"is_logged_in": False},
    )
    assert not at.exception
    [sentence] = errors(at)
    assert sentence.startswith("Sign-in is half configured") and missing in sentence
    assert not at.button and not at.get("latex")


def test_a_missing_access_list_keeps_everyone_out(env):
    at = app({"auth": SIGN_IN_SETTINGS}, {"is_logged_in": True, "email": "ana@uni.edu", "name": "Ana"})
    assert not at.exception
    [sentence] = errors(at)
    assert "allowed in the [access] section" in sentence and not at.get("latex")


def test_a_metadata_url_nobody_answers_is_named(env):
    from dashboard.sign_in import provider_problem

    provider_problem.clear()
    closed = SIGN_IN_SETTINGS | {"server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
    at = app({"auth": closed, "access": ON["access"]}, {"is_logged_in": False})
    assert not at.exception
    [sentence] = errors(at)
    assert "server_metadata_url in the [auth] section" in sentence and "could not be read" in sentence
    assert not at.button


def test_a_secrets_file_that_is_not_toml_keeps_the_dashboard_closed(env, tmp_path, monkeypatch):
    from streamlit import config

    broken = tmp_path / ".streamlit" / "secrets.toml"
    broken.parent.mkdir()
    broken.write_text('[auth]\nredirect_uri = "http://localhost:8501/oauth2callback\n')  # unclosed string
    monkeypatch.setattr(
        config,
        "get_option",
        lambda name, _get=config.get_option: [str(broken)] if name == "secrets.files" else _get(name),
    )
    at = app(None, None)
    assert not at.exception
    [sentence] = errors(at)
    assert sentence.startswith("The dashboard stays closed: .streamlit/secrets.toml cannot be read")
    assert not at.get("latex")
