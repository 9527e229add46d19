"""The app's one stylesheet (static/accessibility.css): fixes for Streamlit's own markup that no theme setting reaches."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import streamlit as st

STYLESHEET = Path(__file__).resolve().parents[1] / "static" / "accessibility.css"


@cache
def _style_tag() -> str:
    """Read once per server process: the file ships with the app and does not change while it runs."""
    return f"<style>{STYLESHEET.read_text(encoding='utf-8')}</style>"


def apply_page_style() -> None:
    """Add the stylesheet to this page view (a style-only ``st.html`` takes no space on the page).

    The file must not contain ``<`` followed by a letter, even in a comment: the browser's HTML sanitizer
    (DOMPurify) then drops the whole style element.
    """
    st.html(_style_tag())
