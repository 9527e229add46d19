r"""Train on Fashion-MNIST: the chapter's training loop, its curves, and what the model gets wrong.

Trainings run in background threads owned by one ``TrainingJobs`` per server
(``st.cache_resource``); the page only starts them and polls them from a
fragment, so a rerun, a second tab or a closed tab never kills or duplicates
one. Finished runs live in the run store and show at once on the next visit.
"""

from __future__ import annotations

import math
import warnings
from datetime import datetime, timezone

import numpy as np
import streamlit as st

from dashboard import server_caches as cached
from dashboard import user_text
from dashboard.deep_links import run_through_navigation
from dashboard.fashion_data import data_dir as shared_data_dir
from dashboard.fashion_data import fashion_mnist
from dashboard.fashion_data import loaded as load_data
from dashboard.gradient_by_hand import derivation_section
from dashboard.lecture import class_experiment
from dashboard.links import page_link
from dashboard.presenter import caption, chart, share_row
from dashboard.training_jobs import poll_job, start_job, training_jobs
from dashboard.url_state import check_link, choice_param, float_param, int_param, share_and_reset, tab_param
from softmax_core import export
from softmax_core.figures.training_figures import (
    METRIC_NAMES,
    LabelledHistory,
    batch_loss_figure,
    config_label,
    diverged_label,
    epoch_time_sentence,
    final_gap,
    image_figure,
    per_class_accuracy_bars,
    probability_bars,
    recent_epoch_seconds,
    run_row,
    scratch_concise_pairs,
    training_curves,
)
from softmax_core.linear_ceiling import best_linear_label, best_linear_run
from softmax_core.run_store import RunStore, StoredRun, default_runs_dir
from softmax_core.train_or_load import usable_run
from softmax_core.training import (
    BYHAND,
    IMPL_NAMES,
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_INIT_STD,
    MAX_LR,
    MAX_SEED,
    MAX_TRAIN_SIZE,
    MIN_LR,
    TrainConfig,
)
from softmax_core.training_queue import JobSnapshot

run_through_navigation()  # first: a deep link on a fresh server must go through streamlit_app.py

# The chapter's setting is the default; the keys are also the URL parameter names.
IMPL = choice_param("train_impl", "scratch", IMPL_NAMES)
LR = float_param("train_lr", 0.1, MIN_LR, MAX_LR)
BATCH = int_param("train_batch_size", 256, 1, MAX_BATCH_SIZE)
EPOCHS = int_param("train_epochs", 10, 1, MAX_EPOCHS)
SEED = int_param("train_seed", 0, 0, MAX_SEED)
INIT_STD = float_param("train_init_std", 0.01, 0.0, MAX_INIT_STD)
EVAL_TAB = tab_param("train_tab", ["Predictions", "Confusion matrix", "One test image"])
PARAMS = [IMPL, LR, BATCH, EPOCHS, SEED, INIT_STD, EVAL_TAB]
URL = {"bind": "query-params"}  # each setting lives in the link under its key


# Where the from-scratch model is not the chapter's code, said wherever it shows.
SCRATCH_SOFTMAX_NOTE = (
    "One difference from the chapter's code: this from-scratch `softmax` subtracts each row's largest score "
    "before `exp` (the same probabilities wherever the chapter's are finite); d2l 3.6's is plain "
    "`exp(X) / exp(X).sum(1)`. When a run blows up, the chapter's `exp` overflows to inf and inf / inf is nan, "
    "so its loss reads **nan**; here `exp` never overflows, the true class's probability rounds to 0 instead, and "
    "the loss reads **inf**. Same blow-up, another symptom."
)


def when(created_at: str) -> str:
    try:
        return datetime.fromisoformat(created_at).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return created_at


# ---------------------------------------------------------------- the form


def settings_form() -> bool:
    """The hyperparameters; one submit trains (or loads) once."""
    # Enter in a field does not train: a student changing the epochs expects to press Train.
    with st.form("train_form", enter_to_submit=False):
        # Train sits under the number fields, beside the radio, not under both: the three-choice radio is the
        # tallest field, and a button below it pushed the curves out of a projector's first screen (1280x720).
        impl, fields = st.columns([1.6, 5])
        impl.radio("Implementation", IMPL.options, IMPL.index, key=IMPL.key, format_func=IMPL.label, **URL,
                   help=SCRATCH_SOFTMAX_NOTE)  # fmt: skip
        lr, batch, epochs, seed, std = fields.columns(5)
        lr.number_input("Learning rate η", MIN_LR, MAX_LR, LR.default, step=0.01, format="%g", key=LR.key, **URL)
        # Whole numbers in float inputs: 1.67's int input raises on a link value such as 1e400 (OverflowError).
        # "%.0f", not "%d": a float input with an integer format logs a warning with a stack trace on every run.
        batch.number_input(
            "Batch size", 1.0, float(MAX_BATCH_SIZE), float(BATCH.default), 1.0, "%.0f", BATCH.key, **URL
        )
        epochs.number_input("Epochs", 1.0, float(MAX_EPOCHS), float(EPOCHS.default), 1.0, "%.0f", EPOCHS.key, **URL)
        seed.number_input("Seed", 0.0, float(MAX_SEED), float(SEED.default), 1.0, "%.0f", SEED.key, **URL)
        std.number_input(
            "Init std σ",
            0.0,
            MAX_INIT_STD,
            INIT_STD.default,
            step=0.005,
            format="%g",
            key=INIT_STD.key,
            **URL,
            help="The initial weights are drawn from N(0, σ²); the bias starts at 0.",
        )
        return fields.form_submit_button(
            "Train",
            type="primary",
            key="train_submit",
            help="Trains with these settings, or shows the stored run at once if there is one.",
        )


def chosen_config() -> TrainConfig | None:
    values = {
        name: st.session_state[p.key]
        for name, p in zip(("impl", "lr", "batch_size", "epochs", "seed", "init_std"), PARAMS)
    }
    values |= {name: int(values[name]) for name in ("batch_size", "epochs", "seed")}  # whole numbers in float inputs
    try:
        return TrainConfig(**values).validated()
    except ValueError as exc:
        user_text.error(f"These settings cannot be trained: {exc}.")
        return None


# ---------------------------------------------------------------- a training in progress


def live_curves(snap: JobSnapshot) -> None:
    """The curves so far: they change once per epoch, and the cached figure is redrawn in between."""
    chart(
        cached.training_curves(snap.history, epochs=snap.config.epochs, title="Training (updates each epoch)"),
        "train_live_curves",
    )


# ---------------------------------------------------------------- a stored run


def best_linear(store: RunStore, fingerprint: str) -> tuple[float, str] | None:
    """(test accuracy, label) of the best stored L-BFGS ceiling run on this data, for a reference line."""
    with warnings.catch_warnings():  # a damaged run is reported by the comparison below
        warnings.simplefilter("ignore")
        best = best_linear_run(store.list_runs(), fingerprint)
    return (best.history[-1].test_acc, best_linear_label(best)) if best is not None else None


def ago(created_at: str) -> str:
    """'3 min ago' for a run stored in the last hour, else the date: a run trained a moment ago is not 'cached'."""
    try:
        seconds = (datetime.now(timezone.utc) - datetime.fromisoformat(created_at)).total_seconds()
    except ValueError:
        return created_at
    if 0 <= seconds < 60:
        return "just now"
    return f"{seconds / 60:.0f} min ago" if 0 <= seconds < 3600 else f"on {when(created_at)}"


def run_header(run: StoredRun, fresh: bool, reference: tuple[float, str] | None) -> None:
    """The curves first (in the first screen of a projector), then how the run was obtained and its numbers."""
    if run.status == "diverged":
        batches = math.ceil(MAX_TRAIN_SIZE / run.config.batch_size)
        if run.batch_losses:
            chart(batch_loss_figure(run.batch_losses, run.diverged_at, batches_per_epoch=batches), "train_curves")
        st.warning(
            f"**Diverged**: {diverged_label(run.diverged_at)}, after {len(run.history)} full epoch(s). "
            + user_text.literal(run.message),  # stored text: shown as text, never as markdown
            icon=":material/warning:",
        )
        if run.config.impl == "scratch":
            st.markdown(SCRATCH_SOFTMAX_NOTE)
    else:
        chart(
            cached.training_curves(
                run.history, epochs=run.config.epochs, title=config_label(run.config, run.status), reference=reference
            ),
            "train_curves",
        )
    if fresh and run.status == "finished":
        st.success(
            f"Trained just now: {len(run.history)} epoch(s) in {run.train_seconds:.1f} s, stored for next time.",
            icon=":material/check_circle:",
        )
    elif fresh:
        caption("Stored as diverged, so this link shows the same outcome again without training.")
    else:
        st.info(
            f"**Cached**: loaded from the run store, trained {ago(run.created_at)} in {run.train_seconds:.1f} s.",
            icon=":material/inventory_2:",
        )
    if run.history and run.status == "finished":
        last = run.history[-1]
        cols = st.columns(4)
        cols[0].metric("Test accuracy", f"{last.test_acc:.1%}" if np.isfinite(last.test_acc) else "–")
        cols[1].metric("Train accuracy", f"{last.train_acc:.1%}" if np.isfinite(last.train_acc) else "–")
        cols[2].metric("Train loss", f"{last.train_loss:.4f}" if np.isfinite(last.train_loss) else "–")
        cols[3].metric("Training time", f"{run.train_seconds:.1f} s")


def look_further(run: StoredRun, runs_dir: str) -> None:
    """Where to go next with this run: inside the model, its calibration, and its files."""
    inside, calibration = st.columns(2)
    page_link("pages/inside_model.py", "Look inside this model", ":material/visibility:", {"run": run.key}, inside)
    page_link("pages/calibration.py", "How well calibrated is it?", ":material/tune:", {"run": run.key}, calibration)
    with st.expander("Download this run (metrics, weights)", icon=":material/download:"):
        weights_name = export.file_name(run.config, "weights", "pt")
        left, right = st.columns(2)
        left.download_button(
            "Metrics (CSV)",
            export.metrics_csv(run.history),
            file_name=export.file_name(run.config, "metrics", "csv"),
            mime="text/csv",
            icon=":material/table:",
            key="train_download_metrics",
            on_click="ignore",
        )
        right.download_button(
            "Weights (PyTorch state dict)",
            cached.weights_file(runs_dir, run.key),
            file_name=weights_name,
            mime="application/octet-stream",
            icon=":material/download:",
            key="train_download_weights",
            on_click="ignore",
        )
        st.code(export.load_snippet(weights_name), language="python", wrap_lines=True)
        caption(export.SCRATCH_NOTE)


def predictions_tab(data, probs: np.ndarray, runs_dir: str, key: str, data_dir: str) -> None:
    names = data.class_names
    true = data.test_labels.numpy()
    predicted = probs.argmax(1)
    wrong = predicted != true
    mistakes, cls, count = st.columns([1, 1.5, 1.5], vertical_alignment="bottom")
    only_mistakes = mistakes.toggle("Only mistakes", key="train_only_mistakes")
    chosen = cls.selectbox("True class", ["all classes", *names], key="train_grid_class")
    n = count.select_slider("Images", [4, 8, 12, 16, 24, 36], value=12, key="train_grid_count")  # rows of four
    mask = wrong if only_mistakes else np.ones_like(wrong)
    if chosen != "all classes":
        mask = mask & (true == names.index(chosen))
    index = np.flatnonzero(mask)[:n]
    caption(
        f"{int(wrong.sum()):,} of {len(true):,} test images are misclassified ({wrong.mean():.1%}). "
        f"Showing the first {len(index)} of {int(mask.sum()):,} that match. Each title is the true label, "
        "the prediction below it in italics, and ✗ marks a mistake (as d2l's `predict_ch3`)."
    )
    if len(index) == 0:
        st.info("No test image matches this filter.")
        return
    chart(cached.prediction_grid(runs_dir, key, data_dir, tuple(index.tolist())), "train_grid")


def confusion_tab(run: StoredRun, names) -> None:
    from softmax_core.figures.inside_figures import clickable_confusion  # a heatmap click selects nothing
    from softmax_core.inspection import selected_cell

    confusion = run.confusion.numpy()
    off = confusion - np.diag(np.diag(confusion))
    t, p = np.unravel_index(off.argmax(), off.shape)
    normalize = st.toggle(
        "Show each row as fractions",
        key="train_confusion_normalize",
        help="Divide each row by its class's 1,000 test images: the diagonal becomes per-class accuracy.",
    )
    matrix, bars = st.columns([3, 2], gap="medium")
    with matrix:
        event = chart(  # no toolbar over the top row on a phone; presenter-sized numbers on a projector
            clickable_confusion(confusion, names, normalize=normalize),
            "train_confusion",
            on_select="rerun",
            selection_mode="points",
        )
    with bars:
        chart(per_class_accuracy_bars(confusion, names, height=560), "train_class_accuracy")
    caption(
        f"Rows are the true class, columns the prediction: the diagonal counts correct answers. "
        f"The most common mistake: **{names[t]}** taken for **{names[p]}** ({off[t, p]} times). "
        "Click a cell to list its test images."
    )
    cell = selected_cell(event.selection, names)
    if cell is None:
        return
    data_dir = shared_data_dir()
    data = load_data(data_dir)
    true = data.test_labels.numpy()
    predicted = cached.probabilities_on_test_set(str(default_runs_dir()), run.key, data_dir).argmax(1)
    index = np.flatnonzero((true == cell[0]) & (predicted == cell[1]))
    st.markdown(
        f"**{len(index):,}** test images of **{names[cell[0]]}** predicted as **{names[cell[1]]}**"
        + (f"; the first {min(len(index), 18)}:" if len(index) else ".")
    )
    if len(index):
        shown = index[:18]
        chart(
            cached.prediction_grid(str(default_runs_dir()), run.key, data_dir, tuple(shown.tolist())),
            "train_confusion_grid",
        )
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
    with image:
        chart(image_figure(data.test_images[i].numpy(), title=f"#{i}: {names[true[i]]}", height=360), "train_image_fig")
    with bars:
        chart(probability_bars(probs[i], names, true_label=int(true[i]), height=360), "train_probs")
    p_true = float(probs[i, true[i]])
    verdict = "right" if predicted[i] == true[i] else "wrong"
    st.markdown(
        f"Predicted **{names[predicted[i]]}** ({probs[i, predicted[i]]:.1%}): {verdict}. "
        f"The true class gets $\\hat y_{{y}} = {p_true:.4f}$, so this image's loss is "
        f"$-\\log \\hat y_{{y}} = {-np.log(max(p_true, 1e-45)):.3f}$."
    )


def evaluation(run: StoredRun, data, runs_dir: str, data_dir: str) -> None:
    if run.status != "finished":
        caption("A diverged run stopped partway, so it is not evaluated: lower the learning rate and train again.")
        return
    try:
        probs = cached.probabilities_on_test_set(runs_dir, run.key, data_dir)
    except ValueError as exc:  # damaged weights file: the store's message says what to do
        st.error(str(exc))
        return
    st.subheader("Evaluate on the test set")
    grid, confusion, one = st.tabs(EVAL_TAB.options, key=EVAL_TAB.key, **URL)  # only the open tab runs
    if grid.open:
        with grid:
            predictions_tab(data, probs, runs_dir, run.key, data_dir)
    if confusion.open:
        with confusion:
            confusion_tab(run, data.class_names)
    if one.open:
        with one:
            one_image_tab(data, probs)


# ---------------------------------------------------------------- compare stored runs


def compare(store: RunStore, current_key: str | None) -> None:
    st.subheader("Compare stored runs")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = store.list_runs()
    for warning in caught:
        user_text.warning(str(warning.message))
    if not runs:
        st.info("No stored runs yet. Train a few settings (e.g. learning rate 0.01, 0.1 and 1) to compare them here.")
        return
    by_key = {run.key: run for run in runs}
    selected = [k for k in st.session_state.get("train_compare", []) if k in by_key]
    if "train_compare" not in st.session_state and current_key not in by_key:
        selected = [runs[0].key]
    # The run on screen joins the comparison once (each time the settings change to a stored run).
    if current_key in by_key and st.session_state.get("train_compare_added") != current_key:
        st.session_state.train_compare_added = current_key
        selected = selected if current_key in selected else [*selected, current_key]
    st.session_state.train_compare = selected
    picked = st.multiselect(
        "Runs",
        list(by_key),
        key="train_compare",
        format_func=lambda k: config_label(by_key[k].config, by_key[k].status),
        placeholder="Pick stored runs to overlay",
    )
    metric = (
        st.segmented_control(
            "Curve", list(METRIC_NAMES), format_func=METRIC_NAMES.get, default="test_acc", key="train_compare_metric"
        )
        or "test_acc"
    )
    if picked:
        chosen = [by_key[k] for k in picked]
        reference = best_linear(store, chosen[0].data_fingerprint) if metric == "test_acc" else None
        chart(
            cached.compare_curves(
                tuple(LabelledHistory(config_label(r.config, r.status), r.history) for r in chosen),
                metric,
                reference=reference,
            ),
            "train_compare_chart",
        )
        if reference is not None:
            caption(
                f"Dotted: {reference[1]} (the L-BFGS ceiling on the calibration page), the best a linear "
                "model reached on this data."
            )
        rows = [
            run_row(config_label(r.config, r.status), r.history, r.train_seconds, r.status, r.diverged_at)
            for r in chosen
        ]
        if any(r.trained_by for r in chosen):  # with sign-in on: the name of who trained each run
            rows = [row | {"trained by": r.trained_by or "–"} for row, r in zip(rows, chosen)]
        st.dataframe(
            cached.table(rows),
            hide_index=True,
            width="stretch",
        )
    pairs = scratch_concise_pairs(runs)
    st.markdown(
        "**Scratch against concise.** Same seed, same initial weights, same batches: "
        "how far apart do the two implementations end?"
    )
    if not pairs:
        caption("Store one run of each implementation with otherwise equal settings to see the gap here.")
        return
    rows = []
    for scratch, concise in pairs:
        if scratch.history and concise.history:
            gap = final_gap(scratch.history, concise.history)
            rows.append(
                {
                    "settings": config_label(scratch.config).removeprefix("scratch · "),
                    "test acc, scratch": scratch.history[-1].test_acc,
                    "test acc, concise": concise.history[-1].test_acc,
                    "Δ test acc": gap["test_acc"],
                    "Δ train loss": gap["train_loss"],
                }
            )
    st.dataframe(
        cached.table(rows),
        hide_index=True,
        width="stretch",
        column_config={
            "test acc, scratch": st.column_config.NumberColumn(format="%.4f"),
            "test acc, concise": st.column_config.NumberColumn(format="%.4f"),
            "Δ test acc": st.column_config.NumberColumn(format="%.2e"),
            "Δ train loss": st.column_config.NumberColumn(format="%.2e"),
        },
    )
    caption(
        "Δ is scratch minus concise after the last epoch. The two compute the same function; they differ "
        "only in float rounding (sum-then-divide against mean, softmax-then-log against fused log-softmax)."
    )


# ---------------------------------------------------------------- the page

st.title("Train on Fashion-MNIST")
st.markdown(
    "Softmax regression on 60,000 clothing images, trained with minibatch SGD as in the chapter "
    "(the bias $\\mathbf{b}$ takes the same step as $\\mathbf{W}$), then evaluated on the 10,000 test images."
)
model, update = st.columns([2, 3])  # side by side on a screen, stacked on a phone
model.latex(r"\hat{\mathbf{y}} = \mathrm{softmax}(\mathbf{X}\mathbf{W} + \mathbf{b})")
update.latex(
    r"\mathbf{W} \leftarrow \mathbf{W} - \frac{\eta}{|\mathcal{B}|}"
    r"\sum_{i \in \mathcal{B}} \partial_{\mathbf{W}}\, l(\mathbf{y}^{(i)}, \hat{\mathbf{y}}^{(i)})"
)

data_dir = shared_data_dir()
data = fashion_mnist()  # or a message with the fixes, and the page stops

runs_dir = str(default_runs_dir())
jobs = training_jobs(runs_dir, data.fingerprint, data)

check_link(PARAMS)
submitted = settings_form()

config = chosen_config()
key = jobs.key_for(config) if config is not None else None
started_here = st.session_state.setdefault("train_started_here", set())
if submitted and config is not None:
    # One training per session, first come first served, within the server's cost bound.
    if start_job(jobs, config, cancel_key="train_cancel_other", button="**Train**") is not None:
        started_here.add(key)

if key is not None:
    job = jobs.get(key)
    snap = job.snapshot() if job is not None else None
    if snap is not None and snap.state == "running":
        poll_job(jobs, key, stop_key="train_stop", details=live_curves)
    elif (run := jobs.store.get(key)) is not None:
        # Trained by this server (in any session, e.g. before a reload), not read from an earlier store.
        run_header(
            run,
            fresh=snap is not None and snap.state == "done" and not snap.cached,
            reference=best_linear(jobs.store, data.fingerprint),
        )
        if run.status == "finished":
            look_further(run, runs_dir)
        evaluation(run, data, runs_dir, data_dir)
    elif snap is not None and snap.state == "cancelled":
        message = snap.result.message if snap.result is not None else "Stopped before training began."
        st.info(f"{message} Nothing was stored; press **Train** to start again.", icon=":material/stop_circle:")
        if snap.history:
            chart(training_curves(snap.history, epochs=config.epochs, title="Stopped run"), "train_curves")
    elif snap is not None and snap.state == "failed":
        user_text.error(snap.error)
    elif broken := usable_run(jobs.store, key)[1]:  # the store's check, done once per file
        user_text.warning(f"The stored run for these settings cannot be shown. {broken} Press Train to replace it.")
    else:
        with warnings.catch_warnings():  # a damaged run is reported by the comparison below
            warnings.simplefilter("ignore")
            timed = recent_epoch_seconds([r.history for r in jobs.store.list_runs()])
        st.info(
            "No stored run for these settings yet: press **Train**. " + epoch_time_sentence(timed, config.epochs),
            icon=":material/model_training:",
        )
        # Empty axes where the curves will grow (as d2l's Animator opens its plot before the first epoch);
        # the browser also loads its chart code now, not when the first epoch is drawn.
        chart(
            cached.training_curves((), epochs=config.epochs, title="Drawn here: one point per epoch"),
            "train_curves",
        )

class_experiment(jobs.store, key)  # lecture mode: the room's runs join one experiment
derivation_section(chosen=config is not None and config.impl == BYHAND)
st.divider()
compare(jobs.store, key)
# At the end (not under the form as on the other pages): the curves keep the first screen of a projector.
share_row(share_and_reset, PARAMS)
