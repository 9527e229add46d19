r"""Confidence and calibration: how sure is a trained model, and how one number (T) fixes it.

Reads stored runs (never trains an SGD run); per-run numbers are cached by run
key. The best linear model (L-BFGS) can be fitted from here: the button queues
it in the server's one training queue (the training page's), and the finished
fit is one more run.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import streamlit as st

from dashboard import server_caches as cached
from dashboard import user_text
from dashboard.deep_links import run_through_navigation
from dashboard.fashion_data import data_dir as shared_data_dir
from dashboard.fashion_data import fashion_mnist
from dashboard.presenter import caption, chart, share_row
from dashboard.sign_in import may_act
from dashboard.training_jobs import poll_job, start_job, training_jobs
from dashboard.url_state import (
    Param,
    ReadAs,
    check_link,
    int_param,
    name_link_value,
    share_and_reset,
    show_pending,
)
from softmax_core import calibration as cal
from softmax_core.figures.calibration_figures import sparse_mce_note
from softmax_core.figures.training_figures import config_label
from softmax_core.linear_ceiling import (
    best_linear_label,
    best_linear_run,
    ceiling_config,
    choice_sentence,
    fit_sentence,
)
from softmax_core.run_store import RunStore, default_runs_dir, run_key
from softmax_core.training import TrainConfig
from softmax_core.training_queue import JobSnapshot

run_through_navigation()


# Stops of the T slider: log-spaced (each step x1.12) from 0.1 to 10, like the softmax page's.
R20 = (1.0, 1.12, 1.25, 1.4, 1.6, 1.8, 2.0, 2.24, 2.5, 2.8, 3.15, 3.55, 4.0, 4.5, 5.0, 5.6, 6.3, 7.1, 8.0, 9.0)
TEMPERATURES = tuple(round(m * 10.0**e, 4) for e in (-1, 0) for m in R20) + (10.0,)
RUN = "run"  # the run shown, always in the address (the default, the newest run, changes as runs are trained)
OLD_RUN = "cal_run"  # the run menu's key, and its link parameter in older links (a run key or the menu's label)
COMPARE = "cal_compare"  # the compared runs (their keys, the key repeated), always in the address too
NONE_COMPARED = ""  # cal_compare= : the student emptied the list (no parameter would mean the default list)
# The training page's controls (session state, or its URL parameters): its current run is the default here.
TRAINING_KEYS = {"train_impl": "impl", "train_lr": "lr", "train_batch_size": "batch_size",
                 "train_epochs": "epochs", "train_seed": "seed", "train_init_std": "init_std"}  # fmt: skip


def training_page_key(fingerprint: str) -> str | None:
    """The run key of the training page's current settings (its session state, else its URL parameters)."""
    values = {}
    for state_key, field in TRAINING_KEYS.items():
        if state_key in st.session_state:
            values[field] = st.session_state[state_key]
        elif state_key in st.query_params:
            values[field] = st.query_params[state_key]
    try:
        return run_key(TrainConfig(**values).validated(), fingerprint)
    except (TypeError, ValueError):
        return None


def _training_setting(state_key: str, field: str) -> Param:
    """A training page setting in this page's link (it picks the default run): named when it is not valid."""
    default = getattr(TrainConfig(), field)

    def parse(text: str):
        try:
            return getattr(TrainConfig(**{field: text}).validated(), field)
        except ValueError as exc:  # its reason without the ", got <the value>" (the sentence quotes the value)
            raise ValueError(str(exc).split(", got ")[0]) from None

    return Param(state_key, default, parse, lambda v: f"{v:g}" if isinstance(v, float) else str(v))


TRAINING_SETTINGS = [_training_setting(state_key, field) for state_key, field in TRAINING_KEYS.items()]


def label(run) -> str:
    return config_label(run.config, run.status)


def nearest_stop(t: float) -> float:
    return min(TEMPERATURES, key=lambda s: abs(np.log(s) - np.log(t)))


def _temperature_text(t: float) -> str:
    return f"{t:g}"  # as the slider shows a stop and writes it in the link


def _parse_temperature(text: str) -> float:
    """A link's T: one of the slider's stops; a value between them is read as the nearest, and said so."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError("it is not a number") from None
    low, high = TEMPERATURES[0], TEMPERATURES[-1]
    if not (np.isfinite(value) and low <= value <= high):
        raise ValueError(f"T must be between {low:g} and {high:g}")
    stop = nearest_stop(value)
    if _temperature_text(stop) != _temperature_text(value):
        raise ReadAs(stop, f"the slider moves in steps of about x1.12, and {stop:g} is the step nearest to it")
    return stop


TEMPERATURE = Param("cal_T", 1.0, _parse_temperature, _temperature_text)  # its default is the run's fitted T


def linked_run(by_key: dict) -> str | None:
    """The run a link asks for, once: ``run=KEY``, or an older link's ``cal_run`` (a key or the menu's label).

    Read unless it is what this page last wrote in the address while the menu still holds a choice: a
    rerun after a choice in the menu (the address not yet updated) keeps the choice. An unknown run
    is named, as text.
    """
    asked = st.query_params.get(RUN)
    if OLD_RUN in st.query_params:
        asked = asked if asked is not None else st.query_params[OLD_RUN]
        del st.query_params[OLD_RUN]
    if asked is None or (asked == st.session_state.get("_cal_run_in_link") and OLD_RUN in st.session_state):
        show_pending([RUN])  # a sentence about the link's run, if a rerun that cleaned the link came between
        return None  # what this page wrote, and the menu still holds its choice
    st.session_state["_cal_run_in_link"] = asked
    by_label = {label(run): k for k, run in by_key.items()}
    if asked in by_key or asked in by_label:
        return by_key[asked].key if asked in by_key else by_label[asked]
    name_link_value(RUN, "The link asks for a run that is not in the run store (trained on another server, or "
                    "removed). Showing another run instead. The key in the link:", asked[:200],
                    icon=":material/link_off:")  # fmt: skip
    return None


def keep_run_in_address(key: str) -> None:
    """The address names the run shown (a copied address reopens it, whatever is newest by then)."""
    if st.query_params.get(RUN) != key:
        st.query_params[RUN] = key
    st.session_state["_cal_run_in_link"] = key


def linked_compare(by_key: dict, finished: list[str]) -> list[str] | None:
    """The runs a link asks to compare (keys, or the menu's labels as older links held them), read like the run.

    Those that are not finished stored runs are named (the first, and how many more).
    """
    asked = st.query_params.get_all(COMPARE)
    if not asked or (asked == st.session_state.get("_cal_compare_in_link") and COMPARE in st.session_state):
        show_pending([COMPARE])
        return None
    st.session_state["_cal_compare_in_link"] = asked
    by_label = {label(by_key[k]): k for k in finished}
    chosen, unknown = [], []
    for value in asked:
        if value != NONE_COMPARED:
            known = value if value in finished else by_label.get(value)
            chosen.append(known) if known else unknown.append(value)
    if unknown:
        more = f" ({len(unknown) - 1} more like it)" if len(unknown) > 1 else ""
        name_link_value(COMPARE, f"Link parameter {user_text.code(f'{COMPARE}={unknown[0]}')} was ignored: no "
                        f"finished stored run has this key{more}.")  # fmt: skip
    return list(dict.fromkeys(chosen))


def keep_compared_in_address(chosen: list[str]) -> None:
    """The address names the compared runs (the default list, the newest six, changes as runs are trained)."""
    wanted = chosen or [NONE_COMPARED]
    if st.query_params.get_all(COMPARE) != wanted:
        st.query_params[COMPARE] = wanted
    st.session_state["_cal_compare_in_link"] = wanted


def in_evaluation_half(evaluation: np.ndarray, asked: int, previous: int) -> int:
    """The evaluation-half image nearest ``asked`` in the direction the input moved (+ goes up, - down).

    An image of the calibration half (T was fitted on it) is stepped over, never shown.
    """
    position = int(np.searchsorted(evaluation, asked))
    if position < len(evaluation) and evaluation[position] == asked:
        return asked
    above = int(evaluation[position]) if position < len(evaluation) else None
    below = int(evaluation[position - 1]) if position > 0 else None
    if asked >= previous:
        return above if above is not None else below
    return below if below is not None else above


def _step_over_calibration_half(evaluation: np.ndarray) -> None:
    asked = int(st.session_state["cal_image"])
    shown = in_evaluation_half(evaluation, asked, st.session_state.get("cal_image_shown", int(evaluation[0])))
    st.session_state["cal_image"] = float(shown)
    st.session_state["cal_image_shown"] = shown


# ---------------------------------------------------------------- the page

st.title("Confidence and calibration")
st.markdown("A model's **confidence** is its largest softmax probability. It is *calibrated* when, of the images it "
            "gives 80 %, 80 % are right. Dividing every logit by one temperature $T$ fixes most miscalibration "
            "(Guo et al., 2017).")  # fmt: skip

check_link([TEMPERATURE, *TRAINING_SETTINGS])
data_dir = shared_data_dir()
data = fashion_mnist()  # or a message with the fixes, and the page stops
runs_dir = str(default_runs_dir())
store = RunStore(runs_dir)
jobs = training_jobs(runs_dir, data.fingerprint, data)
ceiling_key = jobs.key_for(ceiling_config())  # the best linear model: the one rule the CLI fits too

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    runs = store.list_runs()
for warning in caught:
    st.warning("A damaged run in the store was skipped:", icon=":material/warning:")
    st.text(str(warning.message))
by_key = {run.key: run for run in runs}

linked = linked_run(by_key)  # a link may name a run: ?run=<key>
if linked is not None:
    st.session_state["cal_run"] = linked
if st.session_state.get("cal_ceiling_wanted") in by_key:  # the fit this session asked for is stored: show it
    st.session_state["cal_run"] = st.session_state.pop("cal_ceiling_wanted")
if "cal_run" in st.session_state and st.session_state["cal_run"] not in by_key:
    del st.session_state["cal_run"]


def last_iteration(snap: JobSnapshot) -> None:
    if snap.history:
        last = snap.history[-1]
        st.caption(f"After {last.epoch} iterations: train loss {last.train_loss:.4f}, "
                   f"test accuracy {last.test_acc:.4f}.")  # fmt: skip


def ceiling_section() -> None:
    st.subheader("The best linear model")
    st.markdown("The chapter's 10 epochs of SGD stop before the loss is minimised. Full-batch **L-BFGS** with an L2 "
                "penalty on W trains the same model to convergence.")  # fmt: skip
    config = ceiling_config()
    job = jobs.get(ceiling_key)
    snap = job.snapshot() if job is not None else None
    best = best_linear_run(runs, data.fingerprint)  # the stored run of ceiling_config(), or None
    if best is not None:
        if snap is not None and snap.state == "done" and not snap.cached:
            st.success("Fitted just now and stored.", icon=":material/check_circle:")
        st.info(f"**{best_linear_label(best)}**. {fit_sentence(best, len(data.train_images))} "
                f"{choice_sentence(best.config.l2)} It is one more run in the menu above.",
                icon=":material/trophy:")  # fmt: skip
        caption("`python -m softmax_core.linear_ceiling` fits and stores this same run; with `--search` it "
                "repeats the search for the penalty.")  # fmt: skip
        return
    if ceiling_key in by_key:  # stored, but it did not finish: nothing to fit again from here
        st.warning("The stored fit of the best linear model did not finish. What it said:", icon=":material/warning:")
        st.text(by_key[ceiling_key].message)
        return
    st.markdown(f"Not stored yet. The button fits L2 penalty {config.l2:g} for {config.epochs} L-BFGS iterations on "
                f"all {len(data.train_images):,} training images, the same run as `python -m "
                f"softmax_core.linear_ceiling`. {choice_sentence(config.l2)}")  # fmt: skip
    running = snap is not None and snap.state == "running"
    if not running and not may_act():  # with sign-in on: only a signed-in user on the access list fits it
        st.info("Sign in with an account on the access list to fit it from here.", icon=":material/lock:")
        return
    if not running:
        if snap is not None and snap.state in ("cancelled", "failed"):
            st.session_state.pop("cal_ceiling_wanted", None)  # stopped or failed: nothing to show when it is stored
        slot = st.empty()  # the button (and how the last fit ended) give way to the progress once it is queued
        with slot.container():
            if snap is not None and snap.state == "cancelled":
                stopped = snap.result.message if snap.result is not None else "Stopped before the fit began."
                st.info(f"{stopped} Nothing was stored.", icon=":material/stop_circle:")
            elif snap is not None and snap.state == "failed":
                st.error(snap.error)
            pressed = st.button(f"Fit the best linear model (L2 {config.l2:g}, {config.epochs} L-BFGS iterations)",
                                key="cal_fit_ceiling", icon=":material/rocket_launch:",
                                help="Queued with the server's other trainings: one at a time per student.")  # fmt: skip
        if pressed:
            started = start_job(jobs, config, cancel_key="cal_cancel_other", button="the fit button")
            if started is not None:
                st.session_state["cal_ceiling_wanted"] = ceiling_key
                if started.snapshot().finished:  # stored meanwhile (the CLI, another server): show it
                    st.rerun()
                slot.empty()
                running = True
    if running:
        poll_job(jobs, ceiling_key, stop_key="cal_ceiling_stop", details=last_iteration)


if not runs:
    st.info("The run store is empty: train a model on the **Train on Fashion-MNIST** page first (e.g. the chapter's "
            "setting), or fit the best linear model below.", icon=":material/inventory_2:")  # fmt: skip
    ceiling_section()
    st.stop()

keys = list(by_key)
default_key = training_page_key(data.fingerprint)
finished_keys = [k for k in keys if by_key[k].status == "finished"]
fallback = finished_keys[0] if finished_keys else keys[0]  # the newest run that can be calibrated
default_index = keys.index(default_key if default_key in by_key else fallback)
pick, m_t, m_ece, m_nll = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
key = pick.selectbox("Run", keys, index=default_index, key="cal_run", format_func=lambda k: label(by_key[k]),
                     help="Any stored run; the default is the training page's current settings.")  # fmt: skip
keep_run_in_address(key)
run = by_key[key]
drawn = []  # the controls as this run draws them: what "Share this view" reads
split_seed = cal.CALIBRATION_SEED

if run.status != "finished":
    st.warning("This run diverged: its weights are inf or nan (or stopped partway), so it has no confidences to "
               "calibrate. Pick another run, or train this setting again with a lower learning rate. "
               "What training said:", icon=":material/warning:")  # fmt: skip
    st.text(run.message)
    report = None
else:
    try:
        report = cached.calibration_report(runs_dir, key, data_dir, split_seed)
    except ValueError as exc:  # damaged weights, or logits that are not finite
        st.error("This run cannot be calibrated:", icon=":material/error:")
        st.text(str(exc))
        report = None

if report is not None:
    fit, before, after = report.fit, report.before, report.after
    m_t.metric(
        "Fitted T",
        f"{fit.temperature:.3f}",
        help="T > 1: the model was over-confident (its logits are shrunk); T < 1: under-confident.",
    )
    m_ece.metric(
        "ECE at fitted T",
        f"{after.ece:.4f}",
        f"{after.ece - before.ece:+.4f}",
        delta_color="inverse",
        help=f"Expected calibration error on the evaluation half; {before.ece:.4f} at T = 1.",
    )
    m_nll.metric(
        "NLL at fitted T",
        f"{after.nll:.4f}",
        f"{after.nll - before.nll:+.4f}",
        delta_color="inverse",
        help=f"Mean negative log-likelihood on the evaluation half; {before.nll:.4f} at T = 1.",
    )
    chart(cached.reliability_diagram(before.bins, after.bins, fit.temperature), "cal_reliability")
    caption(f"Each bar is one of {len(before.bins.counts)} equal-width confidence bins; the number above it counts "
            f"the evaluation images in it. A bar below the dashed diagonal means the model was right less often "
            f"than it claimed (over-confident). Test set split with seed **{split_seed}**: T is fitted on "
            f"{len(report.split.calibration):,} images, everything here is measured on the other "
            f"{len(report.split.evaluation):,}.")  # fmt: skip

    st.subheader("Before and after, on the evaluation half")
    temperature = replace(TEMPERATURE, default=nearest_stop(fit.temperature))
    drawn.append(temperature)
    t_now = st.select_slider("Your temperature T (log scale)", options=TEMPERATURES, value=temperature.default,
                             key=temperature.key, bind="query-params", format_func=temperature.dump,
                             help="Move T by hand: the curves and the last column follow.")  # fmt: skip
    ev = report.split.evaluation
    logits = cached.run_logits(runs_dir, key, data_dir)
    labels = data.test_labels.numpy()
    yours = cached.evaluation_at(runs_dir, key, data_dir, split_seed, t_now)
    table, curves = st.columns(2, gap="medium")  # half the width: the table's four columns fit at 1280 px
    with table:
        rows = {"accuracy": "accuracy", "NLL": "nll", "Brier": "brier", "ECE (15 bins)": "ece", "MCE": "mce"}
        columns = {"T = 1": before, f"T = {fit.temperature:.3g} (fit)": after, f"T = {t_now:g} (yours)": yours}
        st.dataframe(cached.table([
            {"metric": name} | {column: getattr(m, a) for column, m in columns.items()} for name, a in rows.items()
        ]), hide_index=True, width="stretch",
            column_config={c: st.column_config.NumberColumn(format="%.4f") for c in columns})  # fmt: skip
        note = sparse_mce_note({"T = 1": before.bins, f"T = {fit.temperature:.3g}": after.bins,
                                f"T = {t_now:g}": yours.bins})  # fmt: skip
        if note is not None:
            st.warning(note, icon=":material/scatter_plot:")
        caption("Accuracy does not move: dividing every logit by the same T > 0 keeps their order, so the "
                "largest logit, the predicted class, stays the same. Only the confidences change. Lower is "
                "better for NLL, Brier (squared distance to the one-hot label), ECE (bin gaps weighted by bin "
                "size) and MCE (the largest gap).")  # fmt: skip
    with curves:
        chart(
            cached.calibration_curves(report.temperatures, report.nll_curve, report.ece_curve, fit.temperature, t_now),
            "cal_curves",
        )
        caption(f"The star is the T the fit found on the calibration half (from T = 1, by Newton's method on "
                f"1/T, {fit.evaluations} steps); the curves are the evaluation half, so the minimum may sit "
                "slightly beside it.")  # fmt: skip

    chart(cached.confidence_histogram(before.bins, after.bins, fit.temperature, before.accuracy), "cal_histogram")
    caption("How the evaluation images spread over confidence. When the bars' mean confidence sits right of "
            "the accuracy line, the model claims more than it delivers.")  # fmt: skip

    st.subheader("One image on the softmax page")
    image_param = int_param("cal_image", int(ev[0]), 0, len(labels) - 1)  # the input's bounds, checked first
    check_link([image_param])
    drawn.append(image_param)
    pick_image, open_link = st.columns([1, 2], vertical_alignment="bottom")
    # A float input showing whole numbers: 1.67's int input raises on a link value such as 1e400 (OverflowError).
    asked = int(pick_image.number_input("Test image # (from the evaluation half)", 0.0, len(labels) - 1.0,
                                        float(ev[0]), 1.0, "%.0f", key="cal_image", bind="query-params",
                                        on_change=_step_over_calibration_half, args=(ev,),
                                        help="Only images T was not fitted on: + and − step over the "
                                             "calibration half."))  # fmt: skip
    image = in_evaluation_half(ev, asked, asked)
    st.session_state["cal_image_shown"] = image
    if image != asked:  # a link (or an old view) named an image of the calibration half
        st.info(f"Test image #{asked} is in the calibration half (T was fitted on it): showing #{image}, the "
                "next image of the evaluation half.", icon=":material/swap_horiz:")  # fmt: skip
    link = cal.softmax_page_link(logits[image], fit.temperature)
    open_link.link_button("Open this model on the softmax page", link, help=f"At the fitted T = {fit.temperature:.3g}",
                          icon=":material/open_in_new:")  # fmt: skip
    probs = cal.probabilities(logits[image : image + 1], fit.temperature)[0]
    names = data.class_names
    true_name = names[labels[image]]
    article = "an" if true_name[0] in "AEIOU" else "a"
    caption(f"Image #{image} is {article} {true_name}; the model predicts {names[int(probs.argmax())]} with "
            f"{probs.max():.1%} at the fitted T ({cal.probabilities(logits[image:image + 1])[0].max():.1%} at "
            "T = 1). The link carries its ten logits (rounded to 3 decimals) and T; the softmax page's T "
            "slider snaps to its nearest stop, so T there may differ slightly.")  # fmt: skip

# ---------------------------------------------------------------- compare runs
st.subheader("Compare runs")
finished = [k for k in keys if by_key[k].status == "finished"]
skipped = len(keys) - len(finished)
linked_runs = linked_compare(by_key, finished)
if linked_runs is not None:
    st.session_state[COMPARE] = linked_runs
elif any(k not in finished for k in st.session_state.get(COMPARE, ())):  # removed from the store meanwhile
    st.session_state[COMPARE] = [k for k in st.session_state[COMPARE] if k in finished]
chosen = st.multiselect("Runs to compare", finished, default=finished[:6], key=COMPARE,
                        format_func=lambda k: label(by_key[k]), placeholder="Pick stored runs")  # fmt: skip
keep_compared_in_address(chosen)
if skipped:
    caption(f"{skipped} diverged run(s) are left out: they have no finite confidences.")
if chosen:
    rows, trainers = [], []
    for k in chosen:
        try:
            r = cached.calibration_report(runs_dir, k, data_dir, split_seed)
        except ValueError:
            continue
        rows.append({"run": label(by_key[k]), "test acc": by_key[k].history[-1].test_acc, "fitted T": r.fit.temperature,
                     "ECE, T = 1": r.before.ece, "ECE, fitted T": r.after.ece,
                     "NLL, T = 1": r.before.nll, "NLL, fitted T": r.after.nll})  # fmt: skip
        trainers.append(by_key[k].trained_by or "–")
    if any(name != "–" for name in trainers):  # with sign-in on: the name of who trained each run
        rows = [row | {"trained by": name} for row, name in zip(rows, trainers)]
    if rows:
        chart(
            cached.compare_runs_chart(
                *(tuple(r[c] for r in rows) for c in ("run", "ECE, T = 1", "ECE, fitted T", "fitted T"))
            ),
            "cal_compare_chart",
        )
        st.dataframe(cached.table(rows), hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.4f")
                                    for c in rows[0] if c not in ("run", "trained by")})  # fmt: skip
        caption("T above 1: the run was over-confident (long SGD runs and large learning rates drift there); "
                "T below 1: under-confident (short runs, a heavily penalised model).")  # fmt: skip

ceiling_section()
share_row(share_and_reset, drawn, {RUN: key, COMPARE: chosen or [NONE_COMPARED]}, (RUN,))
