"""Inside the model: why one test image got its label (scores, softmax, and the contribution maps that add up to them)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard.caches import inside_model as cached
from dashboard.presenter import caption, chart
from dashboard.url_state import Param, int_param
from softmax_core import inspection
from softmax_core.classes import indefinite_article
from softmax_core.figures.inside_figures import (
    contribution_maps_alt,
    contribution_sums,
    model_input_alt,
    probabilities_alt,
    score_bars_alt,
)

SOFTMAX_PAGE = "pages/softmax_temperature.py"


def image_param(last: int) -> Param:
    """The test image input, bounded by the test set (a float input showing whole numbers: see ``int_param``)."""
    return int_param("in_image", 0, 0, last, "Test image #", "number_input")


def pick_image(param: Param, true, predicted) -> int:
    """The test image input and a button that jumps to a random mistake of the weights shown."""

    def random_mistake() -> None:
        chosen = inspection.random_mistake(true, predicted, np.random.default_rng())
        if chosen is not None:
            st.session_state[param.key] = float(chosen)

    pick, jump = st.columns([1, 1], vertical_alignment="bottom")
    i = param.draw(pick)
    jump.button("A random mistake", icon=":material/casino:", key="in_random_mistake", on_click=random_mistake)
    return int(i)


def explanation_section(runs_dir, key, index, data, data_dir, predicted, names, where, param: Param) -> None:
    """The image, its scores and probabilities, the contribution maps, and a link to the softmax page."""
    st.subheader("Why this image got its label")
    true = data.test_labels.numpy()
    i = pick_image(param, true, predicted)
    label = int(true[i])
    why, figures = cached.explanation(runs_dir, key, index, i, data_dir, tuple(names))
    verdict = "right" if why.predicted == label else "a mistake"
    st.markdown(
        f"Test image #{i} is {indefinite_article(names[label])} **{names[label]}**; the model ({where}) "
        f"says **{names[why.predicted]}** ({why.probs[why.predicted]:.1%}): {verdict}."
    )
    image, scores, probs = st.columns([1, 1.3, 1.3], gap="small")
    chart(figures.image, "in_image_fig", model_input_alt(why.pixels, f"Test image #{i}, {names[label]}"), image)
    chart(figures.scores, "in_scores", score_bars_alt(why.scores, names), scores)
    chart(figures.probs, "in_probs", probabilities_alt(why.probs, names), probs)
    score_table(why, names)
    contribution_figure(why, figures.contributions, figures.classes, names, "in_contributions")
    st.page_link(
        SOFTMAX_PAGE,
        label="Open these scores on the softmax page",
        icon=":material/thermostat:",
        query_params=inspection.softmax_page_query(why.scores),
    )


def score_table(why, names) -> None:
    """The numbers behind the score and probability bars."""
    rows = [{"class": name, "score o": float(why.scores[j]), "probability": float(why.probs[j])}
            for j, name in enumerate(names)]  # fmt: skip
    with st.expander("Scores and probabilities as a table", icon=":material/table:"):
        st.dataframe(cached.table(rows), hide_index=True, width="stretch",
                     column_config={"probability": st.column_config.NumberColumn(format="percent")})  # fmt: skip


def contribution_figure(why, fig, classes, names, key: str) -> None:
    """The contribution maps, and the bookkeeping that adds each up to its score (the text is their numbers)."""
    chart(fig, key, contribution_maps_alt(why, classes, names))
    caption(
        "Each map is x * w_j, pixel by pixel: blue pixels pushed towards that class, red ones away. "
        "Its 784 values add up, plus the bias b_j, to the class's score o_j (the bar above):"
    )
    st.text(contribution_sums(why, classes, names))
