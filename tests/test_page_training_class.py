"""The training page under a class: the cost bound's sentence, one training per session with a cancel offer."""

from __future__ import annotations

import pytest

from tests.apptest_helpers import open_training_page, texts

pytestmark = pytest.mark.app


def runs_in(folder) -> list:
    return [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.exists() else []


def test_settings_over_the_cost_bound_get_a_sentence_not_a_training(env):
    at = open_training_page({"train_epochs": "200", "train_batch_size": "1"}).run()
    at.button(key="train_submit").click().run()
    assert not at.exception
    assert "this server allows at most 6,000,000 per training" in texts(at.error)
    assert not at.get("progress") and runs_in(env) == []


def test_a_second_training_in_one_session_is_refused_and_the_first_can_be_cancelled(env, monkeypatch):
    monkeypatch.setenv("SOFTMAX_MAX_TRAINING_COST", "0")  # no bound: the first one runs long enough
    at = open_training_page({"train_epochs": "200", "train_batch_size": "64", "train_seed": "11"}).run()
    at.button(key="train_submit").click().run()
    assert at.get("progress") and not at.exception
    at.number_input(key="train_epochs").set_value(100)
    at.button(key="train_submit").click().run()
    assert "You already have a training queued or running" in texts(at.warning)
    at.button(key="train_cancel_other").click().run()
    assert not at.exception
    at.button(key="train_submit").click().run()  # the first is cancelled: this one starts
    assert "You already have" not in texts(at.warning) and at.get("progress")
    at.button(key="train_stop").click().run()
    assert runs_in(env) == []  # both stopped: nothing stored
