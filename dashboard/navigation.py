"""The app's ``st.Page`` list, built once per server process.

``st.Page`` resolves and checks its file on every call (8 % of the CPU in a class
profile), and a ``st.cache_resource`` decorator in ``streamlit_app.py`` itself runs
again on every script run, reading its function's source (2.5 %): so the cached
builder lives in this imported module.
"""

from __future__ import annotations

import copy

import streamlit as st

from dashboard.catalog import PAGES


@st.cache_resource
def _page_prototypes() -> list[st.Page]:
    home = st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)
    return [home] + [st.Page(p.path, title=p.title, icon=p.icon) for p in PAGES]


def pages_for_this_run() -> list[st.Page]:
    """Copies for one script run: ``navigation`` marks the page it returns as callable and ``run``
    clears the mark, so one object shared by two sessions' threads could refuse to run."""
    return [copy.copy(page) for page in _page_prototypes()]
