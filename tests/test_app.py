"""The app skeleton: it runs, and its chart palette fills every slot of plotly's theme."""

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

pytestmark = pytest.mark.app


def test_app_runs_without_exception(clear_streamlit_caches):
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Softmax regression, live"
    assert any("\\mathrm{softmax}" in latex.value for latex in at.latex)


def test_chart_palette_fills_all_ten_plotly_theme_slots():
    """Streamlit's plotly theme has ten category colours; fewer leaves 'undefined' and plotly drops the palette."""
    import re

    import tomllib
    from streamlit.elements.lib import streamlit_plotly_theme as theme

    slots = [name for name in dir(theme) if re.fullmatch(r"CATEGORY_\d", name)]
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    for mode in ("light", "dark"):
        colours = config["theme"][mode]["chartCategoricalColors"]
        assert len(colours) == len(slots) == 10
        assert all(re.fullmatch(r"#[0-9A-F]{6}", c) for c in colours)
        assert len(set(colours)) == 10
