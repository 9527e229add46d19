"""Sign-in for a hosted copy: Streamlit's own ``st.login`` / ``st.user`` / ``st.logout`` (OpenID Connect).

Off unless ``.streamlit/secrets.toml`` (or a file named by Streamlit's ``secrets.files`` option) has an
``[auth]`` section: then :func:`gate`, called by ``streamlit_app.py`` before ``st.navigation``, lets a page
run only for a signed-in user whose e-mail address (or its domain) is in ``[access] allowed``. The list
lives beside ``[auth]`` in the same secrets file: one file to copy to every replica, kept out of git with
the client secret (the addresses are personal data too).

Anything wrong with the settings gives one sentence naming the setting, never a traceback; a secrets file
that exists but cannot be parsed keeps the dashboard closed (it must not fall back to open). The only thing
about a user the app shows or stores is the name they sign in with (:func:`signed_in_name`), never the
e-mail address.
"""

from __future__ import annotations

import functools
import json
import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from urllib.parse import urlparse

import streamlit as st
import tomllib
from streamlit import config

from dashboard import user_text
from dashboard.presenter import presenting

AUTH = "auth"
ACCESS = "access"
ALLOWED = "allowed"
MIN_COOKIE_SECRET = 32  # characters; `python -c "import secrets; print(secrets.token_hex(32))"` gives 64
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
METADATA_KEYS = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
METADATA_TIMEOUT_SECONDS = 5.0
CALLBACK_PATH = "/oauth2callback"

NOT_ALLOWED = (
    "This copy of the dashboard is open to the people on its access list, and the account you signed in "
    "with is not on it: sign out and sign in with another account, or ask whoever runs it to add you."
)


@dataclass(frozen=True)
class Allowed:
    """Who may enter: whole addresses and whole domains, lower case."""

    addresses: frozenset[str]
    domains: frozenset[str]


# ---------------------------------------------------------------- the settings (pure)


def _where(key: str, section: str = AUTH) -> str:
    return f"{key} in the [{section}] section of .streamlit/secrets.toml"


def _is_web_url(value) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def auth_problem(auth) -> str | None:
    """The sentence naming the first [auth] setting that is missing or wrong, None if they look right.

    Checks what Streamlit would otherwise report with a traceback (or, for the URLs, with a bare
    "Authentication error" page after the user pressed Sign in).
    """
    if not isinstance(auth, Mapping):
        return "Sign-in is half configured: [auth] in .streamlit/secrets.toml must be a section of settings."
    redirect = auth.get("redirect_uri")
    if not redirect:
        return f"Sign-in is half configured: {_where('redirect_uri')} is missing."
    if not _is_web_url(str(redirect).replace("{port}", "8501")) or not str(redirect).endswith(CALLBACK_PATH):
        return (
            f"Sign-in is half configured: {_where('redirect_uri')} must be this app's full address followed by "
            f"{CALLBACK_PATH}, e.g. https://softmax.example.edu{CALLBACK_PATH}."
        )
    secret = auth.get("cookie_secret")
    if not secret:
        return f"Sign-in is half configured: {_where('cookie_secret')} is missing."
    if not isinstance(secret, str) or len(secret) < MIN_COOKIE_SECRET:
        return (
            f"Sign-in is half configured: {_where('cookie_secret')} must be a random string of at least "
            f"{MIN_COOKIE_SECRET} characters (the same on every replica)."
        )
    for key in PROVIDER_KEYS:
        if not auth.get(key):
            return f"Sign-in is half configured: {_where(key)} is missing."
    if not _is_web_url(auth.get("server_metadata_url")):
        return (
            f"Sign-in is half configured: {_where('server_metadata_url')} must be the provider's full "
            "https:// address of its .well-known/openid-configuration."
        )
    return None


def parse_allowed(access) -> Allowed | str:
    """``[access] allowed``: addresses ("ana@uni.edu") and domains ("@uni.edu" or "uni.edu"); else a sentence."""
    entries = access.get(ALLOWED) if isinstance(access, Mapping) else None
    if entries is None:
        return (
            f"Sign-in is on but nobody may enter yet: set {_where(ALLOWED, ACCESS)} to a list of e-mail "
            'addresses and domains, e.g. allowed = ["ana@uni.edu", "@cs.uni.edu"].'
        )
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, (list, tuple)) or not all(isinstance(e, str) for e in entries):
        return f"Sign-in is on but {_where(ALLOWED, ACCESS)} is not a list of texts."
    addresses, domains = set(), set()
    for entry in (e.strip().lower() for e in entries):
        local, at, domain = entry.rpartition("@")
        if not entry or (at and not domain) or " " in entry:
            return (
                f"Sign-in is on but {_where(ALLOWED, ACCESS)} holds an entry that is neither an address nor a domain."
            )
        if local:
            addresses.add(entry)
        else:
            domains.add(domain)
    if not addresses and not domains:
        return f"Sign-in is on but {_where(ALLOWED, ACCESS)} is empty: nobody may enter."
    return Allowed(frozenset(addresses), frozenset(domains))


def is_allowed(user: Mapping, allowed: Allowed) -> bool:
    """A verified e-mail address on the list, or in one of its domains (exactly: no subdomains)."""
    email = user.get("email")
    if not isinstance(email, str) or "@" not in email or user.get("email_verified") is False:
        return False
    email = email.strip().lower()
    return email in allowed.addresses or email.rpartition("@")[2] in allowed.domains


def display_name(user: Mapping) -> str:
    """The name the user signs in with (``name``, else given and family name); never an e-mail address."""
    name = user.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [user.get("given_name"), user.get("family_name")]
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    name = " ".join(str(name).split())[:80]
    return "" if "@" in name else name


def metadata_problem(text: str) -> str | None:
    """The sentence if ``text`` (the provider's discovery document) is not usable OpenID Connect metadata."""
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return f"Sign-in cannot start: {_where('server_metadata_url')} does not answer with JSON metadata."
    missing = [key for key in METADATA_KEYS if not document.get(key)]
    if missing:
        return (
            f"Sign-in cannot start: {_where('server_metadata_url')} answers without "
            f"{', '.join(missing)}: it is not an OpenID Connect discovery document."
        )
    return None


# ---------------------------------------------------------------- reading them in a server


def _secrets_files() -> tuple[tuple[str, int, int], ...]:
    """The secrets files that exist, with their modification time and size (a cheap key for a cache)."""
    found = []
    for path in config.get_option("secrets.files"):
        try:
            stat = os.stat(path)
        except OSError:
            continue
        found.append((path, stat.st_mtime_ns, stat.st_size))
    return tuple(found)


def unreadable_secrets_file() -> str | None:
    """The sentence if a secrets file exists but is not valid TOML (Streamlit would then ignore it)."""
    return _unreadable(_secrets_files())


@functools.lru_cache(maxsize=8)
def _unreadable(files: tuple[tuple[str, int, int], ...]) -> str | None:
    """Parsed once per version of the files, not on every page run."""
    for path, _, _ in files:
        if path.endswith(".toml") and os.path.isfile(path):
            try:
                with open(path, "rb") as file:
                    tomllib.load(file)
            except (OSError, tomllib.TOMLDecodeError) as exc:
                name = os.path.basename(os.path.dirname(path)) + "/" + os.path.basename(path)
                return f"The dashboard stays closed: {name} cannot be read ({exc})."
    return None


def _secrets_section(name: str):
    """A section of st.secrets, or None (no secrets file at all is the open dashboard)."""
    if not st.secrets.load_if_toml_exists():
        return None
    return st.secrets.get(name)


def sign_in_on() -> bool:
    return _secrets_section(AUTH) is not None or unreadable_secrets_file() is not None


@st.cache_data(ttl=60, show_spinner=False, max_entries=4)
def provider_problem(url: str) -> str | None:
    """Fetch the provider's discovery document (kept a minute): a sentence if it cannot be used."""
    try:
        with urllib.request.urlopen(url, timeout=METADATA_TIMEOUT_SECONDS) as response:
            text = response.read(1_000_000).decode("utf-8", errors="replace")
    except Exception as exc:  # any failure to fetch is the same sentence: the setting and the reason
        reason = getattr(exc, "reason", None) or exc
        return f"Sign-in cannot start: {_where('server_metadata_url')} could not be read ({reason})."
    return metadata_problem(text)


AUTHLIB_AT_LEAST = (1, 3, 2)  # what st.login needs


def _authlib_version() -> tuple[int, ...] | None:
    """Authlib's installed version, None when it is not installed (st.login needs it; the app does not)."""
    try:
        return tuple(int(part) for part in metadata.version("Authlib").split(".")[:3] if part.isdigit())
    except metadata.PackageNotFoundError:
        return None


def _authlib_problem() -> str | None:
    version = _authlib_version()
    if version is not None and version >= AUTHLIB_AT_LEAST:
        return None
    return "Sign-in needs the Authlib package (version 1.3.2 or later): pip install 'Authlib>=1.3.2'."


def settings_problem() -> str | None:
    """The first thing that stops sign-in from working, as a sentence; None when it can work."""
    unreadable = unreadable_secrets_file()
    if unreadable:
        return unreadable
    problem = auth_problem(_secrets_section(AUTH)) or _authlib_problem()
    if problem:
        return problem
    allowed = parse_allowed(_secrets_section(ACCESS))
    return allowed if isinstance(allowed, str) else None


def _user() -> Mapping:
    return st.user.to_dict()


def may_act() -> bool:
    """Sign-in off, or signed in with an address on the list: may start a lecture or fit the ceiling."""
    if not sign_in_on():
        return True
    if settings_problem() is not None:
        return False
    user = _user()
    allowed = parse_allowed(_secrets_section(ACCESS))
    return bool(user.get("is_logged_in")) and isinstance(allowed, Allowed) and is_allowed(user, allowed)


def signed_in_name() -> str:
    """The signed-in user's name ("" with sign-in off, or a provider that gives no name)."""
    if not sign_in_on():
        return ""
    user = _user()
    return display_name(user) if user.get("is_logged_in") else ""


# ---------------------------------------------------------------- what the user sees


def _stop_with(sentence: str, sign_out: bool = False) -> None:
    st.title("Softmax regression, live", anchor=False)
    user_text.error(sentence, icon=":material/lock:")
    if sign_out:
        st.button("Sign out", icon=":material/logout:", key="sign_in_out", on_click=st.logout)
    st.stop()


def _sign_in_page() -> None:
    st.title("Softmax regression, live", anchor=False)
    st.markdown("This copy of the dashboard is for its team and class: sign in to open it.")
    st.button("Sign in", icon=":material/login:", key="sign_in", type="primary", on_click=st.login)
    st.stop()


def sidebar(name: str) -> None:
    """Who is signed in, and a way out (not in presenter mode: the projector shows no sidebar)."""
    if presenting():
        return
    with st.sidebar:
        shown = f"Signed in as **{user_text.literal(name)}**" if name else "Signed in"
        st.markdown(shown)
        st.button("Sign out", icon=":material/logout:", key="sign_in_sidebar_out", on_click=st.logout)


def gate() -> None:
    """``streamlit_app.py``'s one call: returns when the page may run, else shows why and stops the run."""
    if not sign_in_on():
        return
    problem = settings_problem()
    if problem:
        _stop_with(problem)
    user = _user()
    if not user.get("is_logged_in"):
        problem = provider_problem(_secrets_section(AUTH)["server_metadata_url"])
        if problem:
            _stop_with(problem)
        _sign_in_page()
    allowed = parse_allowed(_secrets_section(ACCESS))
    if not is_allowed(user, allowed):
        _stop_with(NOT_ALLOWED, sign_out=True)
    sidebar(display_name(user))
