r"""Cross-entropy, step by step: the chapter's ``-torch.log(y_hat[range(len(y_hat)), y]).mean()``.

An editable table of predictions ``y_hat`` and labels ``y`` on the left (dashboard/batch_table.py);
on the right a stepper runs the loss one line of torch at a time (pick the cells, read them out, -log,
mean, and the same from logits with log-sum-exp), showing each line and its real output. Table, step
and "show all" live in the URL.
"""

from __future__ import annotations

import streamlit as st
import torch
import torch.nn.functional as F

from dashboard import url_state
from dashboard.batch_table import batch_editor, class_buttons, show_problems
from dashboard.caches import cross_entropy_steps as cached
from dashboard.deep_links import run_through_navigation
from dashboard.presenter import caption, chart, share_row
from softmax_core import cross_entropy_trace, logits_trace
from softmax_core import prediction_table as table
from softmax_core.cross_entropy import torch_session
from softmax_core.figures import cross_entropy_figures as figs

run_through_navigation()  # first: a deep link on a fresh server must go through streamlit_app.py

CHAPTER_ROWS = (("0.1", "0.3", "0.6"), ("0.3", "0.2", "0.5"))
CHAPTER_LABELS = ("0", "2")
STEPS = {1: "Pick the cells", 2: "Read them out", 3: "Take −log", 4: "Average", 5: "From logits"}

# The table has no URL binding (st.data_editor has none): url_state restores and publishes it.
YHAT = url_state.Param("yhat", CHAPTER_ROWS, table.text_to_rows, table.rows_to_text, bound=False)
Y = url_state.Param("y", CHAPTER_LABELS, table.text_to_labels, table.labels_to_text, bound=False)
STEP = url_state.choice_param(
    "step",
    1,
    {step: f"{step}. {title}" for step, title in STEPS.items()},
    "Step",
    horizontal=True,
    label_visibility="collapsed",
)
SHOW_ALL = url_state.bool_param("all", False, "Show all steps")
PARAMS = [YHAT, Y, STEP, SHOW_ALL]

ss = st.session_state


def _move(delta: int) -> None:
    ss[STEP.key] = min(max(ss[STEP.key] + delta, 1), len(STEPS))


# ----------------------------------------------------------------------------- the steps


def repl(data, step: int) -> None:
    """Step ``step``'s lines of torch and what they printed, as in a Python session.

    Not wrapped: a wrapped line breaks wherever the browser likes, even right after a minus sign;
    a long line scrolls instead, as in a terminal.
    """
    lines = torch_session(step, data["trace"], data["logits"])
    st.code(
        "\n".join(f">>> {code}\n{out}" if out else f">>> {code}" for code, out in lines),
        language="python",
        wrap_lines=False,
    )


def step_pick(data, with_figure: bool, code) -> None:
    if with_figure:  # the picture first: it is what the room looks at
        heatmap(data, "pick")
    st.markdown(
        "Each row of `y_hat` is one example's predicted distribution over the classes; `y[i]` is its true class. "
        "The loss reads exactly **one cell per row**: the pairs `(i, y[i])`, outlined above."
    )
    st.latex(r"(i,\ y_i)\ \text{ for } i = 0, \dots, n-1 \quad\longrightarrow\quad \hat{y}_{i,\,y_i}")
    with code:
        repl(data, 1)


def heatmap(data, where: str) -> None:
    """The picked cells; their numbers are the table's on the left."""
    y_hat, y = tuple(map(tuple, data["trace"].y_hat.tolist())), tuple(data["trace"].y.tolist())
    chart(cached.prediction_heatmap(y_hat, y), f"ce_heatmap_{where}", figs.prediction_heatmap_alt(y_hat, y))


def numbers(data) -> None:
    """The numbers behind steps 3 and 4's charts, as a real table a screen reader can walk."""
    t = data["trace"]
    with st.expander("The numbers behind the chart"):
        st.table(cached.table(figs.per_example_records(t.picked, t.losses)), hide_index=True)


def step_read(data, with_figure: bool, code) -> None:
    if with_figure:
        heatmap(data, "read")
    st.markdown(
        "Fancy indexing with two index lists reads all the picked cells at once: row `range(len(y_hat))`, "
        "column `y`. The result is each example's probability of its **true** class."
    )
    st.latex(r"p_i = \hat{y}_{i,\,y_i}")
    with code:
        repl(data, 2)


def step_log(data, with_figure: bool, code) -> None:
    t = data["trace"]
    if with_figure:
        picked = tuple(t.picked.tolist())
        chart(cached.neg_log_curve(picked), "ce_neglog", figs.neg_log_curve_alt(picked))
        numbers(data)
    st.markdown(
        "Cross-entropy with a one-hot label is minus the log of that probability: near 0 when the model was "
        "confident and right, large when it gave the right answer a small probability."
    )
    st.latex(r"l_i = -\log \hat{y}_{i,\,y_i}")
    with code:
        repl(data, 3)


def step_mean(data, with_figure: bool, code) -> None:
    t = data["trace"]
    if with_figure:
        losses = tuple(t.losses.tolist())
        chart(cached.loss_bars(losses), "ce_losses", figs.loss_bars_alt(losses))
        numbers(data)
    st.markdown(
        "The batch loss is the mean over examples. The same per-example numbers come from the general formula "
        "with a one-hot label: every term but the true class's is multiplied by 0."
    )
    # Two lines: on one, the formula ran past the right edge of a half-width column at 1280 px.
    st.latex(
        r"\begin{aligned} L &= \frac{1}{n}\sum_{i=0}^{n-1} l_i \\ "
        r"l_i &= -\sum_{j} y_{ij} \log \hat{y}_{ij} = -\log \hat{y}_{i,\,y_i} \end{aligned}"
    )
    with code:
        repl(data, 4)
        caption(
            "`xlogy(a, b)` is `a * log(b)` with `0 · log 0 = 0`, so a 0 in a wrong class does not turn the sum into "
            "`nan`."
        )


def step_logits(data, with_figure: bool, code) -> None:
    lt = data["logits"]
    st.markdown(
        "Models output logits `o`, not probabilities. With `o = log(y_hat)` we have `softmax(o) = y_hat`, "
        "so the loss from logits must match. It is computed without ever forming `exp(o)` unshifted: subtract "
        "each row's max `m`, so every exponent is ≤ 0 and nothing overflows (the log-sum-exp trick)."
    )
    st.latex(
        r"\begin{aligned} -\log \mathrm{softmax}(\mathbf{o})_{y} &= \log\textstyle\sum_j e^{o_j} - o_y \\ "
        r"&= m + \log\textstyle\sum_j e^{o_j - m} - o_y \end{aligned}"
    )
    with code:
        repl(data, 5)
        caption(
            "`lse` is log 1 = 0 up to float rounding when the rows of `y_hat` sum to 1: "
            "then `o` is already log-normalised and the shift changes nothing."
        )
        if with_figure:
            st.dataframe(figs.logits_side_by_side(lt, data["torch_losses"]), hide_index=True, width="stretch")
            caption("Per example: **ours** = logsumexp − o_y, **torch** = `F.cross_entropy(o, y, reduction='none')`.")
        if data["unnormalised"]:
            st.info(
                "Some rows do not sum to 1. `softmax(log y_hat)` divides each row by its sum, so this route "
                "scores the normalised rows and differs from step 3 by the log of the row sum."
            )


RENDER = {1: step_pick, 2: step_read, 3: step_log, 4: step_mean, 5: step_logits}


def compute(checked: table.CheckedTable) -> dict:
    """Every step's numbers, from softmax_core and torch (a few tiny tensors: cheaper than caching)."""
    trace = cross_entropy_trace(checked.y_hat, checked.y)
    o = torch.log(checked.y_hat)
    return {
        "trace": trace,
        "logits": logits_trace(o, checked.y),
        "torch_losses": F.cross_entropy(o, checked.y, reduction="none"),
        "torch_mean": F.cross_entropy(o, checked.y),
        "unnormalised": any(p.kind in ("row_sum", "above_one") for p in checked.problems),
    }


def stepper() -> None:
    show_all = ss.get(SHOW_ALL.key, SHOW_ALL.default)  # the toggle is drawn below the step buttons
    prev, radio, nxt = st.columns([1, 5, 1], vertical_alignment="center")
    step = ss.get(STEP.key, STEP.default)
    prev.button(
        ":material/chevron_left:",
        key="ce_prev",
        on_click=_move,
        args=(-1,),
        disabled=show_all or step <= 1,
        help="Previous step",
        width="stretch",
    )
    STEP.draw(radio, disabled=show_all)
    nxt.button(
        ":material/chevron_right:",
        key="ce_next",
        on_click=_move,
        args=(1,),
        disabled=show_all or step >= len(STEPS),
        help="Next step",
        width="stretch",
    )
    SHOW_ALL.draw()


# ----------------------------------------------------------------------------- the page

url_state.check_link(PARAMS)
url_state.restore(PARAMS)
st.title("Cross-entropy, step by step")
st.markdown("The chapter's loss: pick each example's probability of its true class, take $-\\log$, average.")
share_slot = st.container()

left, right = st.columns([1, 1], gap="medium")  # the table keeps its y column at 1280 px
with left:
    st.subheader("The batch: ŷ and y")
    rows, labels = batch_editor(YHAT.key, Y.key, default_classes=len(CHAPTER_ROWS[0]))
    class_buttons(YHAT.key, rows)
    checked = table.check_table(rows, labels)
    show_problems(YHAT.key, checked)

with right:
    stepper()
    if not checked.ok:
        st.info("Fix the table on the left to run the steps.", icon=":material/arrow_back:")
# One step's picture and words sit beside the table, its lines of torch below both at the page's full width
# (in half the width they were cut or broke after a minus sign). All steps run below the table across the
# whole width: beside it they left its column empty down the page.
if checked.ok:
    data = compute(checked)
    if ss[SHOW_ALL.key]:
        for step in STEPS:
            st.subheader(f"{step}. {STEPS[step]}")
            RENDER[step](data, with_figure=step != 2, code=st.container())
    else:
        step, code = ss[STEP.key], st.container()
        with right:
            st.subheader(f"{step}. {STEPS[step]}")
            RENDER[step](data, with_figure=True, code=code)

with share_slot:
    share_row(url_state.share_and_reset, PARAMS)
url_state.publish(PARAMS)
