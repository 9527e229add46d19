"""Results and figures shared by every session of this server: the caches of the core functions the pages call.

They live in an imported module, not in the page scripts, because a page script runs again on
every page load, and with it every ``st.cache_*`` decorator in it: Streamlit reads the decorated
function's source to key its cache, which was 8 % of the server's CPU while 100 sessions loaded
every page (py-spy, see docs/performance.md). Here each decorator runs once per process.

``cache_resource`` for figures: ``cache_data`` would pickle and unpickle a figure on every hit, which
costs more than building it; a cached figure is never mutated (``st.plotly_chart`` serialises it).
A class opening the default view draws the same figures, so they are built once per server.
Every cache is bounded (``max_entries``) so that distinct views cannot grow memory without bound.
Keys are plain values (tuples, floats, strings): ``st.cache_data`` cannot hash tensors.
No viewer can empty these caches: importing this module installs ``clear_cache_guard``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import streamlit as st

from dashboard import clear_cache_guard
from dashboard.fashion_data import loaded as load_data
from softmax_core import calibration as cal
from softmax_core import export, inspection
from softmax_core import stability as numerics
from softmax_core.figures import (
    calibration_figures,
    cross_entropy_figures,
    inside_figures,
    loss_figures,
    softmax_figures,
    training_figures,
)
from softmax_core.figures.frozen import frozen
from softmax_core.run_store import RunStore
from softmax_core.train_or_load import usable_run
from softmax_core.training import predict_probs, predicted_classes

clear_cache_guard.install()  # imported by streamlit_app.py before any page runs

_FIGURE = {"max_entries": 64, "show_spinner": False}


def _figures(build=None, **options):
    """``st.cache_resource`` for a builder of figures; the figures it returns come back frozen: every
    session draws the same ones, so each is serialised once (see FrozenFigure), not on every page load."""
    if build is None:
        return lambda build: _figures(build, **options)

    @functools.wraps(build)  # the cache is keyed on the builder's own name and source
    def shared(*args, **kwargs):
        return frozen(build(*args, **kwargs))

    return st.cache_resource(**{**_FIGURE, **options})(shared)


def _read_only(*values):
    """Marks the arrays in ``values`` (and in dataclasses among them) read-only and returns ``values``.

    Arrays in ``st.cache_resource`` are shared by every session, not copied for each page load as
    ``st.cache_data`` does (those copies cost memory and CPU per load); read-only, no page can change
    them for the others.
    """
    for value in values:
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
        elif dataclasses.is_dataclass(value):
            _read_only(*(getattr(value, field.name) for field in dataclasses.fields(value)))
    return values


# ---------------------------------------------------------------- softmax & temperature
probability_bars = _figures(softmax_figures.probability_bars)


@st.cache_data(max_entries=64, show_spinner=False)
def temperature_sweep(logits: tuple[float, ...]):
    """p_j(T) over the whole T range: depends on the logits only, not on the slider."""
    return softmax_figures.temperature_sweep(logits)


@_figures
def temperature_curves(
    logits: tuple[float, ...], labels: tuple[str, ...], temperature: float, probs: tuple[float, ...]
):
    """Keyed on the logits, not on their sweep: hashing the sweep's thousands of numbers on every call
    was 11 % of the server's CPU while a class loaded every page (py-spy --gil)."""
    return softmax_figures.temperature_curves(temperature_sweep(logits), list(labels), temperature, list(probs))


@st.cache_data(max_entries=256, show_spinner=False)
def stability(logits: tuple[float, ...], temperature: float, dtype: str):
    return numerics.compare_stability(logits, temperature, dtype)


def table(records: list[dict]) -> pa.Table:
    """Rows (one dict each, same keys) as the Arrow table ``st.dataframe`` sends, cached on their values:
    building a DataFrame and converting it on every page load was about 5 % of a class's CPU."""
    columns = tuple(records[0]) if records else ()
    return _arrow_table(columns, tuple(tuple(record[c] for c in columns) for record in records))


@st.cache_resource(max_entries=256, show_spinner=False)
def _arrow_table(columns: tuple[str, ...], rows: tuple[tuple, ...]) -> pa.Table:
    return _as_arrow(pd.DataFrame(list(rows), columns=list(columns)))


def _as_arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


@st.cache_resource(max_entries=256, show_spinner=False)
def stability_table(logits: tuple[float, ...], temperature: float, dtype: str, labels: tuple[str, ...]) -> pa.Table:
    """The stability report's table, as Arrow: the DataFrame and its conversion were 3 % of a class's CPU."""
    return _as_arrow(stability(logits, temperature, dtype).table(labels))


@st.cache_resource(max_entries=16, show_spinner=False)
def weights_file(runs_dir: str, key: str) -> bytes:
    """A run's final weights as a PyTorch state-dict file, written once per run, not on every page load."""
    weight, bias = _stored_run(runs_dir, key).load_weights()
    return export.weights_bytes(weight, bias)


# ---------------------------------------------------------------- L1, L2 and Huber losses
one_loss_figure = _figures(loss_figures.one_loss_figure)
compare_figure = _figures(loss_figures.compare_figure)
gradient_step_figures = _figures(loss_figures.gradient_step_figures)


# ---------------------------------------------------------------- cross-entropy step by step
@_figures
def prediction_heatmap(values: tuple[tuple[float, ...], ...], labels: tuple[int, ...]):
    return cross_entropy_figures.prediction_heatmap(values, labels)


@_figures
def neg_log_curve(picked: tuple[float, ...]):
    return cross_entropy_figures.neg_log_curve(picked)


@_figures
def loss_bars(losses: tuple[float, ...]):
    return cross_entropy_figures.loss_bars(losses)


# ---------------------------------------------------------------- training (stored runs keyed by run key)
# Curves of stored runs, keyed on their (short) histories: building one was a few per cent of the CPU per visit.
training_curves = _figures(training_figures.training_curves)
compare_curves = _figures(training_figures.compare_curves)


def _stored_run(runs_dir: str, key: str):
    """The checked stored run, or ValueError with a sentence for the page (never the server's paths)."""
    run, broken = usable_run(RunStore(runs_dir), key)
    if run is None:
        raise ValueError(broken or f"Run {key} is no longer in the run store: train it again.")
    return run


@st.cache_resource(max_entries=8, show_spinner="Predicting the 10,000 test images…")
def probabilities_on_test_set(runs_dir: str, key: str, data_dir: str) -> np.ndarray:
    """``softmax(X W + b)`` of a stored run on the test set, (10000, 10): one read-only array shared by every
    session (as ``cache_data``, every page load unpickled its own 400 KB copy; see ``run_logits``)."""
    weight, bias = _stored_run(runs_dir, key).load_weights()
    (probs,) = _read_only(predict_probs(weight, bias, load_data(data_dir).test_images).numpy())
    return probs


@_figures
def prediction_grid(runs_dir: str, key: str, data_dir: str, shown: tuple[int, ...]):
    """Test images ``shown`` with their true and predicted labels: dozens of subplots, so built once per view
    (building it on every visit was a third of the server's CPU while a class opened a stored run)."""
    data = load_data(data_dir)
    index = np.asarray(shown, dtype=int)
    predicted = probabilities_on_test_set(runs_dir, key, data_dir).argmax(1)
    true = data.test_labels.numpy()
    return training_figures.prediction_grid(
        data.test_images[index].numpy(), true[index], predicted[index], data.class_names, indices=index
    )


# ---------------------------------------------------------------- inside the model
@st.cache_resource(max_entries=16, show_spinner=False)
def run_parameters(runs_dir: str, key: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """(W per epoch (E+1, 784, 10), b per epoch (E+1, 10), has snapshots); without snapshots only the final one.

    Read-only arrays shared by every session (a copy per page load, as ``cache_data``, cost memory; see
    ``run_logits``).
    """
    run = _stored_run(runs_dir, key)
    snapshots = run.load_snapshots()  # checksum and shapes checked by the store
    if snapshots is not None:
        weights, biases, has_snapshots = snapshots[0].numpy(), snapshots[1].numpy(), True
    else:
        weight, bias = run.load_weights()
        weights, biases, has_snapshots = weight.numpy()[None], bias.numpy()[None], False
    return (*_read_only(weights, biases), has_snapshots)


@st.cache_resource(max_entries=32, show_spinner=False)
def test_predictions(runs_dir: str, key: str, index: int, data_dir: str) -> np.ndarray:
    """argmax(X W + b) of the 10,000 test images with the weights at position ``index`` (read-only, shared)."""
    weights, biases, _ = run_parameters(runs_dir, key)
    (predicted,) = _read_only(predicted_classes(weights[index], biases[index], load_data(data_dir).test_images).numpy())
    return predicted


@_figures
def templates_figure(
    runs_dir: str, key: str, index: int, names: tuple[str, ...], limit: float | None, compact: bool = False
):
    """The ten templates of one run at one epoch; cached whole, since ten subplots take plotly long to build."""
    weights, biases, _ = run_parameters(runs_dir, key)
    if compact:
        return inside_figures.weight_templates(
            weights[index], biases[index], names, limit=limit, height=360, compact=True
        )
    return inside_figures.weight_templates(weights[index], biases[index], names, limit=limit)


class ExplanationFigures(NamedTuple):
    image: object
    scores: object
    probs: object
    contributions: object
    classes: list[tuple[int, str]]  # the (class, role) pairs the contribution maps show


@_figures(max_entries=32)
def explanation(
    runs_dir: str, key: str, index: int, image: int, data_dir: str, names: tuple[str, ...]
) -> tuple[inspection.Explanation, ExplanationFigures]:
    """Why test image ``image`` got its label under the weights at ``index``, with its four figures
    (building them on every visit was an eighth of the server's CPU while a class opened a stored run)."""
    weights, biases, _ = run_parameters(runs_dir, key)
    data = load_data(data_dir)
    why = inspection.explain(weights[index], biases[index], data.test_images[image])
    label = int(data.test_labels[image])
    classes = inspection.explained_classes(why, label)
    figures = ExplanationFigures(
        inside_figures.model_input(why.pixels, title=f"#{image}: {names[label]}", height=330),
        inside_figures.score_bars(why.scores, names, true_label=label, height=330),
        training_figures.probability_bars(why.probs, names, true_label=label, height=330),
        inside_figures.contribution_maps(why, classes, names),
        classes,
    )
    return why, figures


# ---------------------------------------------------------------- confidence and calibration
@st.cache_resource(max_entries=64, show_spinner=False)
def run_logits(runs_dir: str, key: str, data_dir: str) -> np.ndarray:
    """``X W + b`` of a stored run on the 10,000 test images: one read-only array shared by every session.

    As ``cache_data`` each page load unpickled its own 780 KB copy; with 100 sessions opening the
    calibration page at once, those copies raised the server's RSS by 1.3 MB per session (docs/performance.md).
    """
    weight, bias = _stored_run(runs_dir, key).load_weights()
    (logits,) = _read_only(cal.logits_on_images(weight, bias, load_data(data_dir).test_images))
    return logits


# Figures of a calibration report, keyed on its numbers (15 bins, the T curves): each was built on every visit.
reliability_diagram = _figures(calibration_figures.reliability_diagram)
confidence_histogram = _figures(calibration_figures.confidence_histogram)
calibration_curves = _figures(calibration_figures.temperature_curves)
compare_runs_chart = _figures(calibration_figures.compare_runs_chart)


@st.cache_resource(max_entries=64, show_spinner="Fitting the temperature…")
def calibration_report(runs_dir: str, key: str, data_dir: str, seed: int) -> cal.CalibrationReport:
    """One run's report, shared read-only: as ``cache_data`` the calibration page unpickled a 161 KB copy
    for its run and one for each run it compares, on every load."""
    (report,) = _read_only(
        cal.calibrate(run_logits(runs_dir, key, data_dir), load_data(data_dir).test_labels.numpy(), seed)
    )
    return report


@st.cache_resource(max_entries=256, show_spinner=False)
def evaluation_at(runs_dir: str, key: str, data_dir: str, seed: int, temperature: float) -> cal.Metrics:
    """The metrics of one run on the evaluation half at one temperature (a stop of the page's slider).

    Computed on every page load, it took about a third of the calibration page's CPU while 100
    sessions opened it at once.
    """
    ev = calibration_report(runs_dir, key, data_dir, seed).split.evaluation
    labels = load_data(data_dir).test_labels.numpy()
    return cal.evaluate(run_logits(runs_dir, key, data_dir)[ev], labels[ev], temperature)
