"""Entry point: `streamlit run streamlit_app.py`. Page config and navigation only."""

import copy

import streamlit as st

from dashboard.catalog import PAGES
from dashboard.gc_tuning import freeze_imports_once
from dashboard.presenter import presenting

# The pages' shared caches import torch, plotly and pandas: their long-lived objects go out of the
# garbage collector's full passes before the first page runs (see gc_tuning).
freeze_imports_once("dashboard.server_caches")

# The icon ships with the app, served as a static file (`server.enableStaticServing`): a material
# icon would be fetched from a web font host (none offline), and a file path is read, hashed and
# registered with the media manager on every run (2 % of the server's CPU in a class profile).
ICON = "/app/static/icon.png"
st.set_page_config(page_title="Softmax regression, live", page_icon=ICON, layout="wide")


@st.cache_resource
def page_prototypes() -> list[st.Page]:
    """Built once per server: `st.Page` resolves and checks its file on every call (8 % of the CPU)."""
    home = st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)
    return [home] + [st.Page(p.path, title=p.title, icon=p.icon) for p in PAGES]


# Each run gets its own copies: `navigation` marks the page it returns as callable and `run`
# clears the mark, so one object shared by two sessions' threads could refuse to run.
pages = [copy.copy(page) for page in page_prototypes()]
st.navigation(pages, position="hidden" if presenting() else "sidebar").run()  # ?present=1: no sidebar
