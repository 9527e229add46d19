"""Calibration page: stored runs compared (ECE before and after temperature scaling, and each run's fitted T).

The compared runs live in the address (their keys, the key repeated), read once from a link like the run.
"""

from __future__ import annotations

import streamlit as st

from dashboard import user_text
from dashboard.caches import calibration as cached
from dashboard.presenter import caption, chart
from dashboard.run_link import label
from dashboard.url_state import name_link_value, show_pending
from softmax_core.figures.calibration_figures import compare_runs_alt

COMPARE = "cal_compare"  # the compared runs (their keys, the key repeated), always in the address
NONE_COMPARED = ""  # cal_compare= : the student emptied the list (no parameter would mean the default list)
WRITTEN = "_cal_compare_in_link"  # what this page last wrote in the address


def linked_compare(by_key: dict, finished: list[str]) -> list[str] | None:
    """The runs a link asks to compare (keys, or the menu's labels as older links held them), read like the run.

    Those that are not finished stored runs are named (the first, and how many more).
    """
    asked = st.query_params.get_all(COMPARE)
    if not asked or (asked == st.session_state.get(WRITTEN) and COMPARE in st.session_state):
        show_pending([COMPARE])
        return None
    st.session_state[WRITTEN] = asked
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
    st.session_state[WRITTEN] = wanted


def chosen_runs(by_key: dict, finished: list[str]) -> list[str]:
    """The multiselect of finished runs (the newest six by default), seeded from a link; its choice goes to the address."""
    linked = linked_compare(by_key, finished)
    if linked is not None:
        st.session_state[COMPARE] = linked
    elif any(k not in finished for k in st.session_state.get(COMPARE, ())):  # removed from the store meanwhile
        st.session_state[COMPARE] = [k for k in st.session_state[COMPARE] if k in finished]
    chosen = st.multiselect("Runs to compare", finished, default=finished[:6], key=COMPARE,
                            format_func=lambda k: label(by_key[k]), placeholder="Pick stored runs")  # fmt: skip
    keep_compared_in_address(chosen)
    return chosen


def comparison_rows(chosen: list[str], by_key: dict, runs_dir: str, data_dir: str, seed: int) -> list[dict]:
    """One row per compared run that can be calibrated; "trained by" when sign-in named who trained one."""
    rows, trainers = [], []
    for k in chosen:
        try:
            r = cached.calibration_report(runs_dir, k, data_dir, seed)
        except ValueError:
            continue
        rows.append({"run": label(by_key[k]), "test acc": by_key[k].history[-1].test_acc, "fitted T": r.fit.temperature,
                     "ECE, T = 1": r.before.ece, "ECE, fitted T": r.after.ece,
                     "NLL, T = 1": r.before.nll, "NLL, fitted T": r.after.nll})  # fmt: skip
        trainers.append(by_key[k].trained_by or "–")
    if any(name != "–" for name in trainers):
        rows = [row | {"trained by": name} for row, name in zip(rows, trainers)]
    return rows


def compare_section(keys: list[str], by_key: dict, runs_dir: str, data_dir: str, seed: int) -> list[str]:
    """The comparison's menu, chart and table; returns the runs chosen (for the share link)."""
    st.subheader("Compare runs")
    finished = [k for k in keys if by_key[k].status == "finished"]
    chosen = chosen_runs(by_key, finished)
    if len(keys) > len(finished):
        caption(f"{len(keys) - len(finished)} diverged run(s) are left out: they have no finite confidences.")
    rows = comparison_rows(chosen, by_key, runs_dir, data_dir, seed) if chosen else []
    if rows:
        columns = [tuple(r[c] for r in rows) for c in ("run", "ECE, T = 1", "ECE, fitted T", "fitted T")]
        chart(cached.compare_runs_chart(*columns), "cal_compare_chart", compare_runs_alt(*columns))
        st.dataframe(cached.table(rows), hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(format="%.4f")
                                    for c in rows[0] if c not in ("run", "trained by")})  # fmt: skip
        caption("T above 1: the run was over-confident (long SGD runs and large learning rates drift there); "
                "T below 1: under-confident (short runs, a heavily penalised model).")  # fmt: skip
    return chosen
