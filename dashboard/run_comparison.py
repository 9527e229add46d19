"""Compare stored runs: their curves overlaid, their last epochs side by side, and scratch against concise.

The training page's last section. A module, not a page of its own: it follows the run on screen (which
joins the comparison each time the settings change to a stored run), and a page would lose that.
"""

from __future__ import annotations

import warnings

import streamlit as st

from dashboard import user_text
from dashboard.caches import training as cached
from dashboard.chart_numbers import the_numbers
from dashboard.presenter import caption, chart
from softmax_core.figures.training_figures import (
    METRIC_NAMES,
    LabelledHistory,
    compare_curves_alt,
    compare_table,
    config_label,
    diverged_label,
    final_gap,
    run_row,
    scratch_concise_pairs,
)
from softmax_core.linear_ceiling import best_linear_label, best_linear_run
from softmax_core.run_store import RunStore, StoredRun

GAP_FORMATS = {
    "test acc, scratch": "%.4f",
    "test acc, concise": "%.4f",
    "Δ test acc": "%.2e",
    "Δ train loss": "%.2e",
}


def best_linear(store: RunStore, fingerprint: str) -> tuple[float, str] | None:
    """(test accuracy, label) of the best stored L-BFGS ceiling run on this data, for a reference line."""
    with warnings.catch_warnings():  # a damaged run is reported by the comparison
        warnings.simplefilter("ignore")
        best = best_linear_run(store.list_runs(), fingerprint)
    return (best.history[-1].test_acc, best_linear_label(best)) if best is not None else None


def compare(store: RunStore, current_key: str | None) -> None:
    """The section: pick runs, see one metric of them overlaid and their last epochs, then scratch against concise."""
    st.subheader("Compare stored runs")
    runs = stored_runs(store)
    if not runs:
        st.info("No stored runs yet. Train a few settings (e.g. learning rate 0.01, 0.1 and 1) to compare them here.")
        return
    by_key = {run.key: run for run in runs}
    picked = picked_runs(by_key, runs[0].key, current_key)
    metric = (
        st.segmented_control(
            "Curve", list(METRIC_NAMES), format_func=METRIC_NAMES.get, default="test_acc", key="train_compare_metric"
        )
        or "test_acc"
    )
    if picked:
        overlay(store, [by_key[k] for k in picked], metric)
    scratch_against_concise(runs)


def stored_runs(store: RunStore) -> list[StoredRun]:
    """Every stored run, newest first; a damaged one is named in a sentence, not shown."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runs = store.list_runs()
    for warning in caught:
        user_text.warning(str(warning.message))
    return runs


def picked_runs(by_key: dict[str, StoredRun], newest: str, current_key: str | None) -> list[str]:
    """The runs the student picked. The run on screen joins once (each time the settings change to a stored
    run) and stays out once removed; with nothing picked yet and no stored run on screen, the newest."""
    selected = [k for k in st.session_state.get("train_compare", []) if k in by_key]
    if "train_compare" not in st.session_state and current_key not in by_key:
        selected = [newest]
    if current_key in by_key and st.session_state.get("train_compare_added") != current_key:
        st.session_state.train_compare_added = current_key
        selected = selected if current_key in selected else [*selected, current_key]
    st.session_state.train_compare = selected
    return st.multiselect(
        "Runs",
        list(by_key),
        key="train_compare",
        format_func=lambda k: config_label(by_key[k].config, by_key[k].status),
        placeholder="Pick stored runs to overlay",
    )


def labelled(run: StoredRun) -> LabelledHistory:
    """A run on the compare chart: a diverged one is marked where it blew up, by a cross and in words."""
    diverged = diverged_label(run.diverged_at) if run.status == "diverged" else None
    return LabelledHistory(config_label(run.config, run.status), run.history, diverged)


def overlay(store: RunStore, chosen: list[StoredRun], metric: str) -> None:
    """One metric of the chosen runs overlaid (the linear ceiling dotted, for test accuracy), then their last epochs."""
    reference = best_linear(store, chosen[0].data_fingerprint) if metric == "test_acc" else None
    curves = tuple(labelled(r) for r in chosen)
    chart(
        cached.compare_curves(curves, metric, reference=reference),
        "train_compare_chart",
        alt=compare_curves_alt(curves, metric, reference=reference),
    )
    if reference is not None:
        caption(
            f"Dotted: {reference[1]} (the L-BFGS ceiling on the calibration page), the best a linear "
            "model reached on this data."
        )
    rows = [
        run_row(config_label(r.config, r.status), r.history, r.train_seconds, r.status, r.diverged_at) for r in chosen
    ]
    if any(r.trained_by for r in chosen):  # with sign-in on: the name of who trained each run
        rows = [row | {"trained by": r.trained_by or "–"} for row, r in zip(rows, chosen)]
    st.dataframe(cached.table(rows), hide_index=True, width="stretch")
    the_numbers(compare_table(curves, metric))


def scratch_against_concise(runs: list[StoredRun]) -> None:
    """How far apart the two implementations end with otherwise equal settings: only float rounding."""
    st.markdown(
        "**Scratch against concise.** Same seed, same initial weights, same batches: "
        "how far apart do the two implementations end?"
    )
    rows = [gap_row(scratch, concise) for scratch, concise in scratch_concise_pairs(runs)]
    rows = [row for row in rows if row is not None]
    if not rows:
        caption("Store one run of each implementation with otherwise equal settings to see the gap here.")
        return
    st.dataframe(
        cached.table(rows),
        hide_index=True,
        width="stretch",
        column_config={name: st.column_config.NumberColumn(format=f) for name, f in GAP_FORMATS.items()},
    )
    caption(
        "Δ is scratch minus concise after the last epoch. The two compute the same function; they differ "
        "only in float rounding (sum-then-divide against mean, softmax-then-log against fused log-softmax)."
    )


def gap_row(scratch: StoredRun, concise: StoredRun) -> dict[str, object] | None:
    """One row of the gap table, or None when either run has no finished epoch."""
    if not (scratch.history and concise.history):
        return None
    gap = final_gap(scratch.history, concise.history)
    return {
        "settings": config_label(scratch.config).removeprefix("scratch · "),
        "test acc, scratch": scratch.history[-1].test_acc,
        "test acc, concise": concise.history[-1].test_acc,
        "Δ test acc": gap["test_acc"],
        "Δ train loss": gap["train_loss"],
    }
