"""Entry point: `streamlit run streamlit_app.py`. Page config and navigation only."""

from pathlib import Path

import streamlit as st

from dashboard.catalog import PAGES
from dashboard.presenter import presenting

# The icon ships with the app (a material icon would be fetched from a web font host: none offline).
ICON = str(Path(__file__).parent / "assets" / "icon.png")
st.set_page_config(page_title="Softmax regression, live", page_icon=ICON, layout="wide")

home = st.Page("pages/home.py", title="Home", icon=":material/home:", default=True)
pages = [home] + [st.Page(p.path, title=p.title, icon=p.icon) for p in PAGES]
st.navigation(pages, position="hidden" if presenting() else "sidebar").run()  # ?present=1: no sidebar
