"""The lanes hold: a module without exactly one lane stops the collection with the line to add, and a unit or
app test that starts a process or a server fails (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

HERE = Path(__file__).parent


@pytest.fixture
def suite(pytester):
    """A test folder with this project's conftest and pytest.ini, run in this process."""
    pytester.makeini((HERE.parent / "pytest.ini").read_text().replace("testpaths = tests\n", ""))
    pytester.makeconftest((HERE / "conftest.py").read_text())
    return pytester


def run(suite):
    """The folder's tests, in this process; without pytest-benchmark where it is installed (it asks git for a
    commit as it loads, a child process the unit lane refuses)."""
    return suite.runpytest_inprocess("-p", "no:benchmark", "-p", "no:randomly")


def test_a_module_without_exactly_one_lane_of_its_own_stops_the_collection_with_the_line_to_add(suite):
    suite.makepyfile(
        test_plain="def test_sum():\n    assert 1 + 1 == 2\n",
        test_page="from streamlit.testing.v1 import AppTest\n\ndef test_page():\n    assert AppTest\n",
        test_two="import pytest\npytestmark = [pytest.mark.unit, pytest.mark.app]\n\ndef test_x():\n    pass\n",
        test_mixed="import pytest\npytestmark = pytest.mark.unit\n\n@pytest.mark.server\ndef test_x():\n    pass\n",
        test_fine="import pytest\npytestmark = pytest.mark.unit\n\ndef test_x():\n    pass\n",
    )
    result = run(suite)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*every test module names exactly one lane*",
            "*test_mixed.py: test_x carries its own lane (server)*`pytestmark = pytest.mark.server`*",
            "*test_page.py: has no lane: add `pytestmark = pytest.mark.app` after its imports*",
            "*test_plain.py: has no lane: add `pytestmark = pytest.mark.unit` after its imports*",
            "*test_two.py: names the lanes *'unit', 'app'*: keep one*",
        ]
    )
    assert "test_fine" not in result.stderr.str()


def test_a_unit_test_may_not_start_a_process_or_listen_even_if_it_catches_the_refusal(suite):
    suite.makepyfile(
        test_doing="""
import socket, subprocess, sys
import pytest
pytestmark = pytest.mark.unit

def test_child():
    subprocess.run([sys.executable, "-c", "pass"])

def test_listen():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()

def test_caught():
    try:
        subprocess.run([sys.executable, "-c", "pass"])
    except Exception:
        pass

def test_threads_and_files_are_fine(tmp_path):
    (tmp_path / "a").write_text("a")
"""
    )
    result = run(suite)
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(["*test_child is in the unit lane*starts a child process*pytest.mark.process*"])
    result.stdout.fnmatch_lines(["*test_listen is in the unit lane*listens on a socket*"])
