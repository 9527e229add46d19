"""The grid-edit race script runs end to end (its figures are in docs/testing.md; no timing assert here)."""

import re
import subprocess
import sys

import pytest

from tests.browser import ROOT
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.browser


def test_grid_enter_race_reports_edits_lost_per_setting():
    out = subprocess.run(
        [sys.executable, "scripts/grid_enter_race.py", "--frames", "2", "--runs", "1", "--data-dir", str(SHARED_DATA)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    assert re.fullmatch(r"Enter after 2 animation frame\(s\): [01] of 1 edits lost\n", out), out
