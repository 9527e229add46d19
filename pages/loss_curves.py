"""L1, L2 and Huber losses: each curve, its gradient and its likelihood, and one gradient step under each."""

import streamlit as st

from dashboard import user_text
from dashboard.caches import loss_curves as cached
from dashboard.deep_links import run_through_navigation
from dashboard.presenter import caption, chart, presenting, share_row
from dashboard.url_state import check_link, choice_param, float_param, share_and_reset
from softmax_core.figures.loss_figures import (
    LOSS_TITLES,
    QUANTITIES,
    fmt,
    gradient_step_alt,
    loss_style,
    view_half_width,
)
from softmax_core.gradient_step import step_table
from softmax_core.losses import LOSSES

run_through_navigation()  # first: a deep link on a fresh server must go through streamlit_app.py

VIEWS = {"each": "Each loss", "compare": "Compare the three"}
AXIS_LABELS = {"residual": "residual d = ŷ − y", "prediction": "prediction ŷ"}

Y = float_param("loss_y", 0.0, -5.0, 5.0, "target y", step=0.1)
Y_HAT = float_param("loss_y_hat", 2.5, -5.0, 5.0, "prediction ŷ", step=0.1)
DELTA = float_param(
    "loss_delta", 1.0, 0.1, 5.0, "Huber δ", step=0.1, help="Huber is quadratic for |d| ≤ δ and linear beyond"
)
RANGE = float_param(
    "loss_range",
    4.0,
    1.0,
    10.0,
    "plotted range ±",
    step=0.5,
    help="Half-width of the horizontal axis, around the target",
)
LR = float_param("loss_lr", 0.5, 0.05, 2.5, "learning rate η", step=0.05)
VIEW = choice_param(
    "loss_view",
    "each",
    VIEWS,
    "view",
    horizontal=True,
    help="Each loss: its loss, gradient and likelihood stacked. Compare: the three losses overlaid.",
)
AXIS = choice_param("loss_axis", "residual", AXIS_LABELS, "horizontal axis", horizontal=True)
PARAMS = [Y, Y_HAT, DELTA, RANGE, LR, VIEW, AXIS]

st.title("L1, L2 & Huber losses")
st.markdown(
    "A regression loss scores the residual $d = \\hat y - y$. Its gradient is the pull gradient descent feels, "
    "and the density $p(d) = \\exp(-\\ell)/Z$ (normalised: each integrates to 1) is the noise model the loss "
    "assumes: minimising L2 is maximum likelihood under Gaussian noise, L1 under Laplace noise."
    # The code in words, except on the projector (presenter mode has no captions; its legends name the
    # losses, and the extra line pushed the charts out of a 1280x720 first screen).
    + (
        ""
        if presenting()
        else " Each loss keeps its colour, line and marker in every chart: "
        + "; ".join(f"{name}: {loss_style(name)}" for name in LOSSES)
        + "."
    )
)

check_link(PARAMS)
c1, c2, c3, c4 = st.columns(4)
for column, param in zip((c1, c2, c3, c4), (Y, Y_HAT, DELTA, RANGE)):
    param.draw(column)
c1, c2 = st.columns(2)
VIEW.draw(c1)
AXIS.draw(c2)
share_slot = st.container()  # filled last: the link needs every control's value, the learning rate's too

y, y_hat, delta = st.session_state[Y.key], st.session_state[Y_HAT.key], st.session_state[DELTA.key]
plot_range, axis = st.session_state[RANGE.key], st.session_state[AXIS.key]

d = y_hat - y
if view_half_width(plot_range, d) > plot_range:
    caption(f"The residual d = {fmt(d)} lies outside ±{fmt(plot_range)}: the plots widen to keep the marker in view.")

# Each view draws three figures; only the chosen view's are built (once per server: dashboard/caches/loss_curves.py).
if st.session_state[VIEW.key] == "each":
    for column, name in zip(st.columns(3), LOSSES):
        fig = cached.one_loss_figure(name, y_hat, y, delta, plot_range, axis)
        chart(fig, f"loss_each_{name}", cached.one_loss_figure_alt(name, y_hat, y, delta, plot_range, axis), column)
else:
    for column, q in zip(st.columns(3), QUANTITIES):
        fig = cached.compare_figure(q, y_hat, y, delta, plot_range, axis)
        chart(fig, f"loss_compare_{q}", cached.compare_figure_alt(q, y_hat, y, delta, plot_range, axis), column)

# Formulas under their curves: one column per loss, with the current numbers plugged in.
for column, name in zip(st.columns(3), LOSSES):
    with column:
        st.markdown(f"**{LOSS_TITLES[name]}**")
        st.latex(
            r"\begin{gathered}" + r" \\[4pt] ".join(cached.loss_formulas(name, y_hat, y, delta)) + r"\end{gathered}"
        )

st.divider()
st.subheader("One gradient step")
left, right = st.columns([1, 2], vertical_alignment="center")
LR.draw(left)
lr = st.session_state[LR.key]
right.latex(  # one short line each: fits a phone's 390 px
    r"\begin{gathered}\hat y \leftarrow \hat y - \eta\,\partial_{\hat y}\ell \\[4pt]"
    r"\text{L2: } -\eta\, d, \quad \text{L1: } -\eta\,\operatorname{sign}(d), \\"
    r"\text{Huber: } -\eta\,\operatorname{clip}(d, -\delta, \delta)\end{gathered}"
)
try:
    steps = cached.gradient_steps(y_hat, y, lr, delta)
except ValueError as exc:
    user_text.error(f"Cannot take the step: {exc}")
else:
    # Plain numbers, which the table shows to 4 decimals, right-aligned: a pandas Styler for 3 decimals
    # was 5 % of the server's CPU while a class loaded every page, and the DataFrame converted on every
    # load 9 % of this page's (docs/performance.md); the Arrow table is cached on its values.
    # A width in pixels (enough for the longest "what happens") makes the table a focusable "Scrollable
    # table" region, so on a phone, where its seven columns scroll sideways, the keyboard reaches it (WCAG 2.1.1).
    st.table(cached.table(step_table(steps)), hide_index=True, width=760)
    if d != 0:
        caption(
            f"From d = {fmt(d)}: L2's step is |d| = {fmt(abs(d))} times L1's. "
            + (
                "Huber is outside its quadratic zone (|d| > δ), so it steps like L1 scaled by δ."
                if abs(d) > delta
                else "Huber is inside its quadratic zone (|d| ≤ δ), so it steps like L2."
            )
        )
    for column, step, fig in zip(st.columns(3), steps, cached.gradient_step_figures(steps, delta, plot_range, axis)):
        chart(fig, f"loss_gradient_step_{step.loss}", gradient_step_alt(step), column)
    caption("The loss's marker: the current prediction. Arrow: one step, its tip at the new prediction and its loss.")

with st.expander("The numbers behind the curves above"):  # a real table a screen reader can walk
    st.table(cached.curve_table(y_hat, y, delta, plot_range, axis), hide_index=True)

with share_slot:
    share_row(share_and_reset, PARAMS)
