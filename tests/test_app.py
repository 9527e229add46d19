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


def test_a_value_set_for_a_bound_control_logs_no_duplication_warning(monkeypatch):
    """A bound control's value set through session state logs no warning: "Reset to defaults" (here, in AppTest,
    a button), a corrected link and Streamlit's own history navigation (a lecture's catch-up) all do so on purpose,
    and config.toml's [global] keeps that out of the server's log."""
    import logging

    from streamlit.elements.lib import policies

    monkeypatch.setattr(policies, "_shown_default_value_warning", False)  # Streamlit logs it once per process
    logged = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = logged.append
    logging.getLogger(policies.__name__).addHandler(handler)
    try:
        at = AppTest.from_file(str(ROOT / "pages" / "loss_curves.py"), default_timeout=60).run()
        at.slider(key="loss_y").set_value(1.5).run()
        next(b for b in at.button if "Reset" in b.label).click().run()
    finally:
        logging.getLogger(policies.__name__).removeHandler(handler)
    assert not at.exception and at.slider(key="loss_y").value == 0.0
    assert not [r for r in logged if "created with a default value" in r.getMessage()]
