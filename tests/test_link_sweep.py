"""Hostile links, in AppTest: every query parameter of every page with values a link can carry.

No value may raise; a value the page cannot take gets a sentence on the page; no message grows with
the value (a 10,000-character value stays one short line).
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest_helpers import page_test
from tests.conftest import ROOT

PAGES = {
    "softmax_temperature": ["sm_preset", "sm_labels", "sm_logits", "sm_T", "sm_dtype"],
    "loss_curves": ["loss_y", "loss_y_hat", "loss_delta", "loss_range", "loss_lr", "loss_view", "loss_axis"],
    "cross_entropy_steps": ["yhat", "y", "step", "all"],
    "training": [
        "train_impl",
        "train_lr",
        "train_batch_size",
        "train_epochs",
        "train_seed",
        "train_init_std",
        "train_tab",
    ],
}
HOSTILE = {
    "empty": "",
    "huge": "1e308",
    "overflow": "1e400",
    "nan": "NaN",
    "inf": "inf",
    "minus zero": "-0",
    "negative": "-1",
    "non-ascii": "ÿ€漢字",
    "10k characters": "7" * 10_000,
    "markdown link": "x[Log in again to keep your grade](https://evil.example/login)",
    "markdown image": "1,![t](http://127.0.0.2/x.png)",
    "html": "<img src=x onerror=alert(1)><a href=https://evil.example>x</a>",
    "backtick": "0.5`, [a](https://evil.example) `",
}
MAX_MESSAGE = 600  # characters of one message's markdown: the value inside is cut to about 80


def run(page: str, query: dict) -> AppTest:
    return page_test(ROOT / "pages" / f"{page}.py", query, timeout=120).run()


def sentences(at: AppTest) -> list[str]:
    return [m.value for m in [*at.error, *at.warning, *at.info]]


def live_markup(markdown: str) -> list[str]:
    """Link, image, HTML or autolink syntax that would render: outside code spans and not backslash-escaped."""
    import re

    outside = re.sub(r"(`+)(.+?)\1", "", markdown)  # a code span shows its content literally
    return re.findall(r"(?<!\\)\]\(|(?<!\\)<[A-Za-z/!]|https?://|(?<!\\)www\.", outside)


def test_live_markup_finds_what_would_render():
    from dashboard.user_text import literal
    from softmax_core.validation import code_span

    hostile = HOSTILE["markdown link"]
    assert live_markup(f"Link parameter loss_y: could not convert {hostile!r}")  # the old warning's reason
    assert not live_markup(f"Link parameter {code_span(hostile)}: {literal(hostile)}")
    # the old sentence put the value in one pair of backticks: a backtick in the value ends the span early
    assert not live_markup(code_span(HOSTILE["backtick"])) and live_markup(f"`y={HOSTILE['backtick']}` was ignored")


def accepts(page: str, key: str, text: str) -> bool:
    """Whether the page takes this link value as it stands (then no sentence is owed)."""
    return _PARAM_CHECKS[page](key, text)


def _softmax_accepts(key, text):
    from softmax_core.logit_presets import parse_logits

    if key == "sm_logits":
        try:
            parse_logits(text)
            return True
        except ValueError:
            return False
    return False  # none of the hostile values is a preset, a label set, a slider stop or a tab


def _float_in(lo, hi):
    def check(text):
        try:
            value = float(text)
        except ValueError:
            return False
        return lo <= value <= hi

    return check


def _losses_accepts(key, text):
    ranges = {
        "loss_y": (-5, 5),
        "loss_y_hat": (-5, 5),
        "loss_delta": (0.1, 5),
        "loss_range": (1, 10),
        "loss_lr": (0.05, 2.5),
    }
    return key in ranges and _float_in(*ranges[key])(text)


def _training_accepts(key, text):
    ranges = {
        "train_lr": (0, 100),
        "train_batch_size": (1, 60_000),
        "train_epochs": (1, 50),
        "train_seed": (0, 2**31 - 1),
        "train_init_std": (0, 10),
    }
    return key in ranges and _float_in(*ranges[key])(text)


_PARAM_CHECKS = {"softmax_temperature": _softmax_accepts, "loss_curves": _losses_accepts, "training": _training_accepts}


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("page", ["softmax_temperature", "loss_curves", "cross_entropy_steps"])
def test_every_parameter_with_a_hostile_value(page, name):
    """All of a page's parameters carry the value at once; each one the page cannot take gets a sentence."""
    value = HOSTILE[name]
    at = run(page, {key: value for key in PAGES[page]})
    assert not at.exception, at.exception
    messages = sentences(at)
    assert all(len(m) < MAX_MESSAGE for m in messages), max(messages, key=len)[:200]
    assert not [m for m in messages if live_markup(m)], [m for m in messages if live_markup(m)]
    if page == "cross_entropy_steps":
        assert messages  # no hostile table is a valid table: a problem is always explained
        return
    for key in PAGES[page]:
        if not accepts(page, key, value) and key != "sm_logits":
            assert any(f"{key}=" in m for m in messages), (key, messages)
    if page == "softmax_temperature" and not accepts(page, "sm_logits", value):
        assert at.error, messages  # parse_logits says what is wrong with the logits


@pytest.mark.parametrize("name", list(HOSTILE))
def test_training_page_with_a_hostile_value_in_every_parameter(env, name):
    value = HOSTILE[name]
    at = run("training", {key: value for key in PAGES["training"]})
    assert not at.exception, at.exception
    messages = sentences(at)
    assert all(len(m) < MAX_MESSAGE for m in messages)
    assert not [m for m in messages if live_markup(m)], [m for m in messages if live_markup(m)]
    for key in PAGES["training"]:
        if not _training_accepts(key, value):
            assert any(f"{key}=" in m for m in messages), (key, messages)


@pytest.mark.parametrize("page", ["softmax_temperature", "loss_curves", "cross_entropy_steps"])
def test_a_repeated_key_reads_the_last_value(page):
    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=60)
    for key in PAGES[page]:
        at.query_params[key] = ["junk", "<b>x</b>"]
    at.run()
    assert not at.exception
    assert any("<b>x</b>" in m for m in sentences(at))  # the last value is the one read (and quoted as code)
