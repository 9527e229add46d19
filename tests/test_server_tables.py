"""Tables the pages show are cached as Arrow, the form st.dataframe sends, on their values."""

from __future__ import annotations

import math

import pytest

from dashboard.caches import calibration, inside_model, shared, training
from tests.conftest import SHARED_DATA
from tests.factories_training import calibration_weights, store_calibration_run

pytestmark = pytest.mark.unit


def test_records_become_one_arrow_table_per_distinct_content():
    records = [{"run": "a", "test acc": 0.84, "seconds": "1.5"}, {"run": "b", "test acc": math.nan, "seconds": "–"}]
    table = shared.table(records)
    assert table.column_names == ["run", "test acc", "seconds"]
    assert table.column("run").to_pylist() == ["a", "b"]
    assert table.column("test acc").to_pylist() == [0.84, None]  # NaN is a missing cell, as from a DataFrame
    assert shared.table([dict(r) for r in records]) is table  # equal rows: the cached table, not a new one
    assert shared.table(records[:1]) is not table


def test_no_records_is_an_empty_table():
    assert shared.table([]).num_rows == 0


def test_a_runs_logits_are_one_read_only_array_and_the_metrics_at_a_t_are_cached(env, fmnist):
    """Every session gets the same array (no copy per page load), and cannot write into it."""
    import numpy as np

    from softmax_core import calibration as cal
    from softmax_core.training import TrainConfig

    run = store_calibration_run(env, fmnist, TrainConfig(), seed=1)
    logits = calibration.run_logits(str(env), run.key, str(SHARED_DATA))
    assert calibration.run_logits(str(env), run.key, str(SHARED_DATA)) is logits and not logits.flags.writeable
    report = calibration.calibration_report(str(env), run.key, str(SHARED_DATA), cal.CALIBRATION_SEED)
    ev = report.split.evaluation
    at = calibration.evaluation_at(str(env), run.key, str(SHARED_DATA), cal.CALIBRATION_SEED, 1.5)
    expected = cal.evaluate(np.array(logits)[ev], fmnist.test_labels.numpy()[ev], 1.5)
    assert (at.accuracy, at.nll, at.brier, at.ece, at.mce) == (
        expected.accuracy, expected.nll, expected.brier, expected.ece, expected.mce
    )  # fmt: skip
    assert calibration.evaluation_at(str(env), run.key, str(SHARED_DATA), cal.CALIBRATION_SEED, 1.5) is at
    # the report too: one shared object, every array in it read-only, and the same numbers as calibrate()
    assert calibration.calibration_report(str(env), run.key, str(SHARED_DATA), cal.CALIBRATION_SEED) is report
    arrays = [report.split.calibration, ev, report.temperatures, report.nll_curve, report.ece_curve,
              report.before.confidences, report.after.bins.counts, report.after.bins.accuracy]  # fmt: skip
    assert not any(a.flags.writeable for a in arrays)
    fresh = cal.calibrate(np.array(logits), fmnist.test_labels.numpy(), cal.CALIBRATION_SEED)
    assert report.fit == fresh.fit
    np.testing.assert_array_equal(report.ece_curve, fresh.ece_curve)


def test_a_runs_test_set_probabilities_are_one_read_only_array(env, fmnist):
    import numpy as np

    from softmax_core.training import TrainConfig, predict_probs

    run = store_calibration_run(env, fmnist, TrainConfig(), seed=2)
    probs = training.probabilities_on_test_set(str(env), run.key, str(SHARED_DATA))
    assert training.probabilities_on_test_set(str(env), run.key, str(SHARED_DATA)) is probs
    assert not probs.flags.writeable
    np.testing.assert_array_equal(probs, predict_probs(*calibration_weights(2, 0.05), fmnist.test_images).numpy())


def test_a_runs_parameters_and_predictions_are_shared_read_only(env, fmnist):
    import warnings

    from softmax_core.training import TrainConfig, predicted_classes

    run = store_calibration_run(env, fmnist, TrainConfig(), seed=3)
    params = inside_model.run_parameters(str(env), run.key)
    assert inside_model.run_parameters(str(env), run.key)[0] is params[0]
    assert not params[0].flags.writeable and not params[1].flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the read-only weights reach torch without a warning
        predicted = inside_model.test_predictions(str(env), run.key, 0, str(SHARED_DATA))
    assert not predicted.flags.writeable
    assert (predicted == predicted_classes(*calibration_weights(3, 0.05), fmnist.test_images).numpy()).all()
