"""Inside the model: the student's own photo through the Fashion-MNIST preprocessing, step by step, then classified."""

from __future__ import annotations

import streamlit as st

from dashboard.image_explanation import contribution_figure, score_table
from dashboard.presenter import caption, chart
from dashboard.user_text import literal
from softmax_core import inspection
from softmax_core.figures.inside_figures import (
    contribution_maps,
    probabilities_alt,
    score_bars,
    score_bars_alt,
    upload_steps,
    upload_steps_alt,
)
from softmax_core.figures.training_figures import probability_bars
from softmax_core.garment_upload import MAX_BYTES, UPLOAD_TYPES, UploadError, prepare


def upload_section(weights, biases, index, names) -> None:
    """The uploader; a picture goes through the steps and the weights at ``index``; bad files get a sentence."""
    st.subheader("Your own picture")
    caption(
        "A photo or drawing of one garment, PNG, JPEG or WebP, best on a plain light background and filling most "
        "of the frame. It is made into 28 x 28 pixels the way Zalando made Fashion-MNIST from product photos, "
        "shown step by step and classified; nothing you upload is stored on the server."
    )
    upload = st.file_uploader(
        "Upload a picture of a garment", type=list(UPLOAD_TYPES), key="in_upload", max_upload_size=MAX_BYTES // 2**20
    )
    if upload is None:
        return
    try:
        prepared = prepare(upload.getvalue())
    except UploadError as exc:
        st.error(literal(str(exc)), icon=":material/broken_image:")
        return
    chart(upload_steps(prepared.steps, columns=4), "in_upload_steps", upload_steps_alt(prepared.steps))
    st.markdown(upload_step_list(prepared.steps))
    why = inspection.explain(weights[index], biases[index], prepared.pixels)
    st.markdown(f"The model says **{names[why.predicted]}** ({why.probs[why.predicted]:.1%}).")
    left, right = st.columns(2)
    chart(score_bars(why.scores, names, height=330), "in_upload_scores", score_bars_alt(why.scores, names), left)
    chart(probability_bars(why.probs, names, height=330), "in_upload_probs", probabilities_alt(why.probs, names), right)
    score_table(why, names)
    classes = inspection.explained_classes(why)
    contribution_figure(why, contribution_maps(why, classes, names), classes, names, "in_upload_contributions")


def upload_step_list(steps) -> str:
    """The steps as a numbered Markdown list whose items are plain text (their notes hold no markup)."""
    return "\n".join(f"{n}. {literal(f'{step.title}: {step.note}')}" for n, step in enumerate(steps, start=1))
