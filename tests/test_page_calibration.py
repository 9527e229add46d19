"""The calibration page in AppTest: metrics against the core, default and linked runs, and bad input."""

from __future__ import annotations

import pytest

from softmax_core import calibration as cal
from softmax_core.training import TrainConfig
from tests.apptest_helpers import chart_specs as charts
from tests.apptest_helpers import open_calibration_page, texts
from tests.factories_training import calibration_weights, store_calibration_run

pytestmark = pytest.mark.app


def test_empty_store_says_what_to_do(env):
    at = open_calibration_page().run()
    assert not at.exception
    assert "run store is empty" in texts(at.info)
    assert at.button(key="cal_fit_ceiling")  # the ceiling can be fitted from here


def test_metrics_match_the_core_for_the_training_pages_run(env, fmnist):
    chapter = store_calibration_run(env, fmnist, TrainConfig(), seed=1)
    store_calibration_run(env, fmnist, TrainConfig(lr=0.5), seed=2, scale=0.2)
    at = open_calibration_page(
        {"train_lr": "0.1"}
    ).run()  # the training page's settings: the chapter's run is the default
    assert not at.exception
    assert at.selectbox(key="cal_run").value == chapter.key
    w, b = calibration_weights(1, 0.05)
    expected = cal.calibrate(cal.logits_on_images(w, b, fmnist.test_images), fmnist.test_labels.numpy())
    assert at.metric[0].value == f"{expected.fit.temperature:.3f}"
    assert at.metric[1].value == f"{expected.after.ece:.4f}"
    table = at.dataframe[0].value
    assert table["T = 1"].tolist() == pytest.approx(
        [expected.before.accuracy, expected.before.nll, expected.before.brier, expected.before.ece, expected.before.mce]
    )
    assert table.iloc[0, 1] == table.iloc[0, 2]  # accuracy unchanged by T
    assert str(cal.CALIBRATION_SEED) in texts(at.caption)
    specs = charts(at)
    assert len(specs) >= 4  # reliability, curves, histogram, comparison
    reliability = specs[0]["data"]
    assert [t for t in reliability[0]["text"] if t] == [f"{int(n):,}" for n in expected.before.bins.counts if n]


def test_the_slider_moves_the_last_column(env, fmnist):
    store_calibration_run(env, fmnist, TrainConfig())
    at = open_calibration_page().run()
    at.select_slider(key="cal_T").set_value(4.0).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert "T = 4 (yours)" in table.columns
    w, b = calibration_weights(0, 0.05)
    split = cal.split_test_set()
    logits = cal.logits_on_images(w, b, fmnist.test_images)[split.evaluation]
    labels = fmnist.test_labels.numpy()[split.evaluation]
    assert table["T = 4 (yours)"].iloc[1] == pytest.approx(cal.nll(logits, labels, 4.0))


def test_a_run_link_selects_it_and_an_unknown_one_is_explained(env, fmnist):
    store_calibration_run(env, fmnist, TrainConfig())
    other = store_calibration_run(env, fmnist, TrainConfig(epochs=3), seed=4)
    at = open_calibration_page({"run": other.key}).run()
    assert not at.exception
    assert at.selectbox(key="cal_run").value == other.key

    at = open_calibration_page({"run": "**not-a-key**<b>"}).run()
    assert not at.exception
    assert "not in the run store" in texts(at.warning)
    assert "**not-a-key**<b>" in texts(at.text)  # shown as text, not markdown


def test_a_diverged_run_is_explained(env, fmnist):
    diverged = store_calibration_run(
        env, fmnist, TrainConfig(lr=50.0), status="diverged", message="Loss became inf in epoch 1."
    )
    at = open_calibration_page({"run": diverged.key}).run()
    assert not at.exception
    assert "diverged" in texts(at.warning)
    assert "Loss became inf in epoch 1." in texts(at.text)
    assert "diverged run(s) are left out" in texts(at.caption)


def test_the_ceiling_run_is_one_more_run(env, fmnist):
    from softmax_core.linear_ceiling import ceiling_config

    config = ceiling_config()  # the best linear model: the one rule, not any L-BFGS run
    store_calibration_run(env, fmnist, config, seed=3)
    at = open_calibration_page().run()
    assert not at.exception
    assert "best linear" in texts(at.info)
    assert any("L-BFGS" in o for o in at.selectbox(key="cal_run").options)


def test_a_linked_test_image_is_shown_and_a_number_too_large_for_it_gets_a_sentence(env, fmnist):
    store_calibration_run(env, fmnist, TrainConfig(), seed=1)
    at = open_calibration_page({"cal_image": "17"}).run()
    assert not at.exception
    assert at.number_input(key="cal_image").value == 17 and "Image #17 is a" in texts(at.caption)
    at = open_calibration_page({"cal_image": "1e400"}).run()  # Streamlit's int input raised OverflowError on it
    assert not at.exception
    assert "cal_image=1e400" in texts(at.warning) and at.number_input(key="cal_image").value != 17


def test_every_chart_has_a_text_alternative_and_its_numbers_a_table(env, fmnist):
    chapter = store_calibration_run(env, fmnist, TrainConfig(), seed=1)
    store_calibration_run(env, fmnist, TrainConfig(lr=0.5), seed=2, scale=0.2)
    at = open_calibration_page({"run": chapter.key}).run()
    assert not at.exception
    alts = {e.proto.id.split("-")[-1]: e.proto.alt for e in at.get("plotly_chart")}
    assert len(alts) == 4 and all(alts.values()), alts  # reliability, curves, histogram, comparison
    w, b = calibration_weights(1, 0.05)
    expected = cal.calibrate(cal.logits_on_images(w, b, fmnist.test_images), fmnist.test_labels.numpy())
    reliability = next(alt for key, alt in alts.items() if "cal_reliability" in key)
    assert f"at T = 1, ECE {expected.before.ece:.1%}" in reliability
    assert f"at fitted T = {expected.fit.temperature:.3g}, ECE {expected.after.ece:.1%}" in reliability
    assert "2 runs" in next(alt for key, alt in alts.items() if "cal_compare_chart" in key)
    tables = {e.label for e in at.expander}
    assert {"NLL and ECE over T as a table", "The bins of both charts as a table"} <= tables
    bins = at.dataframe[2].value  # the bins' table: images per bin at T = 1 as the core counts them
    assert bins["images, T = 1"].tolist() == expected.before.bins.counts.tolist()
