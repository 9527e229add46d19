"""URL state: what Streamlit's ``bind="query-params"`` does not do for us.

Widgets bind to the URL themselves (``key=param.key, bind="query-params"``, ``value=param.default``):
Streamlit seeds them from the link, writes changes back and leaves defaults out. What it cannot do,
and this module does:

- say why a link value was dropped: the binding drops a bad value silently, so :func:`check_link`
  reads the raw value before the widget is drawn and shows "Link parameter ... was ignored: ...";
- read the old short values of choices (``loss_view=compare``; the binding only knows the labels
  on screen, ``loss_view=Compare the three``), ``all=1`` and temperatures between slider stops;
- the editable tables, which have no binding: :func:`restore` seeds them, :func:`publish` writes them;
- "Share this view" (a link built from the session state, so it is right even before the browser's
  URL has caught up) and "Reset".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from dashboard import user_text


class ReadAs(ValueError):
    """The binding will read this link value as ``value`` (e.g. it truncates 1.5 to 1): say so."""

    def __init__(self, value: Any, reason: str) -> None:
        super().__init__(reason)
        self.value = value


@dataclass(frozen=True)
class Param:
    """One control in the link: its key (= URL name), default, and how its value reads and writes as text."""

    key: str
    default: Any
    parse: Callable[[str], Any]  # link text -> value, or ValueError saying why it is ignored
    dump: Callable[[Any], str] = str  # value -> link text, exactly as the bound widget writes it
    bound: bool = True  # False: no widget binding (editable tables): restore() / publish() do it
    labels: dict | None = None  # choices: option -> the label on screen (and in the link)

    @property
    def options(self) -> list:
        return list(self.labels or ())

    @property
    def index(self) -> int:
        """The default's position among the options, for ``st.radio`` / ``st.selectbox``'s ``index=``."""
        return self.options.index(self.default)

    def label(self, option) -> str:
        return self.labels[option]


def _number_text(value: float) -> str:
    return f"{value:.6g}"


def float_param(key: str, default: float, lo: float, hi: float) -> Param:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("it is not a number") from None
        if not (math.isfinite(value) and lo <= value <= hi):
            raise ValueError(f"must be between {lo:g} and {hi:g}")
        return value

    return Param(key, default, parse, _number_text)


def int_param(key: str, default: int, lo: int, hi: int) -> Param:
    def parse(text: str) -> int:
        try:
            number = float(text)
        except ValueError:
            raise ValueError("it is not a number") from None
        if not (math.isfinite(number) and lo <= number <= hi):
            raise ValueError(f"must be a whole number between {lo} and {hi}")
        if number != int(number):  # the binding truncates it: say so instead of hiding it
            raise ReadAs(int(number), "must be a whole number")
        return int(number)

    return Param(key, default, parse, lambda v: str(int(v)))


def choice_param(key: str, default, labels: dict) -> Param:
    """A radio / selectbox / tabs: the link holds the label on screen; the option's name is read too."""
    by_text = {str(option): option for option in labels} | {text: option for option, text in labels.items()}

    def parse(text: str):
        if text in by_text:
            return by_text[text]
        raise ValueError(f"must be one of {', '.join(labels.values())}")

    return Param(key, default, parse, labels.__getitem__, labels=dict(labels))


def bool_param(key: str, default: bool) -> Param:
    def parse(text: str) -> bool:
        lower = text.lower()
        if lower not in ("true", "false", "1", "0"):
            raise ValueError("must be true or false")
        return lower in ("true", "1")

    return Param(key, default, parse, lambda v: "true" if v else "false")


def text_param(key: str, default: str) -> Param:
    """Free text (the page explains what is wrong with it, in words)."""
    return Param(key, default, str)


def tab_param(key: str, tabs: list[str] | tuple[str, ...]) -> Param:
    """``st.tabs(..., key=, bind=)``: the open tab's label, the first by default."""
    return choice_param(key, tabs[0], {tab: tab for tab in tabs})


# ----------------------------------------------------------------------------- reading the link


def _ignored(param: Param, text: str, reason: str, read_as: str | None = None) -> str:
    """The sentence for a link value the page did not take as it stands (markdown; the value as a code span)."""
    what = f"was read as {user_text.code(read_as)}" if read_as is not None else "was ignored"
    return f"Link parameter {user_text.code(f'{param.key}={text}')} {what}: {user_text.literal(reason)}."


def check_link(params: list[Param]) -> None:
    """Before the widgets: explain link values the binding would drop silently, read the old forms.

    On the page's first run in a session; later reruns carry the browser's own URL, which the widgets
    wrote. A value read from an old form (``step=3``, ``sm_T=0.33``) is set through the session state:
    the page shows it, but Streamlit 1.67 drops that form from the address bar (the Share link then
    holds the label form).
    """
    marker = f"_link_checked:{params[0].key}"
    if marker in st.session_state:
        return
    st.session_state[marker] = True
    messages = []
    for param in params:
        if not param.bound or param.key not in st.query_params:
            continue
        text = st.query_params[param.key]  # a repeated key: the last one, as the binding reads it
        try:
            value = param.parse(text)
        except ReadAs as exc:
            messages.append(_ignored(param, text, str(exc), read_as=param.dump(exc.value)))
            continue
        except (TypeError, ValueError) as exc:
            messages.append(_ignored(param, text, str(exc)))
            continue
        if param.dump(value) != text:  # a form the binding does not read (alias, between slider stops)
            st.session_state[param.key] = value
    _show(messages)


def _show(messages: list[str]) -> None:
    for message in messages:
        st.warning(message, icon=":material/link:")


def restore(params: list[Param]) -> None:
    """Seed the unbound controls (the editable tables) from the link, once per session."""
    for param in params:
        if param.bound or param.key in st.session_state:
            continue
        value = param.default
        if param.key in st.query_params:
            text = st.query_params[param.key]
            try:
                value = param.parse(text)
            except (TypeError, ValueError) as exc:
                _show([_ignored(param, text, str(exc))])
        st.session_state[param.key] = value


def current_query(params: list[Param]) -> dict[str, str]:
    """Every non-default value as link text: what "Share this view" puts in the link."""
    query = {}
    for param in params:
        value = st.session_state.get(param.key, param.default)
        if value != param.default:
            query[param.key] = param.dump(value)
    return query


def publish(params: list[Param]) -> None:
    """Mirror the unbound controls into the URL (only what changed, to avoid needless writes)."""
    unbound = [param for param in params if not param.bound]
    wanted = current_query(unbound)
    for param in unbound:
        if param.key in st.query_params and param.key not in wanted:
            del st.query_params[param.key]
    for key, text in wanted.items():
        if st.query_params.get(key) != text:
            st.query_params[key] = text


def _reset(params: list[Param]) -> None:
    for param in params:
        st.session_state[param.key] = param.default
        if not param.bound and param.key in st.query_params:
            del st.query_params[param.key]


def share_and_reset(params: list[Param]) -> None:
    """A 'share this view' link (with a copy button) and a 'reset to defaults' control. Call it last.

    Reset in the browser is a link to the page with an empty query (a fresh load): setting the widgets
    to their defaults from Python resets them, but Streamlit 1.67 then clears a bound URL entry only
    if the server saw it in the URL, which it does not for values changed since the page loaded, so
    the address bar would keep (and a reload bring back) the old values. Outside the app's navigation
    (AppTest of one page) it is a button that sets the defaults.
    """
    share, reset = st.columns([4, 1], vertical_alignment="bottom")
    with share.popover(":material/link: Share this view", width="stretch"):
        base = (st.context.url or "").split("?")[0]
        query = urlencode(current_query(params))
        st.caption("Copy this link: it opens the page with every control as it is now.")
        st.code(f"{base}?{query}" if query else base, language=None, wrap_lines=True)
    if _in_navigation():  # a real browser: reload the page with an empty query (see the docstring)
        reset.markdown(
            '<a href="?" target="_self" title="Back to the default settings">Reset to defaults</a>',
            unsafe_allow_html=True,
        )
    else:
        reset.button(
            ":material/restart_alt: Reset",
            on_click=_reset,
            args=(params,),
            help="Back to the default settings",
            width="stretch",
        )


def _in_navigation() -> bool:
    """True when the page runs inside streamlit_app.py's navigation (a server), not alone in AppTest."""
    ctx = get_script_run_ctx()
    return ctx is not None and len(ctx.pages_manager.get_pages()) > 1
