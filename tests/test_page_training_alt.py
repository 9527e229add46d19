"""Every chart on the training page has a text alternative written from its data, and its numbers in a table."""

from __future__ import annotations

import json

import pytest
import torch

from softmax_core.run_store import RunStore, run_key
from softmax_core.training import EpochMetrics, TrainConfig, TrainResult
from tests.apptest_helpers import open_training_page, poll_until
from tests.factories_training import store_fake_run

pytestmark = pytest.mark.app

TABS = ["Predictions", "Confusion matrix", "One test image"]


def alts(at) -> dict[str, str]:
    """Each plotly chart's key (the end of its element id) and its text alternative (its accessible name)."""
    return {chart.proto.id: chart.proto.alt for chart in at.get("plotly_chart")}


def chart_alt(at, key: str) -> str:
    [alt] = [alt for chart_id, alt in alts(at).items() if key in chart_id]
    return alt


@pytest.mark.parametrize("tab", TABS)
def test_every_chart_of_a_stored_run_has_a_text_alternative(env, fmnist, tab):
    history = (EpochMetrics(1, 0.786, 0.748, 0.790, 0.1), EpochMetrics(2, 0.571, 0.813, 0.801, 0.1))
    store_fake_run(env, fmnist, TrainConfig(epochs=2), history=history)
    at = open_training_page({"train_epochs": "2"} | ({"train_tab": tab} if tab != "Predictions" else {})).run()
    assert not at.exception
    shown = alts(at)
    assert len(shown) >= 3  # the curves, the open tab's chart(s), the comparison
    assert all(alt.strip() for alt in shown.values()), shown
    curves = chart_alt(at, "train_curves")
    assert "over 2 of 2 epochs" not in curves and "over 2 epochs" in curves
    assert "train loss 0.786 to 0.571" in curves and "test acc 79.0 % to 80.1 %" in curves
    assert "Test acc per epoch of 1 run" in chart_alt(at, "train_compare_chart")
    assert "The numbers" in [e.label for e in at.expander]  # the curves' numbers, one click away


def test_the_numbers_behind_the_curves_are_the_runs_history(env, fmnist):
    history = (EpochMetrics(1, 0.786, 0.748, 0.790, 0.1), EpochMetrics(2, 0.571, 0.813, 0.801, 0.1))
    store_fake_run(env, fmnist, TrainConfig(epochs=2), history=history)
    at = open_training_page({"train_epochs": "2"}).run()
    [numbers] = [e for e in at.expander if e.label == "The numbers"][:1]
    table = numbers.dataframe[0].value
    assert table["epoch"].tolist() == [1, 2]
    assert table["test acc"].tolist() == [0.790, 0.801] and table["train loss"].tolist() == [0.786, 0.571]


def test_a_diverged_runs_batch_losses_have_a_text_alternative_and_a_table(env, fmnist):
    config = TrainConfig(lr=50.0, epochs=1).validated()
    losses = (2.3, 40.0, 9.1e3)
    result = TrainResult(
        config, (), "diverged", "Loss became inf.", torch.zeros(784, 10), torch.zeros(10), 0.2, None, losses, (1, 4)
    )
    RunStore(env).save(run_key(config, fmnist.fingerprint), result, torch.zeros(10, 10, dtype=torch.int64),
                       fmnist.fingerprint)  # fmt: skip
    at = open_training_page({"train_lr": "50", "train_epochs": "1"}).run()
    assert not at.exception
    alt = chart_alt(at, "train_curves")
    assert "diverged in epoch 1, batch 4" in alt and "3 finite batch losses" in alt
    compare = chart_alt(at, "train_compare_chart")
    assert "no finished epoch, diverged in epoch 1, batch 4" in compare  # in words, not by colour
    numbers = [e for e in at.expander if e.label == "The numbers"][0].dataframe[0].value
    assert numbers["mean loss"].tolist() == list(losses)


def test_the_live_curves_have_a_text_alternative(env):
    at = open_training_page({"train_epochs": "5", "train_batch_size": "512"}).run()
    at.button(key="train_submit").click().run()
    poll_until(at, lambda at: any("train_live_curves" in chart_id for chart_id in alts(at)))
    alt = chart_alt(at, "train_live_curves")
    assert alt.startswith("Training curves") and "5 epochs" in alt
    spec = json.loads([c for c in at.get("plotly_chart") if "train_live_curves" in c.proto.id][0].proto.spec)
    done = len(spec["data"][0]["x"])  # the epochs drawn so far: the text says the same
    assert ("empty" in alt) if done == 0 else (f"over {done} of 5 epochs" in alt)
    at.button(key="train_stop").click().run()
    assert not at.exception
