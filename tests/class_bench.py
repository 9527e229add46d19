"""Run ``scripts/bench_class.py`` as a user would, for the tests that keep it from rotting."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT


def run_bench_class(*args: str, timeout: float = 300):
    """The benchmark's ``--json`` report (its last line) and its printed text; fails on a non-zero exit."""
    out = subprocess.run(
        [sys.executable, "scripts/bench_class.py", *args, "--json"],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stdout
