"""Entry point: `streamlit run streamlit_app.py`. Page config and navigation only."""

import streamlit as st

from dashboard.caches import PAGE_CACHES
from dashboard.gc_tuning import freeze_imports_once
from dashboard.lecture import run_page
from dashboard.navigation import pages_for_this_run
from dashboard.page_style import apply_page_style
from dashboard.presenter import presenting
from dashboard.sign_in import gate
from dashboard.streamlit_internals import keep_the_end_of_each_run

# The pages' shared caches import torch, plotly and pandas: their long-lived objects go out of the
# garbage collector's full passes before the first page runs (see gc_tuning).
freeze_imports_once(*PAGE_CACHES)

# A rerun asked for just as a run ends waits for that run's last messages, which Streamlit would drop
# (a lecture follower's timer meeting the server's push; see streamlit_internals).
keep_the_end_of_each_run()

# The icon ships with the app, served as a static file (`server.enableStaticServing`): a material
# icon would be fetched from a web font host (none offline), and a file path is read, hashed and
# registered with the media manager on every run (2 % of the server's CPU in a class profile).
ICON = "/app/static/icon.png"
st.set_page_config(page_title="Softmax regression, live", page_icon=ICON, layout="wide")
apply_page_style()  # static/accessibility.css: contrast, keyboard and focus fixes (docs/accessibility.md)

gate()  # with [auth] in secrets.toml: signed in and on the access list, or no page runs (dashboard/sign_in.py)

pages = pages_for_this_run()
run_page(st.navigation(pages, position="hidden" if presenting() else "sidebar"))  # ?present=1: no sidebar; lecture mode
