"""The app skeleton: it runs, and softmax_core stays free of streamlit."""

import subprocess
import sys

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT


def test_softmax_core_does_not_import_streamlit():
    code = (
        "import importlib, pkgutil, sys, softmax_core\n"
        "names = [m.name for m in pkgutil.walk_packages(softmax_core.__path__, 'softmax_core.')]\n"
        "for name in names: importlib.import_module(name)\n"
        "print(len(names), 'streamlit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    count, imported = out.stdout.split()
    assert int(count) >= 15  # every module: numerics, data, training, store, CLI, bench, figures
    assert imported == "False"


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
