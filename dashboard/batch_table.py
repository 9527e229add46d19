"""The batch of the cross-entropy page: the editable table of predictions ``y_hat`` and labels ``y``.

The editor's own session state holds only edits (a delta on the data it was given), so the table lives
in the session under the page's link keys (``yhat`` / ``y``) and the editor is re-created from it (a new
key) only when something else changed it: a link, Reset, Normalise, or a class added or removed.
"""

from __future__ import annotations

import streamlit as st

from dashboard.presenter import caption
from softmax_core import prediction_table as table

ss = st.session_state
MAX_SHOWN_PROBLEMS = 6


def _change_rows(rows_key: str, change) -> None:
    """Apply add_class / remove_class / normalise_rows to the table as it is when the button is pressed."""
    ss[rows_key] = change(ss[rows_key])


def batch_editor(rows_key: str, labels_key: str, default_classes: int) -> tuple[table.Rows, table.Labels]:
    """The data editor over the stored table; returns the table as the student sees it now."""
    current = (ss[rows_key], ss[labels_key])
    if ss.get("ce_shown") != current:  # changed outside the editor: start it afresh from the table
        ss["ce_base"] = current
        ss["ce_version"] = ss.get("ce_version", 0) + 1
    rows, labels = ss["ce_base"]
    k = table.num_classes(rows) or default_classes
    frame = table.to_frame(rows, labels, min_classes=k)
    config = {
        table.class_column(j): st.column_config.TextColumn(
            f"class {j}", width="small", default=f"1/{k}", help=f"y_hat[i, {j}]: the predicted probability of class {j}"
        )
        for j in range(k)
    }
    config[table.LABEL_COLUMN] = st.column_config.TextColumn(
        "y", width="small", default="0", help=f"the index of the true class, 0 … {k - 1}"
    )
    edited = st.data_editor(
        frame,
        key=f"ce_editor_{ss['ce_version']}",
        num_rows="dynamic",
        hide_index=True,
        column_config=config,
        width="stretch",
    )
    rows, labels = table.from_frame(edited)
    ss[rows_key], ss[labels_key] = rows, labels
    ss["ce_shown"] = (rows, labels)
    return rows, labels


def class_buttons(rows_key: str, rows: table.Rows) -> None:
    """+ class / − class under the table (wide enough for their labels on a projector)."""
    k = table.num_classes(rows)
    left, right = st.columns(2, vertical_alignment="center")
    left.button(
        "+ class",
        key="ce_add_class",
        on_click=_change_rows,
        args=(rows_key, table.add_class),
        disabled=not rows or k >= table.MAX_CLASSES,
        help="Add a class with probability 0 in every row",
        width="stretch",
    )
    right.button(
        "− class",
        key="ce_remove_class",
        on_click=_change_rows,
        args=(rows_key, table.remove_class),
        disabled=not rows or k <= 2,
        help="Remove the last class",
        width="stretch",
    )
    caption(f"{len(rows)} examples × {k} classes. Type decimals or fractions (`1/3`); add or delete rows in the table.")


def show_problems(rows_key: str, checked: table.CheckedTable) -> None:
    """What is wrong with the table, in sentences (the first few), and the Normalise button when it fixes them."""
    for problem in checked.problems[:MAX_SHOWN_PROBLEMS]:
        (st.error if problem.blocking else st.warning)(
            problem.message, icon=":material/error:" if problem.blocking else ":material/warning:"
        )
    if len(checked.problems) > MAX_SHOWN_PROBLEMS:
        st.caption(f"… and {len(checked.problems) - MAX_SHOWN_PROBLEMS} more.")
    if table.NORMALISE in checked.fixes:
        st.button(
            "Normalise the rows (divide each by its sum)",
            key="ce_normalise",
            on_click=_change_rows,
            args=(rows_key, table.normalise_rows),
            type="primary",
        )
