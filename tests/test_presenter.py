"""Presenter mode (?present=1): no share row, no captions, larger chart text, no Plotly toolbar."""

import json

import pytest

from dashboard.presenter import CHART_CONFIG, TEXT_SCALE, is_presenting
from softmax_core.figures.style import FONT_SIZE
from tests.apptest_helpers import chart_specs, page_test
from tests.conftest import ROOT

pytestmark = [pytest.mark.app, pytest.mark.usefixtures("clear_streamlit_caches")]  # each test starts with cold caches


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"present": "1"}, True),
        ({"present": "true"}, True),
        ({"present": " YES "}, True),
        ({"present": "0"}, False),
        ({"present": "<b>1</b>"}, False),
        ({}, False),
        (None, False),
    ],
)
def test_is_presenting_reads_only_the_present_flag(query, expected):
    assert is_presenting(query) is expected


def run(page, query=None):
    return page_test(ROOT / "pages" / page, query).run()


def share_buttons(at):
    return [b for b in at.button if "Reset" in b.label]


@pytest.mark.parametrize("page", ["loss_curves.py", "softmax_temperature.py", "cross_entropy_steps.py"])
def test_presenter_mode_hides_share_row_and_captions_and_enlarges_chart_text(page):
    normal = run(page)
    shown = run(page, {"present": "1", "loss_y_hat": "3"} if page == "loss_curves.py" else {"present": "1"})
    assert not normal.exception and not shown.exception
    assert share_buttons(normal) and not share_buttons(shown)
    assert len(shown.caption) < len(normal.caption)
    for before, after in zip(chart_specs(normal), chart_specs(shown)):
        assert after["layout"]["font"]["size"] == pytest.approx(round(FONT_SIZE * TEXT_SCALE, 1))
        assert before["layout"]["font"]["size"] == FONT_SIZE
    assert shown.query_params["present"] == "1"  # the page's URL state leaves the flag in the link


def test_every_chart_hides_the_plotly_toolbar():
    at = run("loss_curves.py")
    configs = [json.loads(c.proto.config) for c in at.get("plotly_chart")]
    assert configs and all(c.get("displayModeBar") is CHART_CONFIG["displayModeBar"] is False for c in configs)
