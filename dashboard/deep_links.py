"""Make a shared link work even when it is the first request after a server start.

Streamlit starts in its old folder-based multipage mode whenever a `pages/`
folder sits beside the main script, and leaves it only when `st.navigation`
first runs. A deep link (say `/loss_curves?loss_y_hat=3`) arriving first would
then run the page file on its own: no page config, raw file names in the
sidebar. Every page calls `run_through_navigation()` first: it switches the old
mode off and reruns, so `streamlit_app.py` builds the navigation and resolves
the same page from the URL (a page's hash is its URL path in both modes), query
parameters included.
"""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def run_through_navigation() -> None:
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
