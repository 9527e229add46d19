"""A keyboard way to open a confusion-matrix cell's images: a menu of the cells, bound to the heatmap's click.

A click on the heatmap selects a cell only with a mouse (or a finger). The menu lists every cell, the
largest mistakes first, and holds the one state both set: a new click moves the menu to the clicked
cell, a choice in the menu (Tab to it, type a class name or use the arrow keys, Enter) replaces it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

Cell = tuple[int, int]  # (true class, predicted class)
NO_CELL = None


def cell_order(confusion) -> list[Cell]:
    """Every cell: the mistakes with images (most first), then the diagonal (most first), then the empty mistakes."""
    m = np.asarray(confusion, dtype=np.int64)
    n = len(m)
    cells = [(t, p) for t in range(n) for p in range(n)]
    mistakes = sorted((c for c in cells if c[0] != c[1] and m[c] > 0), key=lambda c: -m[c])
    right = sorted(((t, t) for t in range(n)), key=lambda c: -m[c])
    empty = [c for c in cells if c[0] != c[1] and m[c] == 0]
    return mistakes + right + empty


def cell_label(cell: Cell | None, confusion, class_names: Sequence[str]) -> str:
    """How the menu names a cell: "Shirt taken for T-shirt/top (150 images)", "Trouser, right (962 images)"."""
    if cell is None:
        return "None: pick a cell to list its images"
    t, p = cell
    count = int(np.asarray(confusion)[t, p])
    what = f"{class_names[t]}, right" if t == p else f"{class_names[t]} taken for {class_names[p]}"
    return f"{what} ({count:,} image{'' if count == 1 else 's'})"


def follow_click(clicked: Cell | None, key: str) -> None:
    """A new click on the heatmap (or its clearing) moves the menu; the same click again leaves the menu's choice."""
    seen = f"_{key}_clicked"
    if clicked != st.session_state.get(seen):
        st.session_state[seen] = clicked
        st.session_state[key] = clicked


def confusion_cell_picker(
    confusion, class_names: Sequence[str], clicked: Cell | None, key: str = "train_confusion_cell", where=None
) -> Cell | None:
    """The cell whose images to list, as (true, predicted), or None: the menu, moved by ``clicked`` when it changes.

    ``clicked`` is the heatmap's selected cell this run (``inspection.selected_cell``); draw the heatmap first.
    """
    follow_click(clicked, key)
    options: list[Cell | None] = [NO_CELL, *cell_order(confusion)]
    if st.session_state.get(key) not in options:  # a matrix of another size since (another run)
        st.session_state[key] = NO_CELL
    return (where or st).selectbox(
        "Cell to list (true class taken for predicted class)",
        options,
        key=key,
        format_func=lambda cell: cell_label(cell, confusion, class_names),
        help="The same as clicking a cell of the matrix: type a class name to find its cells.",
    )
