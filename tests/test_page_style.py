"""The app's stylesheet reaches the browser: nothing in it that the HTML sanitizer would drop it for."""

import re

import pytest

from dashboard.page_style import STYLESHEET, _style_tag

pytestmark = pytest.mark.unit


def test_the_stylesheet_has_no_markup_the_sanitizer_drops_it_for():
    # DOMPurify removes a style element whose text has "<" before a letter, "/" or "!" (even in a comment).
    text = STYLESHEET.read_text(encoding="utf-8")
    assert not re.search(r"<[A-Za-z/!]", text)
    assert _style_tag() == f"<style>{text}</style>"
