"""The training page's sentences for a full queue, in AppTest (the queue's rules are tested in test_jobs)."""

from __future__ import annotations

import pytest

from tests.apptest_helpers import open_training_page, texts

pytestmark = pytest.mark.app


def test_a_full_queue_gets_a_sentence_not_a_training(env, monkeypatch, held_training):
    monkeypatch.setenv("SOFTMAX_QUEUE_PER_ADDRESS", "1")  # read when the server's queue is made (first run)
    first = open_training_page({"train_seed": "1"}).run()
    first.button(key="train_submit").click().run()
    assert held_training.started.wait(60) and first.get("progress")
    second = open_training_page({"train_seed": "2"}).run()  # another student at the same address (here: loopback)
    second.button(key="train_submit").click().run()
    assert not second.exception
    assert "Your network address already has 1 training queued or running" in texts(second.warning)
    assert not second.get("progress")
    third = open_training_page({"train_seed": "1"}).run()  # the same settings as the first: joins, never refused
    third.button(key="train_submit").click().run()
    assert third.get("progress") and "Your network address" not in texts(third.warning)
    assert "1 student also waits for it" in texts(third.caption)
