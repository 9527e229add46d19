"""A stored run on the test set: a grid of predictions, the confusion matrix, and one test image at a time.

The training page's evaluation section. Three tabs, bound to the address (``?train_tab=``); only the open
tab is built, so a hidden one costs nothing.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard.caches import training as cached
from dashboard.chart_numbers import the_numbers
from dashboard.confusion_cell import confusion_cell_picker
from dashboard.presenter import caption, chart
from dashboard.url_state import tab_param
from softmax_core.figures.inside_figures import clickable_confusion
from softmax_core.figures.training_figures import (
    confusion_alt,
    confusion_table,
    image_alt,
    image_figure,
    per_class_accuracy_alt,
    per_class_accuracy_bars,
    prediction_grid_alt,
    prediction_table,
    probability_bars,
    probability_bars_alt,
    probability_table,
)
from softmax_core.inspection import selected_cell
from softmax_core.run_store import StoredRun

EVAL_TAB = tab_param("train_tab", ["Predictions", "Confusion matrix", "One test image"])
GRID_SIZES = [4, 8, 12, 16, 24, 36]  # rows of four
CELL_IMAGES = 18  # a confusion cell lists its first images


def evaluation(run: StoredRun, data, runs_dir: str, data_dir: str) -> None:
    """The open tab of the three, or a sentence saying why this run is not evaluated."""
    if run.status != "finished":
        caption("A diverged run stopped partway, so it is not evaluated: lower the learning rate and train again.")
        return
    try:
        probs = cached.probabilities_on_test_set(runs_dir, run.key, data_dir)
    except ValueError as exc:  # damaged weights file: the store's message says what to do
        st.error(str(exc))
        return
    st.subheader("Evaluate on the test set")
    grid, confusion, one = EVAL_TAB.draw()  # only the open tab runs
    if grid.open:
        with grid:
            predictions_tab(data, probs, runs_dir, run.key, data_dir)
    if confusion.open:
        with confusion:
            confusion_tab(run, data, probs, runs_dir, data_dir)
    if one.open:
        with one:
            one_image_tab(data, probs)


def image_grid(data, predicted: np.ndarray, index: np.ndarray, runs_dir: str, key: str, data_dir: str, chart_key):
    """Test images ``index`` titled with their true and predicted class, described in words and in a table."""
    true = data.test_labels.numpy()[index]
    shown = tuple(index.tolist())
    chart(
        cached.prediction_grid(runs_dir, key, data_dir, shown),
        chart_key,
        alt=prediction_grid_alt(true, predicted[index], data.class_names, shown),
    )
    the_numbers(prediction_table(true, predicted[index], data.class_names, shown))


def grid_filter(names: list[str], wrong: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, int]:
    """The student's filter: (the test images it matches, how many to show)."""
    mistakes, cls, count = st.columns([1, 1.5, 1.5], vertical_alignment="bottom")
    only_mistakes = mistakes.toggle("Only mistakes", key="train_only_mistakes")
    chosen = cls.selectbox("True class", ["all classes", *names], key="train_grid_class")
    n = count.select_slider("Images", GRID_SIZES, value=12, key="train_grid_count")
    mask = wrong if only_mistakes else np.ones_like(wrong)
    if chosen != "all classes":
        mask = mask & (true == names.index(chosen))
    return np.flatnonzero(mask), n


def predictions_tab(data, probs: np.ndarray, runs_dir: str, key: str, data_dir: str) -> None:
    true = data.test_labels.numpy()
    predicted = probs.argmax(1)
    wrong = predicted != true
    matching, n = grid_filter(data.class_names, wrong, true)
    index = matching[:n]
    caption(
        f"{int(wrong.sum()):,} of {len(true):,} test images are misclassified ({wrong.mean():.1%}). "
        f"Showing the first {len(index)} of {len(matching):,} that match. Each title is the true label, "
        "the prediction below it in italics, and ✗ marks a mistake (as d2l's `predict_ch3`)."
    )
    if len(index) == 0:
        st.info("No test image matches this filter.")
        return
    image_grid(data, predicted, index, runs_dir, key, data_dir, "train_grid")


def commonest_mistake(confusion: np.ndarray) -> tuple[int, int, int]:
    """(true class, predicted class, count) of the largest cell off the diagonal."""
    off = confusion - np.diag(np.diag(confusion))
    t, p = np.unravel_index(off.argmax(), off.shape)
    return int(t), int(p), int(off[t, p])


def confusion_tab(run: StoredRun, data, probs: np.ndarray, runs_dir: str, data_dir: str) -> None:
    names = data.class_names
    confusion = run.confusion.numpy()
    normalize = st.toggle(
        "Show each row as fractions",
        key="train_confusion_normalize",
        help="Divide each row by its class's 1,000 test images: the diagonal becomes per-class accuracy.",
    )
    matrix, bars = st.columns([3, 2], gap="medium")
    event = chart(  # no toolbar over the top row on a phone; presenter-sized numbers on a projector
        clickable_confusion(confusion, names, normalize=normalize),
        "train_confusion",
        alt=confusion_alt(confusion, names, normalize=normalize),
        container=matrix,
        on_select="rerun",
        selection_mode="points",
    )
    chart(
        per_class_accuracy_bars(confusion, names, height=560),
        "train_class_accuracy",
        alt=per_class_accuracy_alt(confusion, names),
        container=bars,
    )
    t, p, count = commonest_mistake(confusion)
    caption(
        f"Rows are the true class, columns the prediction: the diagonal counts correct answers. "
        f"The most common mistake: **{names[t]}** taken for **{names[p]}** ({count} times). "
        "Click a cell, or pick it in the menu below, to list its test images."
    )
    the_numbers(
        confusion_table(confusion, names),
        column_config={"accuracy": st.column_config.NumberColumn(format="percent")},
    )
    cell = confusion_cell_picker(confusion, names, selected_cell(event.selection, names))  # the keyboard's way
    if cell is not None:
        cell_images(run, data, probs.argmax(1), cell, runs_dir, data_dir)


def cell_images(run: StoredRun, data, predicted: np.ndarray, cell: tuple[int, int], runs_dir: str, data_dir: str):
    """The test images of one confusion cell, and a link to the first one inside the model."""
    names = data.class_names
    index = np.flatnonzero((data.test_labels.numpy() == cell[0]) & (predicted == cell[1]))
    st.markdown(
        f"**{len(index):,}** test images of **{names[cell[0]]}** predicted as **{names[cell[1]]}**"
        + (f"; the first {min(len(index), CELL_IMAGES)}:" if len(index) else ".")
    )
    if not len(index):
        return
    shown = index[:CELL_IMAGES]
    image_grid(data, predicted, shown, runs_dir, run.key, data_dir, "train_confusion_grid")
    st.page_link(
        "pages/inside_model.py",
        label="Why? Open the first one inside the model",
        icon=":material/visibility:",
        query_params={"run": run.key, "in_image": str(int(shown[0]))},
    )


def next_mistake(true: np.ndarray, predicted: np.ndarray) -> None:
    wrong = np.flatnonzero(predicted != true)
    after = wrong[wrong > st.session_state.train_image]
    if len(wrong):
        st.session_state.train_image = int(after[0] if len(after) else wrong[0])


def one_image_tab(data, probs: np.ndarray) -> None:
    names = data.class_names
    true = data.test_labels.numpy()
    predicted = probs.argmax(1)
    pick, jump = st.columns([1, 1], vertical_alignment="bottom")
    st.session_state.setdefault("train_image", 0)
    i = pick.number_input("Test image #", min_value=0, max_value=len(true) - 1, step=1, key="train_image")
    jump.button("Next mistake →", key="train_next_mistake", on_click=next_mistake, args=(true, predicted))
    image, bars = st.columns([1, 2], gap="medium")
    pixels, title = data.test_images[i].numpy(), f"#{i}: {names[true[i]]}"
    chart(
        image_figure(pixels, title=title, height=360), "train_image_fig", alt=image_alt(pixels, title), container=image
    )
    chart(
        probability_bars(probs[i], names, true_label=int(true[i]), height=360),
        "train_probs",
        alt=probability_bars_alt(probs[i], names, true_label=int(true[i])),
        container=bars,
    )
    p_true = float(probs[i, true[i]])
    verdict = "right" if predicted[i] == true[i] else "wrong"
    st.markdown(
        f"Predicted **{names[predicted[i]]}** ({probs[i, predicted[i]]:.1%}): {verdict}. "
        f"The true class gets $\\hat y_{{y}} = {p_true:.4f}$, so this image's loss is "
        f"$-\\log \\hat y_{{y}} = {-np.log(max(p_true, 1e-45)):.3f}$."
    )
    the_numbers(
        probability_table(probs[i], names),
        column_config={"probability": st.column_config.NumberColumn(format="%.4f")},
    )
