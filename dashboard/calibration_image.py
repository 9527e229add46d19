"""Calibration page: one image of the evaluation half, opened on the softmax page at the fitted temperature."""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard.presenter import caption
from dashboard.url_state import Param, check_link, int_param
from softmax_core import calibration as cal
from softmax_core.classes import indefinite_article

SHOWN = "cal_image_shown"  # the image shown last, so + and - know which way the input moved


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
    shown = in_evaluation_half(evaluation, asked, st.session_state.get(SHOWN, int(evaluation[0])))
    st.session_state["cal_image"] = float(shown)
    st.session_state[SHOWN] = shown


def image_param(evaluation: np.ndarray, last: int) -> Param:
    """The test image input: the first evaluation image by default, bounded by the test set."""
    return int_param("cal_image", int(evaluation[0]), 0, last, "Test image # (from the evaluation half)",
                     "number_input", help="Only images T was not fitted on: + and − step over the calibration half.")  # fmt: skip


def image_section(report, logits: np.ndarray, labels: np.ndarray, names) -> Param:
    """Pick an evaluation image; its probabilities and a link to the softmax page. Returns the control drawn."""
    st.subheader("One image on the softmax page")
    ev, temperature = report.split.evaluation, report.fit.temperature
    param = image_param(ev, len(labels) - 1)
    check_link([param])
    pick, open_link = st.columns([1, 2], vertical_alignment="bottom")
    asked = int(param.draw(pick, on_change=_step_over_calibration_half, args=(ev,)))
    image = in_evaluation_half(ev, asked, asked)
    st.session_state[SHOWN] = image
    if image != asked:  # a link (or an old view) named an image of the calibration half
        st.info(f"Test image #{asked} is in the calibration half (T was fitted on it): showing #{image}, the "
                "next image of the evaluation half.", icon=":material/swap_horiz:")  # fmt: skip
    open_link.link_button("Open this model on the softmax page", cal.softmax_page_link(logits[image], temperature),
                          help=f"At the fitted T = {temperature:.3g}", icon=":material/open_in_new:")  # fmt: skip
    probs = cal.probabilities(logits[image : image + 1], temperature)[0]
    at_one = cal.probabilities(logits[image : image + 1])[0].max()
    true_name = names[labels[image]]
    caption(f"Image #{image} is {indefinite_article(true_name)} {true_name}; the model predicts "
            f"{names[int(probs.argmax())]} with {probs.max():.1%} at the fitted T ({at_one:.1%} at T = 1). The link "
            "carries its ten logits (rounded to 3 decimals) and T; the softmax page's T slider snaps to its "
            "nearest stop, so T there may differ slightly.")  # fmt: skip
    return param
