"""Widget state that lives in the URL, so a link restores exactly what is on screen.

Each page declares its controls as ``Param``s. Before the widgets are drawn,
``restore`` seeds ``st.session_state`` from ``st.query_params`` (bad values fall
back to the default with a warning); after them, ``publish`` writes the current
values back, leaving out the ones at their default so links stay short.
Widgets then take ``key=param.key`` and no ``value=``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlencode

import streamlit as st


@dataclass(frozen=True)
class Param:
    """One control: its session-state key, default, and how it reads/writes as text."""

    key: str
    default: Any
    parse: Callable[[str], Any]
    dump: Callable[[Any], str] = str


def float_param(key: str, default: float, lo: float, hi: float) -> Param:
    def parse(text: str) -> float:
        value = float(text)
        if not (math.isfinite(value) and lo <= value <= hi):
            raise ValueError(f"must be between {lo:g} and {hi:g}")
        return value

    return Param(key, default, parse, lambda v: f"{v:.6g}")


def int_param(key: str, default: int, lo: int, hi: int) -> Param:
    def parse(text: str) -> int:
        value = int(text)
        if not lo <= value <= hi:
            raise ValueError(f"must be between {lo} and {hi}")
        return value

    return Param(key, default, parse)


def choice_param(key: str, default: str, choices: list[str] | tuple[str, ...]) -> Param:
    def parse(text: str) -> str:
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return text

    return Param(key, default, parse)


def bool_param(key: str, default: bool) -> Param:
    def parse(text: str) -> bool:
        if text not in ("0", "1"):
            raise ValueError("must be 0 or 1")
        return text == "1"

    return Param(key, default, parse, lambda v: "1" if v else "0")


def restore(params: list[Param]) -> None:
    """Seed session state from the URL once per session; warn about values that do not parse."""
    for param in params:
        if param.key in st.session_state:
            continue
        value = param.default
        if param.key in st.query_params:
            text = st.query_params[param.key]
            try:
                value = param.parse(text)
            except (TypeError, ValueError) as exc:
                st.warning(f"Link parameter `{param.key}={text}` was ignored: {exc}.", icon=":material/link:")
        st.session_state[param.key] = value


def current_query(params: list[Param]) -> dict[str, str]:
    """The non-default values as URL text."""
    query = {}
    for param in params:
        value = st.session_state.get(param.key, param.default)
        if value != param.default:
            query[param.key] = param.dump(value)
    return query


def publish(params: list[Param]) -> None:
    """Mirror the current values into the URL (only what changed, to avoid needless writes)."""
    wanted = current_query(params)
    owned = {param.key for param in params}
    for key in list(st.query_params):
        if key in owned and key not in wanted:
            del st.query_params[key]
    for key, text in wanted.items():
        if st.query_params.get(key) != text:
            st.query_params[key] = text


def _reset(params: list[Param]) -> None:
    for param in params:
        st.session_state[param.key] = param.default
    for param in params:
        if param.key in st.query_params:
            del st.query_params[param.key]


def share_and_reset(params: list[Param]) -> None:
    """A 'share this view' link (with a copy button) and a 'reset to defaults' button."""
    share, reset = st.columns([4, 1], vertical_alignment="bottom")
    with share.popover(":material/link: Share this view", width="stretch"):
        base = (st.context.url or "").split("?")[0]
        query = urlencode(current_query(params))
        st.caption("Copy this link: it opens the page with every control as it is now.")
        st.code(f"{base}?{query}" if query else base, language=None, wrap_lines=True)
    reset.button(":material/restart_alt: Reset", on_click=_reset, args=(params,), help="Back to the default settings", width="stretch")
