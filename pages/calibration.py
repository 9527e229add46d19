r"""Confidence and calibration: how sure is a trained model, and how one number (T) fixes it.

Reads stored runs (never trains an SGD run); per-run numbers are cached by run key. The run shown is
read like the inside page's (``dashboard/run_link.py``) and kept in the address; the best linear model
(L-BFGS) can be fitted from here (``dashboard/best_linear_model.py``).
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import streamlit as st

from dashboard.best_linear_model import WANTED, ceiling_section
from dashboard.caches import calibration as cached
from dashboard.calibration_comparison import COMPARE, NONE_COMPARED, compare_section
from dashboard.calibration_image import image_section
from dashboard.deep_links import run_through_navigation
from dashboard.fashion_data import data_dir as shared_data_dir
from dashboard.fashion_data import fashion_mnist
from dashboard.presenter import caption, chart, share_row
from dashboard.run_link import RUN, default_key, keep_run_in_address, label, linked_run
from dashboard.temperature_stops import log_stops, nearest_stop
from dashboard.training_controls import TRAINING_CONTROLS
from dashboard.training_jobs import training_jobs
from dashboard.url_state import Param, check_link, share_and_reset, stop_param
from softmax_core import calibration as cal
from softmax_core.figures.calibration_figures import (
    confidence_histogram_alt,
    reliability_diagram_alt,
    sparse_mce_note,
    temperature_curves_alt,
)
from softmax_core.linear_ceiling import ceiling_config
from softmax_core.run_store import RunStore, default_runs_dir

run_through_navigation()

TEMPERATURES = log_stops(0.1, 10.0)  # the softmax page's stops, from 0.1 to 10
TEMPERATURE = stop_param("cal_T", 1.0, TEMPERATURES, "Your temperature T (log scale)",
                         help="Move T by hand: the curves and the last column follow.")  # fmt: skip
MENU = "cal_run"  # the run menu's key (older links named the run with it too)
SPLIT_SEED = cal.CALIBRATION_SEED


def stored_runs(store: RunStore) -> dict:
    """The stored runs by key, newest first; a damaged one is skipped with a sentence (its reason as text)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = store.list_runs()
    for warning in caught:
        st.warning("A damaged run in the store was skipped:", icon=":material/warning:")
        st.text(str(warning.message))
    return {run.key: run for run in runs}


def seed_the_menu(by_key: dict) -> None:
    """The menu's choice before it is drawn: a link's run, else the best linear fit this session asked for."""
    linked = linked_run(by_key, MENU)
    if linked is not None:
        st.session_state[MENU] = linked
    if st.session_state.get(WANTED) in by_key:  # the fit this session asked for is stored: show it
        st.session_state[MENU] = st.session_state.pop(WANTED)
    if MENU in st.session_state and st.session_state[MENU] not in by_key:
        del st.session_state[MENU]


def calibration_report(run, runs_dir: str, data_dir: str):
    """The run's report, or None after a sentence: a diverged run has no confidences, a damaged one none readable."""
    if run.status != "finished":
        st.warning("This run diverged: its weights are inf or nan (or stopped partway), so it has no confidences to "
                   "calibrate. Pick another run, or train this setting again with a lower learning rate. "
                   "What training said:", icon=":material/warning:")  # fmt: skip
        st.text(run.message)
        return None
    try:
        return cached.calibration_report(runs_dir, run.key, data_dir, SPLIT_SEED)
    except ValueError as exc:  # damaged weights, or logits that are not finite
        st.error("This run cannot be calibrated:", icon=":material/error:")
        st.text(str(exc))
        return None


def headline(report, columns) -> None:
    """Fitted T, and ECE and NLL at it (their change from T = 1), beside the run menu."""
    fit, before, after = report.fit, report.before, report.after
    m_t, m_ece, m_nll = columns
    m_t.metric("Fitted T", f"{fit.temperature:.3f}",
               help="T > 1: the model was over-confident (its logits are shrunk); T < 1: under-confident.")  # fmt: skip
    m_ece.metric("ECE at fitted T", f"{after.ece:.4f}", f"{after.ece - before.ece:+.4f}", delta_color="inverse",
                 help=f"Expected calibration error on the evaluation half; {before.ece:.4f} at T = 1.")  # fmt: skip
    m_nll.metric("NLL at fitted T", f"{after.nll:.4f}", f"{after.nll - before.nll:+.4f}", delta_color="inverse",
                 help=f"Mean negative log-likelihood on the evaluation half; {before.nll:.4f} at T = 1.")  # fmt: skip


def reliability_section(report) -> None:
    before, after, t = report.before.bins, report.after.bins, report.fit.temperature
    chart(cached.reliability_diagram(before, after, t), "cal_reliability", reliability_diagram_alt(before, after, t))
    caption(f"Each bar is one of {len(before.counts)} equal-width confidence bins; the number above it counts "
            f"the evaluation images in it (all numbers per bin: the table under the histogram). A bar below the dashed "
            f"diagonal (hatched) means the model was right "
            f"less often than it claimed (over-confident). Test set split with seed **{SPLIT_SEED}**: T is fitted "
            f"on {len(report.split.calibration):,} images, everything here is measured on the other "
            f"{len(report.split.evaluation):,}.")  # fmt: skip


def bin_rows(before, after, temperature: float) -> list[dict]:
    """The numbers behind the reliability diagram and the histogram: per bin, images, accuracy and confidence."""
    rows = []
    for k in range(len(before.counts)):
        row = {"confidence bin": f"({before.edges[k]:.2f}, {before.edges[k + 1]:.2f}]"}
        for name, bins in (("T = 1", before), (f"T = {temperature:.3g}", after)):
            filled = bins.counts[k] > 0
            row |= {f"images, {name}": int(bins.counts[k]),
                    f"accuracy, {name}": float(bins.accuracy[k]) if filled else None,
                    f"mean confidence, {name}": float(bins.confidence[k]) if filled else None}  # fmt: skip
        rows.append(row)
    return rows


def metrics_table(report, yours, t_now: float) -> None:
    before, after, fit = report.before, report.after, report.fit
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


def temperature_section(report, runs_dir: str, key: str, data_dir: str) -> Param:
    """Your T against the fitted one: the metrics at both, and NLL and ECE over T. Returns the slider's Param."""
    st.subheader("Before and after, on the evaluation half")
    fit = report.fit
    temperature = replace(TEMPERATURE, default=nearest_stop(TEMPERATURES, fit.temperature))
    t_now = temperature.draw()
    yours = cached.evaluation_at(runs_dir, key, data_dir, SPLIT_SEED, t_now)
    table, curves = st.columns(2, gap="medium")  # half the width: the table's four columns fit at 1280 px
    with table:
        metrics_table(report, yours, t_now)
    with curves:
        lines = (report.temperatures, report.nll_curve, report.ece_curve, fit.temperature, t_now)
        chart(cached.calibration_curves(*lines), "cal_curves", temperature_curves_alt(*lines))
        caption(f"The star is the T the fit found on the calibration half (from T = 1, by Newton's method on "
                f"1/T, {fit.evaluations} steps); the curves are the evaluation half, so the minimum may sit "
                "slightly beside it.")  # fmt: skip
        with st.expander("NLL and ECE over T as a table", icon=":material/table:"):
            st.dataframe(cached.table([{"T": float(t), "NLL": float(n), "ECE": float(e)}
                                       for t, n, e in zip(*lines[:3])]), hide_index=True, width="stretch")  # fmt: skip
    return temperature


def histogram_section(report) -> None:
    before, after, t = report.before.bins, report.after.bins, report.fit.temperature
    accuracy = report.before.accuracy
    chart(cached.confidence_histogram(before, after, t, accuracy), "cal_histogram",
          confidence_histogram_alt(before, after, t, accuracy))  # fmt: skip
    caption("How the evaluation images spread over confidence (dotted: at the fitted T). When the bars' mean "
            "confidence sits right of the accuracy line, the model claims more than it delivers.")  # fmt: skip
    with st.expander("The bins of both charts as a table", icon=":material/table:"):
        st.dataframe(cached.table(bin_rows(before, after, t)), hide_index=True, width="stretch")


def run_view(report, runs_dir: str, key: str, data, data_dir: str) -> list[Param]:
    """Everything about one calibrated run; returns the controls drawn (for the share link)."""
    reliability_section(report)
    temperature = temperature_section(report, runs_dir, key, data_dir)
    histogram_section(report)
    logits = cached.run_logits(runs_dir, key, data_dir)
    image = image_section(report, logits, data.test_labels.numpy(), data.class_names)
    return [temperature, image]


st.title("Confidence and calibration")
st.markdown("A model's **confidence** is its largest softmax probability. It is *calibrated* when, of the images it "
            "gives 80 %, 80 % are right. Dividing every logit by one temperature $T$ fixes most miscalibration "
            "(Guo et al., 2017).")  # fmt: skip

check_link([TEMPERATURE, *TRAINING_CONTROLS])
data_dir = shared_data_dir()
data = fashion_mnist()  # or a message with the fixes, and the page stops
runs_dir = str(default_runs_dir())
jobs = training_jobs(runs_dir, data.fingerprint, data)
ceiling_key = jobs.key_for(ceiling_config())  # the best linear model: the one rule the CLI fits too
by_key = stored_runs(RunStore(runs_dir))
runs = list(by_key.values())
seed_the_menu(by_key)

if not by_key:
    st.info("The run store is empty: train a model on the **Train on Fashion-MNIST** page first (e.g. the chapter's "
            "setting), or fit the best linear model below.", icon=":material/inventory_2:")  # fmt: skip
    ceiling_section(jobs, ceiling_key, runs, by_key, data)
    st.stop()

keys = list(by_key)
pick, *metric_columns = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
key = pick.selectbox("Run", keys, index=keys.index(default_key(by_key, data.fingerprint)), key=MENU,
                     format_func=lambda k: label(by_key[k]),
                     help="Any stored run; the default is the training page's current settings.")  # fmt: skip
keep_run_in_address(key, MENU)
report = calibration_report(by_key[key], runs_dir, data_dir)
drawn = []
if report is not None:
    headline(report, metric_columns)
    drawn = run_view(report, runs_dir, key, data, data_dir)

chosen = compare_section(keys, by_key, runs_dir, data_dir, SPLIT_SEED)
ceiling_section(jobs, ceiling_key, runs, by_key, data)
share_row(share_and_reset, drawn, {RUN: key, COMPARE: chosen or [NONE_COMPARED]}, (RUN,))
