r"""The training page's derivation of the "by hand" implementation: d2l 3.4's ŷ − y, next to its code.

The formulas are this project's fixed text (LaTeX and markdown of our own), and the code is
the real source of :meth:`softmax_core.models.ByHandSoftmaxRegression.step`, read with
``inspect`` at run time, so what the page shows is what trains.
"""

from __future__ import annotations

import inspect
import textwrap
from functools import cache

import streamlit as st

from dashboard.presenter import caption
from softmax_core.models import ByHandSoftmaxRegression

TITLE = "The gradient by hand: softmax(o) − y"

# Each step: what it says, then its formulas, one short line each (a phone shows about 300 px of a formula).
DERIVATION = (
    (
        "The loss of one example with scores $\\mathbf{o}$ and one-hot label $\\mathbf{y}$ (d2l 3.4), "
        "with $\\hat y_j = \\exp(o_j) / \\sum_k \\exp(o_k)$ and $\\sum_j y_j = 1$:",
        (
            r"l(\mathbf{y}, \hat{\mathbf{y}}) = -\sum_j y_j \log \hat y_j",
            r"= \log \sum_k \exp(o_k) - \sum_j y_j o_j",
        ),
    ),
    (
        "Differentiate with respect to one score $o_j$: the first term gives the softmax, the second $y_j$.",
        (
            r"\frac{\partial l}{\partial o_j} = \frac{\exp(o_j)}{\sum_k \exp(o_k)} - y_j",
            r"= \mathrm{softmax}(\mathbf{o})_j - y_j",
        ),
    ),
    (
        "For a batch of $B$ rows, $\\mathbf{O} = \\mathbf{X}\\mathbf{W} + \\mathbf{b}$, the mean loss has the "
        "gradient $\\mathbf{G} = (\\hat{\\mathbf{Y}} - \\mathbf{Y}) / B$ in the scores; the chain rule through "
        "$\\mathbf{X}\\mathbf{W} + \\mathbf{b}$ gives:",
        (
            r"\partial_{\mathbf{W}} = \tfrac{1}{B}\,\mathbf{X}^\top(\hat{\mathbf{Y}} - \mathbf{Y})",
            r"\partial_{\mathbf{b}} = \tfrac{1}{B}\sum_{i=1}^{B} (\hat{\mathbf{y}}^{(i)} - \mathbf{y}^{(i)})",
        ),
    ),
    (
        "So one SGD step needs no autograd: the scores, their softmax, 1 subtracted at each true class, "
        "and one matrix product.",
        (
            r"\mathbf{W} \leftarrow \mathbf{W} - \tfrac{\eta}{B}\,\mathbf{X}^\top(\hat{\mathbf{Y}} - \mathbf{Y})",
            r"\mathbf{b} \leftarrow \mathbf{b} - \eta\,\mathrm{mean}(\hat{\mathbf{Y}} - \mathbf{Y})",
        ),
    ),
)

CODE_NOTE = (
    "The code keeps W as `nn.Linear` does, transposed (10 × 784), and the batch's scores as "
    "$\\mathbf{O}^\\top$ (10 × B), one column per example, so every line above appears transposed: "
    "`W_T.addmm_(G, pixels)` is $\\mathbf{W}^\\top \\mathrel{-}= \\tfrac{\\eta}{B}(\\hat{\\mathbf{Y}} - "
    "\\mathbf{Y})^\\top\\mathbf{X}$. The pixels come in as 0-255; the division by 255 of `ToTensor` is the "
    "`alpha` of both products. Subtracting each column's largest score first changes no probability and "
    "keeps `exp` from overflowing; the loss is then $\\log\\sum_k\\exp(o_k) - o_y$, finite wherever the "
    "scores are. Its gradient is tested against autograd's in `tests/test_gradient_by_hand.py`."
)


@cache
def step_source() -> str:
    """The source of the step that trains the by-hand model, as the page shows it."""
    return textwrap.dedent(inspect.getsource(ByHandSoftmaxRegression.step)).rstrip()


def derivation_section(chosen: bool) -> None:
    """The derivation, then the code that computes it; open when "by hand" is the chosen implementation."""
    with st.expander(TITLE, expanded=chosen, icon=":material/function:"):
        for words, formulas in DERIVATION:
            st.markdown(words)
            for formula in formulas:
                st.latex(formula)
        st.markdown(
            "The step that trains the *by hand* model, `ByHandSoftmaxRegression.step` in `softmax_core/models.py`:"
        )
        st.code(step_source(), language="python", wrap_lines=True)
        caption(CODE_NOTE)
