"""What a page's link holds, read in AppTest.

Bound widgets (``bind="query-params"``) have the browser write the URL, and AppTest has no browser,
so tests read the page's "Share this view" link: it holds the same values (defaults left out).
"""

from __future__ import annotations

from urllib.parse import parse_qs, parse_qsl


def share_link(at) -> str:
    """The text of the "Share this view" code block (in AppTest the base URL is empty)."""
    for block in at.code:
        text = block.value
        if block.proto.language == "plaintext" and (text.startswith("?") or "://" in text or not text):
            return block.value
    raise AssertionError("no Share this view link on the page")


def link(at) -> dict[str, str]:
    """The share link's query as a dict, like ``dict(at.query_params)`` once was."""
    text = share_link(at)
    return dict(parse_qsl(text.split("?", 1)[1], keep_blank_values=True)) if "?" in text else {}


def link_lists(at) -> dict[str, list[str]]:
    """The share link's query with every value of a repeated key (the compared runs)."""
    text = share_link(at)
    return parse_qs(text.split("?", 1)[1], keep_blank_values=True) if "?" in text else {}
