"""softmax_core stays free of streamlit: every module imported in a fresh Python, which never loads streamlit."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.process


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
