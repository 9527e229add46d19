"""Hostile links, in AppTest: every query parameter of every page with values a link can carry.

No value may raise; a value the page cannot take gets a sentence on the page; no message grows with
the value (a 10,000-character value stays one short line).
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest_helpers import page_test
from tests.conftest import ROOT
from tests.factories import PAGES, STORE_PAGES, live_markup, store_with_a_run

pytestmark = pytest.mark.app

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


# ---------------------------------------------------------------- the pages that show a stored run

# Every query parameter they read: their bound controls, the run key, and (calibration) the training page's
# settings, which pick its default run. They open through the app (their page links need its navigation).
SAID = {  # owe a sentence when they cannot be taken (every parameter but the run, which is named in plain text)
    "inside_model": ["in_epoch", "in_rescale", "in_image"],
    "calibration": ["cal_T", "cal_image", "cal_compare", *PAGES["training"][:-1]],
}


def _store_accepts(key, text):
    if key == "in_rescale":
        return text.lower() in ("true", "false", "1", "0")
    if key.startswith("train_"):
        return _training_accepts(key, text)
    if key == "cal_T":
        return text in ("0.1", "1", "10")  # a few of its stops (no hostile value is one)
    if key == "cal_compare":
        return text == ""  # "compare none"; no hostile value is a stored run's key
    limits = {"in_epoch": (0, 2), "in_image": (0, 9_999), "cal_image": (0, 9_999)}  # the stored run has 2 epochs
    try:
        value = float(text)
    except ValueError:
        return False
    return value == int(value) and _float_in(*limits[key])(text) if value == value and abs(value) < 1e300 else False


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory, fmnist):
    runs_dir = tmp_path_factory.mktemp("sweep-runs")
    return runs_dir, store_with_a_run(runs_dir, fmnist)


@pytest.fixture
def stored(monkeypatch, store_dir, shared_data_dir):
    """The stored run's key. Caches are kept between these cases (the calibration fit is the slow part):
    the cached values depend on the run and the data only, never on a link value."""
    monkeypatch.setenv("SOFTMAX_DATA_DIR", str(shared_data_dir))
    monkeypatch.setenv("SOFTMAX_RUNS_DIR", str(store_dir[0]))
    return store_dir[1]


def run_in_app(page: str, query: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page(f"pages/{page}.py")
    return at.run()


def check_sentences(at: AppTest, page: str, value: str, keys: list[str]) -> None:
    assert not at.exception, at.exception
    messages = sentences(at)
    assert all(len(m) < MAX_MESSAGE for m in messages), max(messages, key=len)[:200]
    assert not [m for m in messages if live_markup(m)], [m for m in messages if live_markup(m)]
    for key in SAID[page]:
        if key in keys and not _store_accepts(key, value):
            assert any(f"{key}=" in m for m in messages), (key, messages)


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("page", list(STORE_PAGES))
def test_stored_run_pages_with_a_hostile_value_in_every_parameter(stored, page, name):
    """Every parameter carries the value. An unknown run key is named in plain text, cut short, never in
    markdown; the calibration page then shows another run, so its other parameters are read too."""
    value = HOSTILE[name]
    at = run_in_app(page, {key: value for key in STORE_PAGES[page]})
    check_sentences(at, page, value, STORE_PAGES[page])
    shown = [t.value for t in at.text]
    assert value[:100] in shown or value[:200] in shown, shown
    page_own = markdown_without_a_link(page)  # "-0" stands in "3e-05" of the page's own text
    assert not value or not [m.value for m in at.markdown if value[:20] in m.value and m.value not in page_own]
    assert page == "inside_model" or at.get("plotly_chart")  # calibration went on with another run


_OWN_MARKDOWN: dict[str, frozenset[str]] = {}


def markdown_without_a_link(page: str) -> frozenset[str]:
    """The markdown a page shows with no link value (the store is the module's): its own text, not a link's."""
    if page not in _OWN_MARKDOWN:
        _OWN_MARKDOWN[page] = frozenset(m.value for m in run_in_app(page, {}).markdown)
    return _OWN_MARKDOWN[page]


@pytest.mark.parametrize("name", list(HOSTILE))
def test_inside_model_with_its_run_and_a_hostile_value_in_every_other_parameter(stored, name):
    """With an unknown run the inside page stops before its controls: here the run is real."""
    value = HOSTILE[name]
    keys = [key for key in STORE_PAGES["inside_model"] if key != "run"]
    at = run_in_app("inside_model", {key: value for key in keys} | {"run": stored})
    check_sentences(at, "inside_model", value, keys)
    assert at.get("plotly_chart")  # the page went on to draw its charts


# ---------------------------------------------------------------- just past each widget's bounds, as the page draws it

# The bound widgets whose values have bounds: number inputs and sliders (min, max, step) and select sliders
# (their first and last stop). Read from the page as it draws them (with the stored two-epoch run on the pages
# that show one, so the epoch slider ends at 2), never from a table here: a link check that allows more than
# its widget takes is what this sweep finds.
NUMBER_WIDGETS = ("number_input", "slider")
BOUNDED_KEYS = PAGES | STORE_PAGES  # cross_entropy_steps has none: its tables and step choice are swept above


def _text(value: float, whole: bool) -> str:
    return str(int(value)) if whole else repr(float(value))


def past_the_bounds(at: AppTest, keys: list[str]) -> dict[str, list[str]]:
    """For each bounded widget of ``keys``: link values just below and just above what it takes, as drawn."""
    cases: dict[str, list[str]] = {}
    for kind in NUMBER_WIDGETS:
        for widget in at.get(kind):
            if widget.key not in keys:
                continue
            lo, hi, step = widget.min, widget.max, widget.step
            whole = all(float(v).is_integer() for v in (lo, hi, step))
            values = [lo - step, hi + step]  # one step past, as a student editing the address would
            if not whole:  # and a hair past: a check against rounder bounds lets it through
                values += [lo - abs(lo) * 1e-9 - 1e-9, hi + abs(hi) * 1e-9 + 1e-9]
            else:
                values += [hi + 0.5]  # between the last whole number and the next
            cases[widget.key] = [_text(v, whole and float(v).is_integer()) for v in values]
    for widget in at.get("select_slider"):
        if widget.key in keys:
            first, last = float(widget.options[0]), float(widget.options[-1])
            cases[widget.key] = [repr(first * 0.9), repr(last * 1.1)]
    return cases


def open_with(page: str, query: dict, run_key: str | None) -> AppTest:
    if page in STORE_PAGES:
        return run_in_app(page, query | {"run": run_key})
    return run(page, query)


def _sweep_bounds(page: str, run_key: str | None) -> None:
    drawn = open_with(page, {}, run_key)
    assert not drawn.exception, drawn.exception
    cases = past_the_bounds(drawn, BOUNDED_KEYS[page])
    assert cases, f"no bounded widget found on {page}"
    failures = []
    for key, texts in cases.items():
        for text in texts:
            at = open_with(page, {key: text}, run_key)
            messages = sentences(at)
            if at.exception:
                failures.append((key, text, "exception", at.exception[0].value[:200]))
            elif not any(f"{key}={text}" in m for m in messages):
                failures.append((key, text, "no sentence", messages))
    assert not failures, failures


@pytest.mark.parametrize("page", ["softmax_temperature", "loss_curves"])
def test_values_just_past_each_widgets_bounds_are_named(page):
    _sweep_bounds(page, None)


def test_training_values_just_past_each_widgets_bounds_are_named(env):
    _sweep_bounds("training", None)


@pytest.mark.parametrize("page", list(STORE_PAGES))
def test_stored_run_values_just_past_each_widgets_bounds_are_named(stored, page):
    """The epoch slider ends at the run's last epoch (2 here), not at the most epochs a run may have."""
    if page == "inside_model":
        drawn = run_in_app(page, {"run": stored})
        assert drawn.slider(key="in_epoch").max == 2  # the small run: 3 is past the slider's end
    _sweep_bounds(page, stored)
