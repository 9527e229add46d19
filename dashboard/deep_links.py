"""Make a shared link work even when it is the first request after a server start.

Streamlit starts in its old folder-based multipage mode whenever a `pages/`
folder sits beside the main script, and leaves it only when `st.navigation`
first runs. A deep link (say `/loss_curves?loss_y_hat=3`) arriving first would
then run the page file on its own: no page config, raw file names in the
sidebar. Every page calls `run_through_navigation()` first: it switches the old
mode off and reruns, so `streamlit_app.py` builds the navigation and resolves
the same page from the URL (a page's hash is its URL path in both modes), query
parameters included. The switch is a private attribute of Streamlit's, set in
`dashboard/streamlit_internals.py` (`leave_pages_directory_mode`).

``SOFTMAX_NO_DEEP_LINK_GUARD=1`` turns the guard off: tests/test_browser_home.py
uses it to show what still goes wrong without it. When that test fails (a deep
link then gets the navigation on its own), Streamlit no longer needs this module.
"""

import os

import streamlit as st

from dashboard.sign_in import sign_in_on
from dashboard.streamlit_internals import leave_pages_directory_mode


def run_through_navigation() -> None:
    if os.environ.get("SOFTMAX_NO_DEEP_LINK_GUARD") == "1" and not sign_in_on():  # never around the sign-in gate
        return
    if leave_pages_directory_mode():
        st.rerun()
