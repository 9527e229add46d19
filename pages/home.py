"""Home: what each page teaches, with the chapter's formulas."""

import streamlit as st

from dashboard.catalog import PAGES
from dashboard.deep_links import run_through_navigation
from dashboard.lecture import code_field

run_through_navigation()  # first: /home on a fresh server must go through streamlit_app.py (and its sign-in gate)
st.title("Softmax regression, live")
st.markdown(
    "An interactive companion to chapter 3 of *Dive into Deep Learning*: "
    "a linear model scores every class, softmax turns the scores into "
    "probabilities, and cross-entropy measures how wrong they are."
)
code_field()  # lecture mode: type the code on the projector

left, right = st.columns(2, gap="large")
with left:
    st.subheader("The model")
    st.latex(
        r"\mathbf{o} = \mathbf{W}^\top \mathbf{x} + \mathbf{b}, \qquad \hat{\mathbf{y}} = \mathrm{softmax}(\mathbf{o})"
    )
    st.latex(r"\hat{y}_j = \frac{\exp(o_j)}{\sum_k \exp(o_k)}")
    st.markdown(
        "For Fashion-MNIST: $\\mathbf{x} \\in \\mathbb{R}^{784}$ (28×28 pixels), 10 classes, so $\\mathbf{W}$ is 784×10."
    )
with right:
    st.subheader("The loss")
    st.latex(r"l(\mathbf{y}, \hat{\mathbf{y}}) = -\sum_{j=1}^{q} y_j \log \hat{y}_j = -\log \hat{y}_{y}")
    st.latex(r"\partial_{o_j} l = \mathrm{softmax}(\mathbf{o})_j - y_j")
    st.markdown(
        "With a one-hot label only the true class's term survives: the loss is minus the log of the probability given to the right answer."
    )

st.divider()
st.subheader("Pages")
if not PAGES:
    st.info("The interactive pages are on their way.")
for page in PAGES:
    with st.container(border=True):
        text, math = st.columns([3, 2], vertical_alignment="center")
        text.page_link(page.path, label=f"**{page.title}**", icon=page.icon)
        text.markdown(page.teaches)
        math.latex(page.formula)
