"""Show text a student typed or a link carried as text: never as markdown, HTML, a link or an image.

``st.warning`` / ``st.error`` / ``st.info`` / ``st.markdown`` render markdown, so a value such as
``[Log in](https://evil.example)`` or ``![x](http://host/pixel.png)`` would become a link or an image
inside the app's own message. Every message that may hold user text goes through :func:`warning`,
:func:`error` or :func:`info` here, which show it literally, one line, cut to a readable length.
Messages from ``softmax_core`` quote user text with :func:`softmax_core.validation.quoted` (plain-text
messages, shown through :func:`literal`) or :func:`softmax_core.validation.code_span` (markdown messages).
"""

from __future__ import annotations

import re

import streamlit as st

from softmax_core.validation import code_span, shorten

# Backslash-escaping makes a character literal in CommonMark. These are the ones that can start
# markup: emphasis, code, links and images, HTML, math ($), Streamlit's :red[..] directives and
# :icon: shortcodes and tables. Commas, dots and quotes
# stay plain so the sentence reads (and tests search it) as written.
_MARKUP = re.compile(r"""([\\`*_\[\]<>!$~|#&{}()@^]|:(?=\S))""")  # ":" before a space stays plain
_LINE_START = re.compile(r"^(\s*)([-+=]|\d+(?=[.)]))")


def literal(text, limit: int | None = None) -> str:
    """Markdown that displays ``text`` exactly as written: one line, cut to ``limit`` characters if given."""
    plain = shorten(text, limit if limit else max(len(str(text)), 1))
    # GFM finds autolinks in the text after escapes are resolved, so escaping cannot stop them: an
    # invisible zero-width space breaks "://", "www." and "@" instead.
    plain = plain.replace("://", ":\u200b//").replace("www.", "www\u200b.").replace("@", "\u200b@")
    escaped = _MARKUP.sub(r"\\\1", plain)
    # A line that starts like a list item or heading underline: escape its marker.
    return _LINE_START.sub(
        lambda m: m.group(0) + "\\" if m.group(2)[0].isdigit() else m.group(1) + "\\" + m.group(2), escaped
    )


code = code_span  # a user's value inside an app sentence: an inline code span, cut to about 80 characters


def warning(message: str, icon: str | None = ":material/warning:") -> None:
    st.warning(literal(message), icon=icon)


def error(message: str, icon: str | None = ":material/error:") -> None:
    st.error(literal(message), icon=icon)


def info(message: str, icon: str | None = None) -> None:
    st.info(literal(message), icon=icon)
