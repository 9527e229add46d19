"""The server freezes its imported objects once, so full garbage collections skip them."""

import gc
import sys

import pytest

from dashboard import gc_tuning

pytestmark = pytest.mark.unit


def test_freezes_once_per_process_and_later_garbage_is_still_collected(monkeypatch):
    monkeypatch.setattr(gc_tuning, "_frozen", False)
    before = gc.get_freeze_count()
    try:
        monkeypatch.delitem(sys.modules, "wave", raising=False)  # a module the tests never import otherwise
        assert gc_tuning.freeze_imports_once("wave") is True
        assert "wave" in sys.modules  # imported first, so its objects are among the frozen
        assert gc.get_freeze_count() > before
        assert gc_tuning.freeze_imports_once() is False  # a second session's run does nothing

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a  # a reference cycle made after the freeze
        del a, b
        assert gc.collect() >= 2  # ...is still found and freed
    finally:
        gc.unfreeze()  # give the objects of this test process back to the collector
