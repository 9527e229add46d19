"""Links between pages that also work when a page runs on its own (AppTest runs a page file without navigation)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError


def page_link(path: str, label: str, icon: str, query: dict[str, str], container=None) -> None:
    """``st.page_link`` to ``path`` with ``query``; a plain link to the same URL if navigation does not know it."""
    where = container or st
    try:
        where.page_link(path, label=label, icon=icon, query_params=query)
    except StreamlitPageNotFoundError:
        where.markdown(f"[{label}](/{Path(path).stem}?{urlencode(query)})")
