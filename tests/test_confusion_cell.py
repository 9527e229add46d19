"""The keyboard way to a confusion-matrix cell: a menu of every cell, moved by a click, and moving the same state."""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.confusion_cell import cell_label, cell_order

pytestmark = pytest.mark.app

NAMES = ("Ay", "Bee", "Cee")
CONFUSION = np.array([[50, 7, 0], [2, 40, 9], [1, 0, 60]])


def _picker_script():
    import numpy as np
    import streamlit as st

    from dashboard.confusion_cell import confusion_cell_picker

    confusion = np.array([[50, 7, 0], [2, 40, 9], [1, 0, 60]])
    clicked = st.session_state.get("clicked")  # what the heatmap's selection reports this run
    st.session_state["picked"] = confusion_cell_picker(confusion, ("Ay", "Bee", "Cee"), clicked, key="cell")


def _run() -> AppTest:
    return AppTest.from_function(_picker_script, default_timeout=30).run()


def test_every_cell_is_listed_once_the_largest_mistakes_first():
    order = cell_order(CONFUSION)
    assert sorted(order) == [(t, p) for t in range(3) for p in range(3)]
    assert order[:4] == [(1, 2), (0, 1), (1, 0), (2, 0)]  # 9, 7, 2, 1 images
    assert order[4:7] == [(2, 2), (0, 0), (1, 1)]  # the diagonal, most first
    assert set(order[7:]) == {(0, 2), (2, 1)}  # the mistakes no image made
    assert cell_label((1, 2), CONFUSION, NAMES) == "Bee taken for Cee (9 images)"
    assert cell_label((2, 0), CONFUSION, NAMES) == "Cee taken for Ay (1 image)"
    assert cell_label((0, 0), CONFUSION, NAMES) == "Ay, right (50 images)"


def test_nothing_is_picked_until_a_cell_is_chosen_and_the_menu_shows_it_first():
    at = _run()
    assert not at.exception
    assert at.session_state["picked"] is None
    menu = at.selectbox(key="cell")
    assert menu.options[0].startswith("None") and menu.options[1] == "Bee taken for Cee (9 images)"


def test_the_menu_alone_opens_a_cell():
    at = _run()
    at.selectbox(key="cell").select_index(2).run()  # what Tab, the arrow keys and Enter do
    assert not at.exception
    assert at.session_state["picked"] == (0, 1)


def test_a_click_moves_the_menu_and_a_later_choice_in_the_menu_wins_until_the_next_click():
    at = _run()
    at.session_state["clicked"] = (2, 0)
    at.run()
    assert at.session_state["picked"] == (2, 0)
    assert at.selectbox(key="cell").value == (2, 0)  # the menu shows the clicked cell
    at.selectbox(key="cell").select_index(1).run()  # the same click still selected in the chart
    assert at.session_state["picked"] == (1, 2)
    at.session_state["clicked"] = (0, 0)
    at.run()
    assert at.session_state["picked"] == (0, 0)
    at.session_state["clicked"] = None  # the click cleared (a double click on the chart)
    at.run()
    assert at.session_state["picked"] is None
