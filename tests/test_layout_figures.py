"""Layout of the figures, without a browser: nothing cut at the top, no legend on a title, every label there.

Issue 17 item 5: on a projector (presenter mode, text x1.3) subplot titles were cut at the figure's
top edge, titles ran into legends on a phone, bar charts labelled every other class, negative
scores ran into the class names, and a single batch loss sat on an axis ticked 0 to 1.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.presenter import TEXT_SCALE
from softmax_core.calibration import ReliabilityBins
from softmax_core.classes import FASHION_MNIST_CLASSES as NAMES
from softmax_core.figures import calibration_figures as cf
from softmax_core.figures import inside_figures, loss_figures, softmax_figures
from softmax_core.figures import training_figures as tf
from softmax_core.figures.style import TITLE_CHARS, scaled_text, top_room, wrap_title
from softmax_core.inspection import explain, explained_classes
from softmax_core.softmax import zero_temperature_limit
from softmax_core.training import EpochMetrics
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

RUN = "scratch · lr 0.1 · batch 256 · 10 ep · seed 0"
HISTORY = [EpochMetrics(e, 0.9 / e, 0.7 + 0.01 * e, 0.69 + 0.01 * e, 0.2) for e in range(1, 11)]


def bins(counts, accuracy, confidence) -> ReliabilityBins:
    edges = np.linspace(0, 1, len(counts) + 1)
    return ReliabilityBins(edges, np.asarray(counts), np.asarray(accuracy, float), np.asarray(confidence, float))


BEFORE = bins([0, 3, 40, 400, 4557], [np.nan, 0.33, 0.5, 0.7, 0.9], [np.nan, 0.3, 0.5, 0.7, 0.95])
AFTER = bins([1, 2, 60, 500, 4437], [1.0, 0.5, 0.5, 0.7, 0.9], [0.15, 0.3, 0.5, 0.7, 0.92])


def every_figure():
    """One of each figure the pages draw with a title, subplot titles or a legend (name, figure)."""
    rng = np.random.default_rng(0)
    image = rng.random(784)
    weight, bias = rng.normal(0, 0.1, (784, 10)), rng.normal(0, 0.1, 10)
    why = explain(weight, bias, image)
    sweep = softmax_figures.temperature_sweep([1.0, 2.0, 3.0])
    return [
        ("reliability", cf.reliability_diagram(BEFORE, AFTER, 0.906)),
        ("histogram", cf.confidence_histogram(BEFORE, AFTER, 0.906, 0.85)),
        ("T curves", cf.temperature_curves([0.1, 1.0, 10.0], [2, 0.4, 1.6], [0.1, 0.02, 0.6], 0.906, 0.9)),
        (
            "compare runs",
            cf.compare_runs_chart(
                [RUN, "L-BFGS (best linear) · L2 3e-05 · 60 it"], [0.04, 0.03], [0.02, 0.01], [0.88, 1.1]
            ),
        ),  # fmt: skip
        ("training curves", tf.training_curves(HISTORY, 10, title=RUN, reference=(0.85, "best linear"))),
        ("compare curves", tf.compare_curves([tf.LabelledHistory(RUN, HISTORY)], "test_acc")),
        ("prediction grid", tf.prediction_grid(np.zeros((8, 28, 28)), range(8), range(8), NAMES)),
        ("batch loss", tf.batch_loss_figure([2.34], (1, 2), batches_per_epoch=235)),
        ("probability bars", tf.probability_bars(np.full(10, 0.1), NAMES, true_label=9)),
        ("score bars", inside_figures.score_bars(why.scores, NAMES, true_label=3)),
        ("contributions", inside_figures.contribution_maps(why, explained_classes(why), NAMES)),
        ("templates", inside_figures.weight_templates(weight, bias, NAMES)),
        (
            "softmax bars",
            softmax_figures.probability_bars(["a", "b", "c"], [0.1, 0.2, 0.7], [0, 0, 1], "Prediction: c"),
        ),
        ("softmax curves", softmax_figures.temperature_curves(sweep, ["a", "b", "c"], 1.0, [0.09, 0.24, 0.67])),
        ("loss compare", loss_figures.compare_figure("loss", 1.0, 0.0, 1.0, 4.0)),
        ("one loss", loss_figures.one_loss_figure("Huber", 2.0, 1.0, 1.0, 4.0)),
    ]


FIGURES = every_figure()


@pytest.mark.parametrize("scale", [1.0, TEXT_SCALE], ids=["screen", "presenter"])
@pytest.mark.parametrize("name, fig", FIGURES, ids=[name for name, _ in FIGURES])
def test_the_top_margin_holds_the_title_and_every_subplot_title(name, fig, scale):
    """Presenter mode enlarges the text: the margin grows with it (before: 20 px for 19.5 px titles, cut through)."""
    shown = scaled_text(fig, scale) if scale != 1.0 else fig
    assert shown.layout.margin.t >= top_room(shown) - 0.5
    title = shown.layout.title
    if title.text:  # hung from the top edge, so the margin's size is what the title needs, whatever plotly does
        assert (title.yref, title.y, title.yanchor) == ("container", 1, "top")


def test_top_room_counts_lines_and_sizes():
    fig = tf.training_curves(HISTORY, 10, title=RUN)  # two lines of 18 px
    assert top_room(fig) == pytest.approx(8 + 2 * 18 * 1.3 + 6)
    presenter = scaled_text(cf.reliability_diagram(BEFORE, AFTER, 0.9), TEXT_SCALE)
    assert top_room(presenter) >= 15 * TEXT_SCALE * 1.3  # one line of subplot title at presenter size


@pytest.mark.parametrize("name, fig", FIGURES, ids=[name for name, _ in FIGURES])
def test_no_legend_above_a_plot_that_has_a_title(name, fig):
    """A legend above the plot wraps upwards on a phone into the title: titled figures keep it at the bottom."""
    layout = fig.layout
    titled = bool(layout.title.text) or any(
        n.yref == "paper" and n.y is not None and n.y >= 0.999 and n.yanchor == "bottom" for n in layout.annotations
    )
    shown = [t for t in fig.data if t.showlegend is not False and t.name]
    if titled and len(shown) > 1 and layout.showlegend is not False:
        legend = layout.legend
        assert (legend.yref, legend.y, legend.yanchor) == ("container", 0, "bottom"), name


def test_long_titles_wrap_for_a_phone_and_run_labels_break_between_their_parts():
    assert wrap_title(RUN) == "scratch · lr 0.1 · batch 256<br>10 ep · seed 0"
    text = "Loss per batch until it blew up: diverged in epoch 1, batch 2"
    assert all(len(line) <= TITLE_CHARS for line in wrap_title(text).split("<br>"))
    assert wrap_title(text).replace("<br>", " ") == text
    assert wrap_title("Training (updates each epoch)") == "Training (updates each epoch)"
    assert tf.training_curves(HISTORY, 10, title=RUN).layout.title.text == wrap_title(RUN)


@pytest.mark.parametrize("builder", ["scores", "probabilities"])
def test_bars_label_all_ten_classes(builder):
    """Plotly's automatic ticks dropped every other class at presenter size, the top two among them."""
    values = np.linspace(-3, 7, 10) if builder == "scores" else np.full(10, 0.1)
    build = inside_figures.score_bars if builder == "scores" else tf.probability_bars
    fig = scaled_text(build(values, NAMES, true_label=9, height=330), TEXT_SCALE)
    axis = fig.layout.yaxis
    assert axis.tickmode == "array" and list(axis.tickvals) == list(fig.data[0].y) and len(axis.tickvals) == 10
    assert axis.ticktext[9] == "<b>Ankle boot (true)</b>"
    assert fig.data[0].constraintext == "none"  # values at the labels' size, not shrunk to the bar's thickness
    assert fig.layout.height >= tf.ROW_PX * 10 + tf.AXIS_PX  # asked for 330: ten values at x1.3 overlapped there


def test_negative_scores_stand_right_of_zero_not_on_the_class_names():
    scores = np.array([-4.75, -4.89, -2.72, -3.98, -2.59, 4.12, -2.13, 7.57, 1.87, 7.33])
    fig = inside_figures.score_bars(scores, NAMES, true_label=9)
    (bar,) = fig.data
    assert [t for t, s in zip(bar.text, scores) if s < 0] == [""] * 6  # no text left of a negative bar
    assert [t for t, s in zip(bar.text, scores) if s >= 0] == ["4.12", "7.57", "1.87", "7.33"]
    notes = {n.y: n for n in fig.layout.annotations}
    for name, score in zip(bar.y, scores):
        if score < 0:
            note = notes[name]
            assert (note.x, note.xanchor, note.text) == (0, "left", f"{score:.2f}")
    low, high = fig.layout.xaxis.range
    assert low < scores.min() and high > scores.max()


def test_prediction_grid_has_four_columns_so_titles_fit_a_phone():
    fig = tf.prediction_grid(np.zeros((12, 28, 28)), [9] * 12, [0] * 12, NAMES)
    xs = sorted({round(a.x, 3) for a in fig.layout.annotations})
    assert len(xs) == 4 and len(fig.layout.annotations) == 12


def test_a_single_batch_loss_gets_axes_that_fit_it_and_the_blow_up_is_marked():
    """lr = 100: one finite batch loss (2.34), the blow-up in batch 2. It was one dot on an axis ticked 0 to 1."""
    fig = tf.batch_loss_figure([2.344], (1, 2), batches_per_epoch=235)
    low, high = fig.layout.yaxis.range
    assert low == 0 and 2.344 < high < 3
    assert tuple(fig.layout.xaxis.range) == (0.5, 2.5)
    assert any("batch 2" in n.text and "inf or nan" in n.text for n in fig.layout.annotations)
    assert tf.blow_up_batch([2.3, math.inf], None, None) == 2
    assert tf.blow_up_batch([2.3, 2.2], (2, 3), 235) == 235 + 3


def test_compare_runs_stacks_its_two_charts_and_wraps_the_run_labels():
    fig = cf.compare_runs_chart([RUN, "concise · lr 0.1 · batch 256 · 10 ep · seed 1"], [0.04, 0.04], [0.02, 0.02],
                                [0.9, 0.95])  # fmt: skip
    assert tuple(fig.layout.xaxis.domain) == tuple(fig.layout.xaxis2.domain) == (0.0, 1.0)  # full width each
    assert fig.layout.yaxis.domain[0] > fig.layout.yaxis2.domain[1]  # one above the other
    for label in fig.layout.yaxis.ticktext:
        assert all(len(line) <= cf.LABEL_CHARS for line in label.split("<br>"))


def test_the_current_temperature_is_labelled_above_the_plot_and_the_cold_limit_inside_it():
    """ "T → 0: hardmax" and "current T = 1" overlapped in presenter mode: one now stands on the plot's top edge."""
    sweep = softmax_figures.temperature_sweep([1.0, 2.0, 3.0])
    fig = softmax_figures.temperature_curves(sweep, ["a", "b", "c"], 0.05, [0.0, 0.0, 1.0])
    [current] = [n for n in fig.layout.annotations if n.text.startswith("current T")]
    [cold] = [n for n in fig.layout.annotations if n.text.startswith("T → 0")]
    assert (current.yref, current.y, current.yanchor) == ("paper", 1.0, "bottom")
    assert (cold.yref, cold.yanchor, cold.y) == ("y", "bottom", 1.0) and fig.layout.yaxis.range[1] > 1.1
    assert cold.text == "T → 0: hardmax (one-hot argmax)"


def test_tied_top_logits_are_drawn_splitting_the_mass_not_one_hot():
    sweep = softmax_figures.temperature_sweep([3.0, 3.0, 1.0])
    assert sweep.cold_limit == (0.5, 0.5, 0.0)
    fig = softmax_figures.temperature_curves(sweep, ["a", "b", "c"], 1.0, [0.47, 0.47, 0.06])
    assert any(n.text == "T → 0: the 2 tied top classes get 1/2 each" for n in fig.layout.annotations)
    assert fig.data[0].y[0] == pytest.approx(0.5) and fig.data[1].y[0] == pytest.approx(0.5)  # the curves agree


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-5, 5), min_size=2, max_size=8).map(lambda xs: [float(x) for x in xs]),
)
def test_zero_temperature_limit_is_what_torch_softmax_tends_to(logits):
    """Against torch's own softmax at a tiny T (integer logits: ties happen, other gaps are at least 1)."""
    o = torch.tensor(logits, dtype=torch.float64)
    torch.testing.assert_close(zero_temperature_limit(o), torch.softmax(o / 1e-3, dim=0), atol=1e-12, rtol=0)


def test_a_nearly_empty_bin_that_sets_mce_is_named():
    """MCE rose from 0.22 to 0.80 after scaling because one bin held a single image."""
    assert cf.worst_bin(AFTER)[:2] == (0, 1)
    note = cf.sparse_mce_note({"T = 1": BEFORE, "T = 0.906": AFTER})
    assert note is not None and "at T = 0.906, the bin (0.00, 0.20] with 1 image (gap 0.85)" in note
    assert "T = 1," not in note  # before scaling, MCE came from a full bin
    full = bins([100, 200, 300, 400, 4000], [0.1, 0.3, 0.5, 0.7, 0.9], [0.12, 0.3, 0.5, 0.7, 0.95])
    assert cf.sparse_mce_note({"T = 1": full}) is None


def contrast(colour: str, background: str) -> float:
    """WCAG contrast ratio of two sRGB colours (#RRGGBB)."""

    def luminance(hex_colour: str) -> float:
        channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(colour), luminance(background)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_every_chart_colour_stands_out_from_its_background():
    """Okabe-Ito's yellow (the Shirt curve) was 1.3:1 on white, hard to see on a projector."""
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["theme"]
    backgrounds = {"light": "#FFFFFF", "dark": "#0E1117"}  # Streamlit's own page backgrounds
    for mode, background in backgrounds.items():
        ratios = {c: round(contrast(c, background), 2) for c in config[mode]["chartCategoricalColors"]}
        assert min(ratios.values()) >= 2.0, (mode, ratios)
    assert contrast("#F0E442", "#FFFFFF") < 1.5  # the test can fail: the old yellow would
