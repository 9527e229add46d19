"""Training figures: the traces hold exactly the numbers they were given."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import plotly.utils
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from softmax_core.figures.training_figures import (
    CELL_CHARS,
    CELL_FONT_SIZE,
    LabelledHistory,
    cell_label,
    compare_curves,
    config_label,
    confusion_heatmap,
    final_gap,
    image_figure,
    per_class_accuracy,
    per_class_accuracy_bars,
    prediction_grid,
    prediction_title,
    probability_bars,
    scratch_concise_pairs,
    training_curves,
)

pytestmark = pytest.mark.unit

NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclass(frozen=True)
class Epoch:  # the fields of softmax_core.training.EpochMetrics
    epoch: int
    train_loss: float
    train_acc: float
    test_acc: float
    seconds: float = 1.0


HISTORY = (Epoch(1, 0.786, 0.748, 0.790), Epoch(2, 0.571, 0.813, 0.801), Epoch(3, 0.525, 0.826, 0.812))


def assert_json_safe(fig):
    """Streamlit ships the spec as JSON; nan/inf must not reach it."""
    json.loads(fig.to_json())


def test_training_curves_are_the_history():
    fig = training_curves(HISTORY, epochs=10)
    assert [t.name for t in fig.data] == ["train loss", "train acc", "test acc"]
    assert all(list(t.x) == [1, 2, 3] for t in fig.data)
    assert list(fig.data[0].y) == [0.786, 0.571, 0.525]
    assert list(fig.data[1].y) == [0.748, 0.813, 0.826]
    assert list(fig.data[2].y) == [0.790, 0.801, 0.812]
    lo, hi = fig.layout.xaxis.range
    assert lo < 1 and 10 < hi < 11  # the frame spans all planned epochs while the run grows
    assert len({t.line.dash for t in fig.data}) == 3  # told apart without colour
    assert_json_safe(fig)


def test_training_curves_of_a_diverged_run_leave_gaps():
    history = (Epoch(1, 2.5, 0.4, 0.5), Epoch(2, float("nan"), 0.1, 0.1), Epoch(3, float("inf"), 0.1, 0.1))
    fig = training_curves(history)
    assert list(fig.data[0].y) == [2.5, None, None]
    assert_json_safe(fig)


def test_training_curves_empty_history_is_an_empty_frame():
    fig = training_curves((), epochs=5)
    assert all(len(t.x) == 0 for t in fig.data)
    assert fig.layout.xaxis.range[1] > 5
    assert tuple(fig.layout.yaxis.range) == (0, 1)


def test_no_figure_sets_a_colour():
    figs = [
        training_curves(HISTORY),
        compare_curves([LabelledHistory("a", HISTORY)]),
        per_class_accuracy_bars(np.eye(10, dtype=int) * 5, NAMES),
        probability_bars(np.full(10, 0.1), NAMES, true_label=3),
    ]
    for fig in figs:
        spec = fig.to_plotly_json()
        assert spec["layout"].get("template") == go.Figure().to_plotly_json()["layout"].get("template")
        for trace in spec["data"]:
            assert "color" not in trace.get("line", {})
            assert "color" not in trace.get("marker", {})
        for key in ("paper_bgcolor", "plot_bgcolor", "colorway"):
            assert key not in spec["layout"]


def test_compare_curves_overlay_one_metric_per_run_in_order():
    other = (Epoch(1, 1.2, 0.6, 0.65), Epoch(2, 0.9, 0.7, 0.72))
    runs = [LabelledHistory("lr 0.1", HISTORY), LabelledHistory("lr 0.01", other)]
    fig = compare_curves(runs, "test_acc")
    assert [t.name for t in fig.data] == ["lr 0.1", "lr 0.01"]
    assert list(fig.data[0].y) == [0.790, 0.801, 0.812]
    assert list(fig.data[1].x) == [1, 2] and list(fig.data[1].y) == [0.65, 0.72]
    assert list(compare_curves(runs, "train_loss").data[1].y) == [1.2, 0.9]
    with pytest.raises(ValueError, match="metric must be one of"):
        compare_curves(runs, "accuracy")


def test_final_gap_is_the_difference_of_last_epochs():
    other = (Epoch(1, 1.2, 0.6, 0.65), Epoch(2, 0.5, 0.83, 0.81))
    gap = final_gap(HISTORY, other)
    assert gap["train_loss"] == pytest.approx(0.525 - 0.5)
    assert gap["train_acc"] == pytest.approx(0.826 - 0.83)
    assert gap["test_acc"] == pytest.approx(0.812 - 0.81)
    with pytest.raises(ValueError):
        final_gap((), HISTORY)


CONFUSION = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 0]])


def test_per_class_accuracy_by_hand():
    # row 0: 8 of 10 right; row 1: 3 of 4; row 2: no images, no accuracy
    acc = per_class_accuracy(CONFUSION)
    assert acc[0] == pytest.approx(0.8) and acc[1] == pytest.approx(0.75) and math.isnan(acc[2])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), min_size=1, max_size=300))
def test_per_class_accuracy_is_the_accuracy_on_each_true_class(pairs):
    true = torch.tensor([t for t, _ in pairs])
    pred = torch.tensor([p for _, p in pairs])
    confusion = torch.bincount(true * 10 + pred, minlength=100).reshape(10, 10)
    acc = per_class_accuracy(confusion)
    for k in range(10):
        mask = true == k
        if mask.any():
            assert acc[k] == pytest.approx((pred[mask] == k).float().mean().item())
        else:
            assert math.isnan(acc[k])


def test_confusion_heatmap_z_is_the_matrix_with_class_names():
    matrix = torch.arange(100).reshape(10, 10)
    fig = confusion_heatmap(matrix, NAMES)
    heat = fig.data[0]
    assert np.array_equal(np.array(heat.z), matrix.numpy())
    assert list(heat.x) == list(NAMES) and list(heat.y) == list(NAMES)
    assert fig.layout.yaxis.autorange == "reversed"  # true class 0 on top, like a printed matrix
    assert "true class" in fig.layout.yaxis.title.text and "predicted" in fig.layout.xaxis.title.text


def test_confusion_heatmap_normalized_rows_sum_to_one():
    fig = confusion_heatmap(CONFUSION, NAMES[:3], normalize=True)
    z = np.array(fig.data[0].z)
    assert z[0].tolist() == pytest.approx([0.8, 0.2, 0.0])
    assert z[1].tolist() == pytest.approx([0.25, 0.75, 0.0])
    assert z[2].tolist() == [0, 0, 0]  # an empty row stays 0, not nan


def test_confusion_heatmap_rejects_mismatched_names():
    with pytest.raises(ValueError, match="class names"):
        confusion_heatmap(CONFUSION, NAMES)
    with pytest.raises(ValueError, match="square"):
        per_class_accuracy(np.zeros((2, 3)))


def test_per_class_accuracy_bars_show_each_class_and_the_overall():
    fig = per_class_accuracy_bars(CONFUSION, NAMES[:3])
    bars = fig.data[0]
    assert list(bars.y) == list(NAMES[:3])
    assert bars.x[0] == pytest.approx(0.8) and bars.x[1] == pytest.approx(0.75) and bars.x[2] is None
    assert list(bars.text) == ["80.0%", "75.0%", "–"]
    overall = fig.data[1]  # overall = trace / total, drawn across all classes
    assert list(overall.x) == pytest.approx([11 / 14, 11 / 14]) and list(overall.y) == [NAMES[0], NAMES[2]]
    assert overall.name == "overall 78.6%"


def test_prediction_title_marks_mistakes():
    assert prediction_title("Coat", "Coat") == "Coat<br><i>Coat</i>"
    assert prediction_title("Shirt", "Coat").endswith("✗")


def test_prediction_grid_shows_each_image_with_its_labels():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(8, 28, 28), dtype=np.uint8)
    fig = prediction_grid(
        images, [0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 6, 3, 4, 5, 6, 9], NAMES, columns=4, indices=range(100, 108)
    )
    assert len(fig.data) == 8
    for i, trace in enumerate(fig.data):
        assert np.array_equal(np.array(trace.z), images[i])
        assert trace.name == f"test image {100 + i}"
    titles = [a.text for a in fig.layout.annotations]
    assert titles[2] == "Pullover<br><i>Shirt</i> ✗"
    assert titles[7] == "Sneaker<br><i>Ankle boot</i> ✗"
    assert sum("✗" in t for t in titles) == 2
    assert fig.layout.coloraxis.colorscale is None  # the theme's scale: dark tiles in dark mode
    assert all(a.font.size >= 16 for a in fig.layout.annotations)  # labels readable on a projector
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (0, 255)
    assert fig.layout.yaxis.autorange == "reversed"  # row 0 of the image at the top
    assert_json_safe(fig)


def test_prediction_grid_rejects_mismatched_labels():
    with pytest.raises(ValueError):
        prediction_grid(np.zeros((3, 28, 28)), [0, 1], [0, 1, 2], NAMES)
    with pytest.raises(ValueError):
        prediction_grid(np.zeros((0, 28, 28)), [], [], NAMES)


def test_image_figure_is_the_image():
    image = np.arange(784).reshape(28, 28) % 256
    fig = image_figure(image, "test image 7")
    assert np.array_equal(np.array(fig.data[0].z), image)


def test_probability_bars_hold_the_probabilities_and_mark_the_true_class():
    probs = torch.softmax(torch.linspace(-2, 2, 10), 0)
    fig = probability_bars(probs, NAMES, true_label=4)
    bars = fig.data[0]
    assert list(bars.x) == pytest.approx(probs.tolist())
    assert bars.y[4] == "<b>Coat (true)</b>" and bars.y[9] == "Ankle boot"
    assert bars.marker.opacity[4] == 1 and bars.marker.opacity[0] < 1
    with pytest.raises(ValueError):
        probability_bars(probs[:5], NAMES)


@dataclass(frozen=True)
class Config:  # the fields of softmax_core.training.TrainConfig
    impl: str = "scratch"
    lr: float = 0.1
    batch_size: int = 256
    epochs: int = 10
    seed: int = 0
    init_std: float = 0.01


@dataclass(frozen=True)
class Run:
    config: Config


def test_config_label_names_every_setting_that_matters():
    assert config_label(Config()) == "scratch · lr 0.1 · batch 256 · 10 ep · seed 0"
    assert config_label(Config(impl="concise", lr=1e-3, init_std=0.1), "diverged") == (
        "concise · lr 0.001 · batch 256 · 10 ep · seed 0 · init std 0.1 (diverged)"
    )


def test_scratch_concise_pairs_match_on_everything_but_the_implementation():
    runs = [
        Run(Config()),
        Run(Config(impl="concise")),
        Run(Config(impl="concise", seed=1)),
        Run(Config(lr=1.0)),
        Run(Config(impl="concise", lr=1.0)),
        Run(Config(seed=2)),
    ]
    pairs = scratch_concise_pairs(runs)
    assert [(a.config, b.config) for a, b in pairs] == [
        (Config(), Config(impl="concise")),
        (Config(lr=1.0), Config(impl="concise", lr=1.0)),
    ]


# ---------------------------------------------------------------- diverged runs and epoch times

from softmax_core.figures.training_figures import (  # noqa: E402
    batch_loss_figure,
    diverged_label,
    epoch_time_sentence,
    recent_epoch_seconds,
    run_outcome,
    run_row,
)
from softmax_core.training import EpochMetrics  # noqa: E402


def test_diverged_label_names_epoch_and_batch_and_never_none():
    assert diverged_label((1, 7)) == "diverged in epoch 1, batch 7"
    assert "None" not in diverged_label(None) and diverged_label(None).startswith("diverged")
    assert run_outcome("diverged", 0, (1, 7)) == "diverged in epoch 1, batch 7"
    assert run_outcome("finished", 10) == "finished, 10 epochs"


def test_a_diverged_run_row_has_no_none_and_says_where_it_blew_up():
    row = run_row("scratch · lr 50", (), 0.4, "diverged", (1, 3))
    assert "None" not in " ".join(map(str, row.values())) and "nan" not in " ".join(map(str, row.values()))
    assert row["outcome"] == "diverged in epoch 1, batch 3"
    assert row["train loss"] == row["test acc"] == "–"
    done = run_row("scratch · lr 0.1", [EpochMetrics(1, 0.7861, 0.7477, 0.7913, 0.2)], 0.2, "finished")
    assert (done["train loss"], done["test acc"], done["outcome"]) == ("0.7861", "0.7913", "finished, 1 epoch")


def test_batch_loss_figure_draws_every_finite_batch_loss_and_names_the_blow_up():
    losses = [2.30, 2.05, 9.7, 310.0, 5.2e4, math.inf]
    fig = batch_loss_figure(losses, (1, 6), batches_per_epoch=235)
    (trace,) = fig.data
    assert list(trace.x) == [1, 2, 3, 4, 5, 6]
    assert list(trace.y) == [2.30, 2.05, 9.7, 310.0, 5.2e4, None]  # inf cannot be drawn: a gap
    assert fig.layout.yaxis.type == "log"  # four orders of magnitude
    assert "diverged in epoch 1, batch 6" in fig.layout.title.text
    json.dumps(fig.to_plotly_json(), cls=plotly.utils.PlotlyJSONEncoder)  # no nan/inf left to break the chart
    with pytest.raises(ValueError):
        batch_loss_figure([], None)


def test_batch_loss_figure_marks_epoch_starts_and_keeps_a_linear_axis_for_small_ranges():
    fig = batch_loss_figure([2.3, 2.2, 2.4, 2.1, 2.0], (2, 2), batches_per_epoch=3)
    assert fig.layout.yaxis.type != "log"
    assert [shape.x0 for shape in fig.layout.shapes] == [3.5]


def test_epoch_seconds_are_the_newest_first_and_the_sentence_states_them():
    old = [EpochMetrics(e, 1.0, 0.5, 0.5, 9.0) for e in (1, 2)]
    new = [EpochMetrics(e, 1.0, 0.5, 0.5, s) for e, s in ((1, 0.12), (2, 0.2), (3, 0.15))]
    seconds = recent_epoch_seconds([new, old], limit=4)
    assert seconds == [0.15, 0.2, 0.12, 9.0]
    text = epoch_time_sentence(recent_epoch_seconds([new]), 10)
    assert "0.12 to 0.2 s" in text and "median 0.15 s" in text and "10 epochs take about 1.5 s" in text
    assert "a few seconds" not in text
    assert "not timed" in epoch_time_sentence([], 10)
    assert epoch_time_sentence([1.234], 1).endswith("1 epoch takes about 1.2 s.")


def test_confusion_heatmap_follows_the_theme_and_its_numbers_stay_readable():
    fig = confusion_heatmap(CONFUSION, NAMES[:3])
    (heat,) = fig.data
    assert heat.colorscale is None and not heat.showscale  # the theme's sequential scale, like the cross-entropy map
    assert heat.textfont.size >= 12  # fixed size: plotly would otherwise shrink the counts to ~6 px on a phone


PHONE_CELL_PX = 21  # a confusion cell on a 390 px wide phone, measured in Chromium on the training page


def read_label(text: str) -> float:
    """The number a cell label stands for (the inverse of cell_label, for the tests)."""
    if text.endswith("k"):
        return float(text[:-1]) * 1_000
    return float("0" + text if text.startswith(".") else text)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10**9))
def test_a_count_label_fits_a_phone_cell_and_reads_as_the_count(count):
    """Exact below 1,000, then to the nearest thousand up to 99k (a test set of 10,000 stays there)."""
    label = cell_label(count)
    assert len(label) <= CELL_CHARS
    if count < 99_500:
        assert read_label(label) == count if count < 1_000 else abs(read_label(label) - count) <= 500


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0, max_value=1))
def test_a_fraction_label_fits_a_phone_cell_and_is_the_fraction_to_two_decimals(fraction):
    label = cell_label(fraction, fraction=True)
    assert len(label) <= CELL_CHARS and abs(read_label(label) - fraction) <= 0.005 + 1e-12


def test_confusion_cells_show_short_labels_in_a_font_that_fits_a_phone_cell_and_the_hover_keeps_the_count():
    matrix = np.array([[1000, 0, 0], [7, 950, 43], [120, 380, 500]])
    counts, fractions = confusion_heatmap(matrix, NAMES[:3]).data[0], confusion_heatmap(matrix, NAMES[:3], True).data[0]
    assert [list(r) for r in counts.text] == [["1k", "0", "0"], ["7", "950", "43"], ["120", "380", "500"]]
    assert [list(r) for r in fractions.text] == [["1", "0", "0"], [".01", ".95", ".04"], [".12", ".38", ".50"]]
    assert counts.texttemplate == "%{text}" and "%{z}" in counts.hovertemplate  # 1000 exact on hover
    assert np.array_equal(np.array(counts.z), matrix)
    # Digits are half an em wide (1000 measured 27.9 px at 14 px): the widest label leaves a pixel each side.
    assert CELL_CHARS * 0.5 * CELL_FONT_SIZE <= PHONE_CELL_PX - 2 and CELL_FONT_SIZE >= 12


def test_the_best_linear_reference_is_a_flat_line_at_its_value_on_both_curve_figures():
    from softmax_core.figures.training_figures import LabelledHistory, compare_curves, training_curves
    from softmax_core.training import EpochMetrics

    history = (EpochMetrics(1, 0.6, 0.8, 0.81, 0.1), EpochMetrics(2, 0.5, 0.83, 0.84, 0.1))
    for fig in (
        training_curves(history, epochs=2, reference=(0.8596, "best linear: 0.8596")),
        compare_curves([LabelledHistory("run", history)], "test_acc", reference=(0.8596, "best linear: 0.8596")),
    ):
        line = [t for t in fig.data if t.name == "best linear: 0.8596"]
        assert len(line) == 1 and list(line[0].y) == [0.8596, 0.8596] and line[0].line.dash == "dot"
    assert all(t.name != "best linear: 0.8596" for t in training_curves(history, epochs=2).data)


# ---------------------------------------------------------------- text alternatives and the numbers behind each chart

import re  # noqa: E402

from softmax_core.figures.training_figures import (  # noqa: E402
    batch_loss_alt,
    compare_curves_alt,
    compare_table,
    confusion_alt,
    confusion_table,
    history_table,
    image_alt,
    per_class_accuracy_alt,
    prediction_grid_alt,
    prediction_table,
    probability_bars_alt,
    probability_table,
    training_curves_alt,
)

PERCENT = r"(\d+(?:\.\d+)?) %"


def named_percents(text: str, names) -> dict[str, float]:
    """Every "<class name> 12.3 %" in a text alternative, as {name: 0.123}, in the text's order."""
    found = {}
    for name in names:
        match = re.search(re.escape(name) + r"(?: \(true class\))? " + PERCENT, text)
        if match:
            found[name] = float(match.group(1)) / 100
    return dict(sorted(found.items(), key=lambda item: text.index(item[0])))


def span_of(text: str, name: str) -> tuple[float, float]:
    """The "<name> a to b" pair of a curve in a text alternative (percentages as fractions)."""
    match = re.search(re.escape(name) + r" ([\d.]+)( %)? to ([\d.]+)( %)?", text)
    assert match, f"{name!r} has no span in {text!r}"
    scale = 100 if match.group(2) else 1
    return float(match.group(1)) / scale, float(match.group(3)) / scale


def test_training_curves_alt_gives_each_curves_first_and_last_value():
    text = training_curves_alt(HISTORY, epochs=10, reference=(0.8596, "best linear"))
    assert text.startswith("Training curves over 3 of 10 epochs")
    for attr, name in (("train_loss", "train loss"), ("train_acc", "train acc"), ("test_acc", "test acc")):
        first, last = span_of(text, name)
        assert first == pytest.approx(getattr(HISTORY[0], attr), abs=5e-4)
        assert last == pytest.approx(getattr(HISTORY[-1], attr), abs=5e-4)
    assert "best linear at 86.0 %" in text
    assert "3 epochs:" in training_curves_alt(HISTORY, epochs=3)
    assert "empty" in training_curves_alt((), epochs=7) and "7 epochs" in training_curves_alt((), epochs=7)


def test_training_curves_alt_of_a_run_that_blew_up_says_so_instead_of_printing_nan():
    history = (Epoch(1, 2.5, 0.4, 0.5), Epoch(2, float("nan"), 0.1, 0.1))
    text = training_curves_alt(history)
    assert "nan" not in text and "train loss 2.5." not in text
    assert "train loss 2.5," in text  # the one finite loss


def test_history_table_is_the_history():
    rows = history_table(HISTORY)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert [r["test acc"] for r in rows] == [m.test_acc for m in HISTORY]
    assert [r["train loss"] for r in rows] == [m.train_loss for m in HISTORY]


def test_compare_curves_alt_names_each_run_with_its_span_and_marks_a_diverged_one():
    other = (Epoch(1, 1.2, 0.6, 0.65), Epoch(2, 0.9, 0.7, 0.72))
    runs = [
        LabelledHistory("lr 0.1", HISTORY),
        LabelledHistory("lr 0.01", other),
        LabelledHistory("lr 50 (diverged)", (), "diverged in epoch 1, batch 4"),
    ]
    text = compare_curves_alt(runs, "test_acc", reference=(0.85, "best linear"))
    assert text.startswith("Test acc per epoch of 3 runs")
    for run in runs[:2]:
        first, last = span_of(text, run.label + ":")
        assert (first, last) == pytest.approx((run.history[0].test_acc, run.history[-1].test_acc), abs=5e-4)
    assert "lr 50 (diverged): no finished epoch, diverged in epoch 1, batch 4" in text
    assert "best linear at 85.0 %" in text
    first, last = span_of(compare_curves_alt(runs, "train_loss"), "lr 0.01:")
    assert (first, last) == pytest.approx((1.2, 0.9))
    many = [LabelledHistory(f"run {k}", HISTORY) for k in range(8)]
    assert "and 3 more" in compare_curves_alt(many) and "run 5" not in compare_curves_alt(many)


def test_compare_table_has_one_column_per_run_aligned_on_epochs():
    other = (Epoch(1, 1.2, 0.6, 0.65), Epoch(2, 0.9, 0.7, 0.72))
    rows = compare_table([LabelledHistory("a", HISTORY), LabelledHistory("b", other)], "test_acc")
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert [r["a"] for r in rows] == [m.test_acc for m in HISTORY]
    assert [r["b"] for r in rows] == [0.65, 0.72, None]  # the shorter run has no third epoch
    twice = compare_table([LabelledHistory("a", HISTORY), LabelledHistory("a", other)])
    assert len(twice[0]) == 3  # two runs with one label keep two columns


def test_a_diverged_run_on_the_compare_chart_is_marked_by_a_cross_and_words_not_colour_alone():
    partial = (Epoch(1, 2.5, 0.4, 0.5), Epoch(2, 3.0, 0.3, 0.35))
    fig = compare_curves(
        [LabelledHistory("fine", HISTORY), LabelledHistory("blown (diverged)", partial, "diverged in epoch 3, batch 9")]
    )
    fine, blown = fig.data
    assert list(blown.marker.symbol) == ["square", "x"]  # its own symbol, a cross where it stopped
    assert list(blown.text) == ["", "✗ diverged in epoch 3, batch 9"] and "text" in blown.mode
    assert "x" not in list(fine.marker.symbol) and not any(fine.text)
    assert fine.line.dash != blown.line.dash  # runs differ by dash as well as colour
    assert_json_safe(fig)


def random_confusion(seed: int = 3, classes: int = 10) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.integers(0, 60, size=(classes, classes))
    return matrix + np.diag(rng.integers(500, 950, size=classes))


def test_confusion_alt_counts_the_diagonal_and_names_the_three_commonest_mistakes():
    matrix = random_confusion()
    text = confusion_alt(matrix, NAMES)
    total, right = int(matrix.sum()), sum(int(matrix[k, k]) for k in range(10))
    assert f"{right:,} of {total:,} test images" in text and f"({100 * right / total:.1f} % right)" in text
    cells = sorted((-int(matrix[t, p]), t, p) for t in range(10) for p in range(10) if t != p)  # ties: row order
    expected = [f"{NAMES[t]} taken for {NAMES[p]} {-count:,} times" for count, t, p in cells[:3]]
    assert ", ".join(expected) in text
    assert "fractions" in confusion_alt(matrix, NAMES, normalize=True)
    assert confusion_alt(np.eye(3, dtype=int) * 5, NAMES[:3]).endswith("no mistakes.")


def test_confusion_table_rows_are_the_matrix_with_each_classs_accuracy():
    matrix = random_confusion()
    rows = confusion_table(matrix, NAMES)
    assert [r["true class"] for r in rows] == list(NAMES)
    assert [[r[name] for name in NAMES] for r in rows] == matrix.tolist()
    assert [r["accuracy"] for r in rows] == pytest.approx([matrix[k, k] / matrix[k].sum() for k in range(10)])


def test_per_class_accuracy_alt_lists_every_class_best_first_with_the_overall_accuracy():
    matrix = random_confusion(seed=5)
    text = per_class_accuracy_alt(matrix, NAMES)
    read = named_percents(text, NAMES)
    accuracy = {name: matrix[k, k] / matrix[k].sum() for k, name in enumerate(NAMES)}
    assert set(read) == set(NAMES)
    assert all(read[name] == pytest.approx(accuracy[name], abs=5e-4) for name in NAMES)
    assert list(read) == sorted(NAMES, key=lambda name: -accuracy[name])  # best first
    overall = float(re.search(r"overall " + PERCENT, text).group(1)) / 100
    assert overall == pytest.approx(np.trace(matrix) / matrix.sum(), abs=5e-4)


def test_prediction_grid_alt_counts_right_and_wrong_and_names_the_mistakes():
    true, predicted, indices = [0, 1, 2, 9, 6], [0, 1, 4, 7, 6], [10, 11, 12, 13, 14]
    text = prediction_grid_alt(true, predicted, NAMES, indices)
    assert text.startswith("5 test images") and "3 right, 2 wrong" in text
    assert "#12 Pullover taken for Coat" in text and "#13 Ankle boot taken for Sneaker" in text
    rows = prediction_table(true, predicted, NAMES, indices)
    assert [(r["test image"], r["true class"], r["predicted"], r["right"]) for r in rows][2] == (
        12,
        "Pullover",
        "Coat",
        False,
    )
    assert sum(r["right"] for r in rows) == 3


def test_image_alt_gives_its_title_size_and_the_share_of_non_blank_pixels():
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:18, 10:17] = 200  # 14 x 7 = 98 pixels of ink
    text = image_alt(image, "#7: Trouser")
    assert text.startswith("#7: Trouser: a 28 × 28 grey image")
    assert f"{100 * 98 / 784:.1f} %" in text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=100), min_size=10, max_size=10).filter(lambda v: sum(v) > 0))
def test_probability_bars_alt_names_every_class_at_one_percent_or_more_largest_first(weights):
    probs = np.asarray(weights) / sum(weights)
    text = probability_bars_alt(probs, NAMES, true_label=2)
    read = named_percents(text, NAMES)
    at_least_one_percent = [NAMES[k] for k in range(10) if probs[k] >= 0.01]
    assert set(read) == set(at_least_one_percent)
    assert all(read[name] == pytest.approx(probs[NAMES.index(name)], abs=5e-4) for name in read)
    assert [probs[NAMES.index(name)] for name in read] == sorted((probs[NAMES.index(n)] for n in read), reverse=True)
    assert ("the rest below 1 %" in text) == (len(read) < 10)
    assert ("(true class)" in text) == (NAMES[2] in read)


def test_probability_table_is_the_probabilities():
    probs = np.linspace(1, 10, 10) / 55
    rows = probability_table(probs, NAMES)
    assert [r["class"] for r in rows] == list(NAMES) and [r["probability"] for r in rows] == pytest.approx(probs)


def test_batch_loss_alt_gives_the_losses_range_and_the_batch_that_blew_up():
    losses = [2.30, 2.05, 9.7, 310.0, 5.2e4]
    text = batch_loss_alt(losses, (2, 3), batches_per_epoch=235)
    assert "diverged in epoch 2, batch 3" in text and "5 finite batch losses" in text
    assert f"batch {235 + 3}'s loss was inf or nan" in text
    low, high = re.search(r"lowest ([\d.e+]+), highest ([\d.e+]+)", text).groups()
    assert (float(low), float(high)) == pytest.approx((min(losses), max(losses)), rel=5e-3)
    assert float(re.search(r"the first ([\d.e+]+)", text).group(1)) == pytest.approx(losses[0], rel=5e-3)
    assert "one finite batch loss, 2.34;" in batch_loss_alt([2.34], (1, 2))
    assert "batch 3's loss" in batch_loss_alt([2.3, 2.2, math.inf])  # no record: the first non-finite one
