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

from dashboard import user_text
from dashboard.caches import training as cached
from dashboard.chart_numbers import the_numbers
from dashboard.deep_links import run_through_navigation
from dashboard.fashion_data import data_dir as shared_data_dir
from dashboard.fashion_data import fashion_mnist
from dashboard.gradient_by_hand import derivation_section
from dashboard.lecture import class_experiment
from dashboard.links import page_link
from dashboard.presenter import caption, chart, share_row
from dashboard.run_comparison import best_linear, compare
from dashboard.run_downloads import run_downloads
from dashboard.training_controls import (
    BATCH,
    EPOCHS,
    FIELD_OF,
    IMPL,
    INIT_STD,
    LR,
    SCRATCH_SOFTMAX_NOTE,
    SEED,
    TRAINING_CONTROLS,
    config_from,
)
from dashboard.training_evaluation import EVAL_TAB, evaluation
from dashboard.training_jobs import poll_job, start_job, training_jobs
from dashboard.url_state import check_link, share_and_reset
from softmax_core.figures.training_figures import (
    batch_loss_alt,
    batch_loss_figure,
    config_label,
    diverged_label,
    epoch_time_sentence,
    history_table,
    recent_epoch_seconds,
    training_curves_alt,
)
from softmax_core.run_store import RunStore, StoredRun, default_runs_dir
from softmax_core.train_or_load import usable_run
from softmax_core.training import BYHAND, MAX_TRAIN_SIZE, TrainConfig
from softmax_core.training_queue import JobSnapshot

run_through_navigation()  # first: a deep link on a fresh server must go through streamlit_app.py

PARAMS = [*TRAINING_CONTROLS, EVAL_TAB]  # each lives in the link under its key; the chapter's setting is the default


def when(created_at: str) -> str:
    try:
        return datetime.fromisoformat(created_at).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return created_at


# ---------------------------------------------------------------- the form


def settings_form() -> bool:
    """The hyperparameters; one submit trains (or loads) once. True when Train was pressed."""
    # Enter in a field does not train: a student changing the epochs expects to press Train.
    with st.form("train_form", enter_to_submit=False):
        # Train sits under the number fields, beside the radio, not under both: the three-choice radio is the
        # tallest field, and a button below it pushed the curves out of a projector's first screen (1280x720).
        impl, fields = st.columns([1.6, 5])
        IMPL.draw(impl)
        for column, param in zip(fields.columns(5), (LR, BATCH, EPOCHS, SEED, INIT_STD)):
            param.draw(column)
        return fields.form_submit_button(
            "Train",
            type="primary",
            key="train_submit",
            help="Trains with these settings, or shows the stored run at once if there is one.",
        )


def chosen_config() -> TrainConfig | None:
    """The settings in the form, or None (and a sentence) when they cannot be trained."""
    try:
        return config_from({FIELD_OF[p.key]: st.session_state[p.key] for p in TRAINING_CONTROLS})
    except ValueError as exc:
        user_text.error(f"These settings cannot be trained: {exc}.")
        return None


# ---------------------------------------------------------------- the curves


def curves(history, epochs: int, title: str, key: str, reference: tuple[float, str] | None = None) -> None:
    """Train loss, train and test accuracy per epoch, described in words and, one click away, as a table."""
    fig = cached.training_curves(tuple(history), epochs=epochs, title=title, reference=reference)
    chart(fig, key, alt=training_curves_alt(history, epochs=epochs, reference=reference))
    the_numbers(history_table(history))


def live_curves(snap: JobSnapshot) -> None:
    """The curves so far: they change once per epoch, and the cached figure is redrawn in between."""
    curves(snap.history, snap.config.epochs, "Training (updates each epoch)", "train_live_curves")


# ---------------------------------------------------------------- a stored run


def ago(created_at: str) -> str:
    """'3 min ago' for a run stored in the last hour, else the date: a run trained a moment ago is not 'cached'."""
    try:
        seconds = (datetime.now(timezone.utc) - datetime.fromisoformat(created_at)).total_seconds()
    except ValueError:
        return created_at
    if 0 <= seconds < 60:
        return "just now"
    return f"{seconds / 60:.0f} min ago" if 0 <= seconds < 3600 else f"on {when(created_at)}"


def diverged_header(run: StoredRun) -> None:
    """What happened instead of epochs: the loss of every batch up to the blow-up, and where it blew up."""
    if run.batch_losses:
        batches = math.ceil(MAX_TRAIN_SIZE / run.config.batch_size)
        chart(
            batch_loss_figure(run.batch_losses, run.diverged_at, batches_per_epoch=batches),
            "train_curves",
            alt=batch_loss_alt(run.batch_losses, run.diverged_at, batches_per_epoch=batches),
        )
        the_numbers([{"batch": i, "mean loss": float(v)} for i, v in enumerate(run.batch_losses, start=1)])
    st.warning(
        f"**Diverged**: {diverged_label(run.diverged_at)}, after {len(run.history)} full epoch(s). "
        + user_text.literal(run.message),  # stored text: shown as text, never as markdown
        icon=":material/warning:",
    )
    if run.config.impl == "scratch":
        st.markdown(SCRATCH_SOFTMAX_NOTE)


def how_obtained(run: StoredRun, fresh: bool) -> None:
    """Trained just now, or read from the run store (and when it was trained)."""
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


def last_epoch_metrics(run: StoredRun) -> None:
    last = run.history[-1]
    cols = st.columns(4)
    cols[0].metric("Test accuracy", f"{last.test_acc:.1%}" if np.isfinite(last.test_acc) else "–")
    cols[1].metric("Train accuracy", f"{last.train_acc:.1%}" if np.isfinite(last.train_acc) else "–")
    cols[2].metric("Train loss", f"{last.train_loss:.4f}" if np.isfinite(last.train_loss) else "–")
    cols[3].metric("Training time", f"{run.train_seconds:.1f} s")


def run_header(run: StoredRun, fresh: bool, reference: tuple[float, str] | None) -> None:
    """The curves first (in the first screen of a projector), then how the run was obtained and its numbers."""
    if run.status == "diverged":
        diverged_header(run)
    else:
        title = config_label(run.config, run.status)
        curves(run.history, run.config.epochs, title, "train_curves", reference=reference)
    how_obtained(run, fresh)
    if run.history and run.status == "finished":
        last_epoch_metrics(run)


def look_further(run: StoredRun, runs_dir: str) -> None:
    """Where to go next with this run: inside the model, its calibration, and its files."""
    inside, calibration = st.columns(2)
    page_link("pages/inside_model.py", "Look inside this model", ":material/visibility:", {"run": run.key}, inside)
    page_link("pages/calibration.py", "How well calibrated is it?", ":material/tune:", {"run": run.key}, calibration)
    with st.expander("Download this run (metrics, weights)", icon=":material/download:"):
        run_downloads(run, runs_dir, "train")


def stored_run(run: StoredRun, snap: JobSnapshot | None, store: RunStore, data, runs_dir: str, data_dir: str) -> None:
    """A stored run: its curves and numbers, where to look further, and its evaluation on the test set."""
    # "Trained just now" when this server trained it (in any session, e.g. before a reload), not read from the store.
    fresh = snap is not None and snap.state == "done" and not snap.cached
    run_header(run, fresh, reference=best_linear(store, data.fingerprint))
    if run.status == "finished":
        look_further(run, runs_dir)
    evaluation(run, data, runs_dir, data_dir)


def not_trained_yet(store: RunStore, config: TrainConfig) -> None:
    """How long these settings would take here, and empty axes where the curves will grow."""
    with warnings.catch_warnings():  # a damaged run is reported by the comparison below
        warnings.simplefilter("ignore")
        timed = recent_epoch_seconds([r.history for r in store.list_runs()])
    st.info(
        "No stored run for these settings yet: press **Train**. " + epoch_time_sentence(timed, config.epochs),
        icon=":material/model_training:",
    )
    # Empty axes where the curves will grow (as d2l's Animator opens its plot before the first epoch);
    # the browser also loads its chart code now, not when the first epoch is drawn.
    curves((), config.epochs, "Drawn here: one point per epoch", "train_curves")


def stopped(snap: JobSnapshot, config: TrainConfig) -> None:
    """A training stopped before its end: nothing stored, and the curves it drew so far."""
    message = snap.result.message if snap.result is not None else "Stopped before training began."
    st.info(f"{message} Nothing was stored; press **Train** to start again.", icon=":material/stop_circle:")
    if snap.history:
        curves(snap.history, config.epochs, "Stopped run", "train_curves")


def these_settings(jobs, key: str, config: TrainConfig, data, runs_dir: str, data_dir: str) -> None:
    """What the page shows for the settings in the form: the training running, its run, or why there is none."""
    job = jobs.get(key)
    snap = job.snapshot() if job is not None else None
    if snap is not None and snap.state == "running":
        poll_job(jobs, key, stop_key="train_stop", details=live_curves)
    elif (run := jobs.store.get(key)) is not None:
        stored_run(run, snap, jobs.store, data, runs_dir, data_dir)
    elif snap is not None and snap.state == "cancelled":
        stopped(snap, config)
    elif snap is not None and snap.state == "failed":
        user_text.error(snap.error)
    elif broken := usable_run(jobs.store, key)[1]:  # the store's check, done once per file
        user_text.warning(f"The stored run for these settings cannot be shown. {broken} Press Train to replace it.")
    else:
        not_trained_yet(jobs.store, config)


def train_if_asked(jobs, config: TrainConfig | None, submitted: bool) -> str | None:
    """The run key of these settings; a press of Train starts their training (one per session, first come
    first served, within the server's cost bound)."""
    if config is None:
        return None
    key = jobs.key_for(config)
    started_here = st.session_state.setdefault("train_started_here", set())
    if submitted and start_job(jobs, config, cancel_key="train_cancel_other", button="**Train**") is not None:
        started_here.add(key)
    return key


def intro() -> None:
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


# ---------------------------------------------------------------- the page

intro()
data_dir = shared_data_dir()
data = fashion_mnist()  # or a message with the fixes, and the page stops
runs_dir = str(default_runs_dir())
jobs = training_jobs(runs_dir, data.fingerprint, data)

check_link(PARAMS)
submitted = settings_form()
config = chosen_config()
key = train_if_asked(jobs, config, submitted)
if key is not None:
    these_settings(jobs, key, config, data, runs_dir, data_dir)

class_experiment(jobs.store, key)  # lecture mode: the room's runs join one experiment
derivation_section(chosen=config is not None and config.impl == BYHAND)
st.divider()
compare(jobs.store, key)
# At the end (not under the form as on the other pages): the curves keep the first screen of a projector.
share_row(share_and_reset, PARAMS)
