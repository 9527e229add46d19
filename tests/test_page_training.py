"""The training page in AppTest: train a small run, read it back cached, bad input, missing data, links."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dashboard.user_text import literal
from softmax_core.run_store import RunStore
from softmax_core.training import MAX_LR, MIN_LR, EpochMetrics, TrainConfig
from tests.apptest_helpers import chart_specs as charts
from tests.apptest_helpers import open_training_page, poll_until, texts
from tests.factories_training import store_fake_run
from tests.link import link

pytestmark = pytest.mark.app

SMALL = {"train_epochs": "1", "train_batch_size": "1024"}  # one quick epoch


def test_defaults_are_the_chapters_setting(env):
    at = open_training_page().run()
    assert not at.exception
    assert at.radio(key="train_impl").value == "scratch"
    assert at.number_input(key="train_lr").value == pytest.approx(0.1)
    assert at.number_input(key="train_batch_size").value == 256
    assert at.number_input(key="train_epochs").value == 10
    assert at.number_input(key="train_seed").value == 0
    assert at.number_input(key="train_init_std").value == pytest.approx(0.01)
    assert "No stored run for these settings yet" in texts(at.info)
    assert link(at) == {}  # defaults stay out of the URL


def test_an_untrained_setting_shows_the_empty_axes_its_curves_will_grow_in(env):
    at = open_training_page({"train_epochs": "7"}).run()
    [curves] = charts(at)  # the comparison has nothing to draw in an empty store
    assert [t["name"] for t in curves["data"]] == ["train loss", "train acc", "test acc"]
    assert all(t["x"] == [] and t["y"] == [] for t in curves["data"])
    assert curves["layout"]["xaxis"]["range"] == [0.7, 7.3]  # the setting's epochs, before any is trained
    assert "one point per epoch" in curves["layout"]["title"]["text"]


def test_train_a_small_run_through_the_form_then_it_is_cached(env):
    at = open_training_page().run()
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_batch_size").set_value(1024)
    at.button(key="train_submit").click().run()
    assert not at.exception
    poll_until(at, lambda at: len(at.success) > 0)
    assert not at.exception
    assert "Trained just now: 1 epoch(s)" in at.success[0].value
    assert link(at) == SMALL  # the link now opens this run

    [run] = RunStore(env).list_runs()
    assert run.config == TrainConfig(batch_size=1024, epochs=1)
    last = run.history[-1]
    assert 0.6 < last.test_acc < 0.9  # one epoch of SGD on Fashion-MNIST: well above chance, below converged
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test accuracy"] == f"{last.test_acc:.1%}"
    assert metrics["Train loss"] == f"{last.train_loss:.4f}"
    curves = charts(at)[0]["data"]
    assert [t["name"] for t in curves] == ["train loss", "train acc", "test acc"]
    assert curves[0]["y"] == [last.train_loss] and curves[2]["y"] == [last.test_acc]

    # The evaluation shows this run's confusion matrix, and its accuracy agrees with the history.
    at.session_state["train_tab"] = "Confusion matrix"  # open its tab: hidden tabs are not built
    at.run()
    heat = next(c for c in charts(at) if c["data"][0]["type"] == "heatmap" and c["data"][0].get("x"))
    z = np.array(heat["data"][0]["z"])
    assert np.array_equal(z, run.confusion.numpy())
    assert np.trace(z) / z.sum() == pytest.approx(last.test_acc)

    # A fresh session with the same link (a reload) reads the stored run: no training, and since this
    # server trained it moments ago it says so rather than "cached".
    again = open_training_page(SMALL).run()
    assert not again.exception
    assert not again.get("progress")
    assert "Trained just now: 1 epoch(s)" in texts(again.success) and "**Cached**" not in texts(again.info)
    assert {m.label: m.value for m in again.metric}["Test accuracy"] == f"{last.test_acc:.1%}"
    assert len(RunStore(env).list_runs()) == 1


def test_stop_cancels_the_training_and_stores_nothing(env):
    at = open_training_page({"train_epochs": "5", "train_batch_size": "512"}).run()
    at.button(key="train_submit").click().run()
    poll_until(at, lambda at: len(at.button) and any(b.key == "train_stop" for b in at.button))
    at.button(key="train_stop").click().run()
    poll_until(at, lambda at: "Nothing was stored" in texts(at.info))
    assert not at.exception
    assert RunStore(env).list_runs() == []


def test_the_form_cannot_take_a_learning_rate_training_would_refuse(env):
    at = open_training_page().run()
    lr = at.number_input(key="train_lr")
    assert (lr.min, lr.max) == (MIN_LR, MAX_LR)  # training's limits: every value the page takes can be trained
    lr.set_value(0.0).run()
    assert not at.exception
    assert at.number_input(key="train_lr").value == pytest.approx(0.1)  # refused by the widget, not stored


def test_a_bad_link_value_falls_back_with_a_warning(env):
    at = open_training_page({"train_lr": "-3", "train_impl": "keras"}).run()
    assert not at.exception
    warnings = texts(at.warning)
    assert "train_lr=-3" in warnings and "train_impl=keras" in warnings
    assert at.number_input(key="train_lr").value == pytest.approx(0.1)
    assert at.radio(key="train_impl").value == "scratch"


def test_missing_data_names_the_files(missing_data):
    at = open_training_page().run()
    assert not at.exception
    message = texts(at.error)
    assert str(missing_data) in message
    for name in ("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert name in message
    assert "SOFTMAX_DATA_DIR" in message


def test_missing_data_is_looked_for_again_only_when_asked(monkeypatch, missing_data):
    """A failed load is remembered (no download attempt on every visit); Try again looks once more."""
    import softmax_core.data as data_module
    from dashboard import fashion_data

    calls = []
    real = data_module.load_fashion_mnist
    monkeypatch.setattr(fashion_data, "load_fashion_mnist", lambda *a, **k: calls.append(1) or real(*a, **k))
    at = open_training_page().run()
    assert "--data-dir" in texts(at.markdown) and "restart" in texts(at.markdown)
    open_training_page().run()  # another visit, another session
    assert len(calls) == 1
    at.button(key="data_try_again").click().run()
    assert len(calls) == 2 and not at.exception


def test_link_restores_the_config_and_shows_the_stored_run(env, fmnist):
    config = TrainConfig(impl="concise", lr=0.5, batch_size=64, epochs=3, seed=7, init_std=0.02)
    store_fake_run(env, fmnist, config)
    query = {
        "train_impl": "concise",
        "train_lr": "0.5",
        "train_batch_size": "64",
        "train_epochs": "3",
        "train_seed": "7",
        "train_init_std": "0.02",
    }
    at = open_training_page(query).run()
    assert not at.exception
    assert at.radio(key="train_impl").value == "concise"
    assert at.number_input(key="train_lr").value == pytest.approx(0.5)
    assert at.number_input(key="train_batch_size").value == 64
    assert at.number_input(key="train_epochs").value == 3
    assert at.number_input(key="train_seed").value == 7
    assert at.number_input(key="train_init_std").value == pytest.approx(0.02)
    assert "**Cached**" in texts(at.info) and "in 1.5 s" in texts(at.info)
    curves = charts(at)[0]["data"]
    assert curves[2]["y"] == pytest.approx([0.61, 0.62, 0.63])
    assert link(at) == {**query, "train_impl": "concise, torch.nn (d2l 3.7)"}  # the label on screen, as bound


@pytest.mark.parametrize("tab", ["Predictions", "Confusion matrix", "One test image"])
def test_only_the_open_evaluation_tab_runs_and_it_is_in_the_link(env, fmnist, tab):
    """A hidden evaluation tab builds nothing: its charts are absent until it is opened (the tab is in the link)."""
    store_fake_run(env, fmnist, TrainConfig(epochs=1))
    at = open_training_page({"train_epochs": "1"} | ({"train_tab": tab} if tab != "Predictions" else {})).run()
    assert not at.exception and not at.warning
    keys = {c.proto.id for c in at.get("plotly_chart")}
    built = {
        name: any(key in chart_id for chart_id in keys for key in keys_of)
        for name, keys_of in {
            "Predictions": ["train_grid"],
            "Confusion matrix": ["train_confusion"],
            "One test image": ["train_image_fig"],
        }.items()
    }
    assert built == {name: name == tab for name in built}
    opened = [t for t in at.tabs if t.label == tab][0]
    assert opened.children and all(not t.children for t in at.tabs if t.label != tab)
    assert link(at).get("train_tab") == (tab if tab != "Predictions" else None)


@pytest.mark.parametrize("tab", ["Predictions", "Confusion matrix", "One test image"])
def test_presenter_mode_hides_the_evaluation_tabs_captions(env, fmnist, tab):
    """?present=1: the open evaluation tab keeps its picture and controls but drops its explanations (issue 10)."""
    store_fake_run(env, fmnist, TrainConfig(epochs=1))
    query = {"train_epochs": "1"} | ({"train_tab": tab} if tab != "Predictions" else {})

    def opened(at):
        assert not at.exception
        return [t for t in at.tabs if t.label == tab][0]

    normal, shown = opened(open_training_page(query).run()), opened(open_training_page(query | {"present": "1"}).run())
    assert not shown.caption
    assert normal.caption or tab == "One test image"  # that tab explains in a sentence with numbers, kept
    assert len(shown.get("plotly_chart")) == len(normal.get("plotly_chart")) > 0
    configs = [json.loads(c.proto.config) for c in normal.get("plotly_chart")]
    assert all(c.get("displayModeBar") is False for c in configs)  # no toolbar over the matrix's top row either


def test_a_diverged_training_shows_its_message_not_a_crash(env):
    at = open_training_page({"train_lr": "50", "train_epochs": "1", "train_batch_size": "1024"}).run()
    at.button(key="train_submit").click().run()
    poll_until(at, lambda at: len(at.warning) > 0)
    assert not at.exception
    warning = texts(at.warning)
    assert "Diverged" in warning and "lower the learning rate" in warning
    assert not at.success and not at.tabs  # not reported as a success, nothing evaluated
    [run] = RunStore(env).list_runs()
    assert run.status == "diverged" and literal(run.message) in warning  # stored text, shown as text
    again = open_training_page({"train_lr": "50", "train_epochs": "1", "train_batch_size": "1024"}).run()
    assert not again.exception
    # A reload shows the same stored outcome (trained by this server moments ago), and what happened per batch.
    assert literal(run.message) in texts(again.warning) and "diverged in epoch 1, batch" in texts(again.warning)
    assert "Stored as diverged" in texts(again.caption)
    [losses] = [c["data"][0] for c in charts(again) if "blew up" in json.dumps(c["layout"].get("title", ""))]
    assert losses["y"] == list(run.batch_losses)


def test_compare_overlays_runs_and_measures_scratch_against_concise(env, fmnist):
    base = dict(lr=0.1, batch_size=256, epochs=2, seed=0)
    scratch = store_fake_run(
        env,
        fmnist,
        TrainConfig(impl="scratch", **base),
        history=(EpochMetrics(1, 0.8, 0.7, 0.75, 1), EpochMetrics(2, 0.6, 0.8, 0.79, 1)),
    )
    concise = store_fake_run(
        env,
        fmnist,
        TrainConfig(impl="concise", **base),
        history=(EpochMetrics(1, 0.8, 0.7, 0.75, 1), EpochMetrics(2, 0.59, 0.8, 0.7925, 1)),
    )
    at = open_training_page({"train_epochs": "2"}).run()
    assert not at.exception
    assert at.multiselect(key="train_compare").value == [scratch.key]  # the run on screen is picked
    at.multiselect(key="train_compare").set_value([concise.key]).run()
    assert at.multiselect(key="train_compare").value == [concise.key]  # and stays removed once removed
    at.multiselect(key="train_compare").set_value([scratch.key, concise.key]).run()
    assert not at.exception
    overlay = charts(at)[-1]["data"]
    assert [t["name"] for t in overlay] == [
        "scratch · lr 0.1 · batch 256 · 2 ep · seed 0",
        "concise · lr 0.1 · batch 256 · 2 ep · seed 0",
    ]
    assert overlay[0]["y"] == [0.75, 0.79] and overlay[1]["y"] == [0.75, 0.7925]
    gap = at.dataframe[-1].value
    assert gap["Δ test acc"].iloc[0] == pytest.approx(0.79 - 0.7925)
    assert gap["Δ train loss"].iloc[0] == pytest.approx(0.6 - 0.59)


def test_a_second_session_sees_the_running_training_and_its_stop_leaves_it_to_the_first(env):
    query = {"train_epochs": "8", "train_batch_size": "512"}
    first = open_training_page(query).run()
    first.button(key="train_submit").click().run()
    second = open_training_page(query).run()  # same link, another student: no submit needed to see the training
    assert not second.exception
    assert second.get("progress"), "the running training should show in every session"
    assert "train_stop" not in [b.key for b in second.button]  # not theirs to stop: they do not wait for it
    assert "1 student waits for this training" in texts(second.caption)
    second.button(key="train_submit").click().run()  # pressing Train joins it; Stop then leaves it
    second.button(key="train_stop").click().run()
    first.run()
    assert first.get("progress") and not first.exception  # still training for the first student
    first.button(key="train_stop").click().run()  # the last student stops waiting: it stops
    poll_until(first, lambda at: "Nothing was stored" in texts(at.info))
    assert not first.exception
    assert RunStore(env).list_runs() == []


def test_reset_returns_to_the_chapters_setting(env):
    at = open_training_page({"train_lr": "0.5", "train_epochs": "3"}).run()
    assert at.number_input(key="train_lr").value == pytest.approx(0.5)
    next(b for b in at.button if "Reset" in b.label).click().run()
    assert not at.exception
    assert at.number_input(key="train_lr").value == pytest.approx(0.1)
    assert at.number_input(key="train_epochs").value == 10
    assert link(at) == {}


def test_the_untrained_setting_states_the_epoch_time_this_server_measured(env, fmnist):
    store_fake_run(
        env,
        fmnist,
        TrainConfig(impl="scratch", lr=0.5, epochs=3),
        history=tuple(EpochMetrics(e, 1.0, 0.5, 0.5, s) for e, s in ((1, 0.14), (2, 0.18), (3, 0.16))),
    )
    at = open_training_page().run()
    assert not at.exception
    info = texts(at.info)
    assert "a few seconds" not in info
    assert "the last 3 epochs took 0.14 to 0.18 s each (median 0.16 s" in info and "10 epochs take about 1.6 s" in info


def test_a_diverged_run_in_the_compare_table_says_where_and_never_none(env, fmnist):
    store_fake_run(
        env,
        fmnist,
        TrainConfig(impl="scratch", lr=50.0, epochs=1),
        status="diverged",
        message="Loss became inf.",
        history=(),
    )
    at = open_training_page({"train_lr": "50", "train_epochs": "1"}).run()
    assert not at.exception
    table = at.dataframe[0].value
    cells = " ".join(str(v) for v in table.to_numpy().ravel())
    assert "None" not in cells and "nan" not in cells
    assert table["outcome"].iloc[0].startswith("diverged")
