r"""Softmax, temperature and confidence: how T reshapes a prediction, and why softmax subtracts the max.

Controls: a preset, the class names, the logits (typed as a list or edited in the table) and
the temperature. Every one of them lives in the URL (keys prefixed ``sm_`` so they never
collide with another page's widgets in the shared session state).
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st
import torch

from dashboard import user_text
from dashboard.caches import softmax_temperature as cached
from dashboard.deep_links import run_through_navigation
from dashboard.presenter import caption, chart, share_row
from dashboard.temperature_stops import log_stops
from dashboard.url_state import ReadAs, check_link, choice_param, share_and_reset, stop_param, tab_param, text_param
from softmax_core import confidence, entropy, hardmax, margin, max_entropy, softmax
from softmax_core.figures.softmax_figures import (
    SWEEP_T_MAX,
    SWEEP_T_MIN,
    probability_bars_alt,
    probability_records,
    sweep_records,
    temperature_curves_alt,
)
from softmax_core.logit_presets import (
    LABEL_SETS,
    MAX_CLASSES,
    PRESETS,
    apply_table_edits,
    class_labels,
    format_logits,
    parse_logits,
)
from softmax_core.softmax import zero_temperature_limit
from softmax_core.stability import DTYPES, explain, format_number

run_through_navigation()  # first: a deep link on a fresh server must go through streamlit_app.py

TEMPERATURES = log_stops(0.05, 20.0)  # each step x1.12, log-spaced, 0.05 to 20
CUSTOM = "custom"


def _quietly_nearest(parse):
    """A link's T between two stops opens the page at the nearest stop, without a sentence: the slider shows it."""

    def read(text: str) -> float:
        try:
            return parse(text)
        except ReadAs as exc:
            return exc.value

    return read


# Each control declared once (key = URL name, default, label, widget). The link keeps the logits as typed
# (the page says what is wrong with them, in words).
PRESET_NAMES = {name: p.title for name, p in PRESETS.items()} | {CUSTOM: "Your own logits"}
PRESET = choice_param("sm_preset", "chapter", PRESET_NAMES, "Preset", widget="selectbox")
LABEL_NAMES = {name: text for name, (text, _) in LABEL_SETS.items()}
LABELS = choice_param("sm_labels", PRESETS["chapter"].labels, LABEL_NAMES, "Class names", widget="selectbox")
LOGITS = text_param(
    "sm_logits",
    format_logits(PRESETS["chapter"].logits),
    f"Logits o (comma-separated, 2 to {MAX_CLASSES} classes)",
    help="Type or paste numbers such as 1, 2, 3, or edit them in the table below.",
)
TEMPERATURE = stop_param("sm_T", 1.0, TEMPERATURES, "Temperature T (log scale: each step multiplies T by about 1.12)")
TEMPERATURE = replace(TEMPERATURE, parse=_quietly_nearest(TEMPERATURE.parse))
DTYPE_TAB = tab_param("sm_dtype", list(DTYPES))
PARAMS = [PRESET, LABELS, LOGITS, TEMPERATURE, DTYPE_TAB]
LAST_VALID = "sm_last_valid_logits"  # not in the URL: what to keep showing while the input is invalid


def _apply_preset() -> None:
    preset = PRESETS.get(st.session_state[PRESET.key])
    if preset is not None:
        st.session_state[LOGITS.key] = format_logits(preset.logits)
        st.session_state[LABELS.key] = preset.labels


def _match_preset() -> None:
    """Typed or edited logits that differ from the chosen preset make it 'your own'."""
    preset = PRESETS.get(st.session_state[PRESET.key])
    try:
        same = preset is not None and parse_logits(st.session_state[LOGITS.key]) == preset.logits
    except ValueError:
        same = False
    if not same:
        st.session_state[PRESET.key] = CUSTOM


def _apply_table_edits(table_key: str, base: tuple[str, ...]) -> None:
    """Fold the table's edits into the logits text, once no edited cell is left empty.

    The cells are text, read by the same parser as the typed logits: every notation (1e308, -0.5)
    is read as written, and what is not a number gets the same sentence.
    """
    cells = apply_table_edits(base, st.session_state.get(table_key) or {})
    if any(cell is None for cell in cells):
        return  # keep the edit pending in the table until the cell has a number
    st.session_state[LOGITS.key] = ", ".join(str(cell) for cell in cells)
    _match_preset()


def _verdict(ok: bool) -> str:
    return "probabilities fine" if ok else "**broken** (inf, nan or all zeros)"


def _vector(values, digits: int) -> str:
    return r"\left(" + r",\ ".join(f"{v:.{digits}f}" for v in values) + r"\right)"


# ---------------------------------------------------------------- state from the link
first_visit = LOGITS.key not in st.session_state
check_link(PARAMS)
if first_visit and PRESET.key in st.query_params and LOGITS.key not in st.query_params:
    try:  # a link naming only a preset shows that preset's logits (and names, unless it names them too)
        linked = PRESETS.get(PRESET.parse(st.query_params[PRESET.key]))
    except ValueError:
        linked = None
    if linked is not None:
        st.session_state[LOGITS.key] = format_logits(linked.logits)
        if LABELS.key not in st.query_params:
            st.session_state[LABELS.key] = linked.labels

st.title("Softmax, temperature and confidence", anchor=False)  # no link icon wrapping to an empty second line
st.markdown(
    "Softmax turns any scores (logits) into probabilities. Dividing the logits by a **temperature** "
    "$T$ before softmax makes the prediction sharper ($T<1$) or flatter ($T>1$), without changing which "
    "class wins."
)
share_slot = st.container()  # filled once every control has its value

# ---------------------------------------------------------------- controls
controls, main = st.columns([1, 2], gap="large")
with controls:
    PRESET.draw(on_change=_apply_preset)
    preset = PRESETS.get(st.session_state[PRESET.key])
    if preset is not None:
        caption(preset.lesson)
    LABELS.draw()
    LOGITS.draw(on_change=_match_preset)

try:
    logits = parse_logits(st.session_state[LOGITS.key])
    st.session_state[LAST_VALID] = logits
except ValueError as exc:
    logits = st.session_state.get(LAST_VALID, PRESETS["chapter"].logits)
    with controls:
        user_text.error(str(exc), icon="✋")
        st.info(f"Still showing the last valid logits: {format_logits(logits)}.")

labels = class_labels(st.session_state[LABELS.key], len(logits))

with controls:
    table_key = f"sm_table:{st.session_state[LABELS.key]}:{format_logits(logits)}"
    cells = tuple(format_logits([value]) for value in logits)
    edited = st.data_editor(
        pd.DataFrame({"class": labels, "logit": cells}, dtype=object),
        key=table_key,
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        height="content",
        on_change=_apply_table_edits,
        args=(table_key, cells),
        column_config={
            "class": st.column_config.TextColumn("class", disabled=True),
            "logit": st.column_config.TextColumn("logit o", help="Edit a score (1.5, -2, 1e3); add or delete rows"),
        },
    )
    empty = [i for i, cell in enumerate(apply_table_edits(edited["logit"].tolist(), {})) if cell is None]
    if empty:
        rows = ", ".join(str(i + 1) for i in empty)
        st.warning(f"Row {rows} of the table has no logit yet: type a number there (it is left out until then).")

temperature = TEMPERATURE.draw(main)

# ---------------------------------------------------------------- numbers
o = torch.tensor(logits, dtype=torch.float64)
probs = softmax(o, temperature)
one_hot = hardmax(o)
cold = zero_temperature_limit(o)  # the T -> 0 limit: one-hot, or an even split over tied top logits
tied = int((cold > 0).sum())
top = int(probs.argmax())
h = float(entropy(probs))
h_max = max_entropy(len(logits))

with main:
    st.latex(
        r"\hat{y}_j = \frac{\exp(o_j/T)}{\sum_{k=1}^{q} \exp(o_k/T)},"
        rf"\quad T = {temperature:g},\ q = {len(logits)}"
    )
    bars = cached.probability_bars(labels, probs.tolist(), one_hot.tolist(), title=f"Prediction: {labels[top]}")
    bars_alt = probability_bars_alt(labels, probs.tolist(), one_hot.tolist(), temperature)
    chart(bars, "sm_bars", bars_alt)  # the chart before the numbers: in the first screen of a 1280x720 projector
    m = st.columns(4)
    m[0].metric("Confidence", f"{float(confidence(probs)):.3f}", help="max_j p_j: the probability of the top class")
    m[1].metric("Margin", f"{float(margin(probs)):.3f}", help="top-1 minus top-2 probability")
    m[2].metric("Entropy H", f"{h:.3f}", help="H = −Σ p_j log p_j in nats: 0 when certain, log q when uniform")
    m[3].metric(
        "H / log q", f"{h / h_max:.0%}", help=f"entropy relative to the uniform maximum log {len(logits)} = {h_max:.3f}"
    )

limit_row = r"\\ \lim_{T \to 0} \mathrm{softmax}(\mathbf{o}/T) &= " + _vector(cold.tolist(), 2) if tied > 1 else ""
st.latex(
    r"\begin{aligned}\hat{\mathbf{y}} &= "
    + _vector(probs.tolist(), 2)
    + r"\\ \operatorname{hardmax}(\mathbf{o}) &= "
    + _vector(one_hot.tolist(), 0)
    + limit_row
    + r"\end{aligned}"
)
if tied > 1:
    st.markdown(
        f"**{tied} logits tie for the largest.** `argmax` picks the first of them, but no temperature makes "
        f"softmax one-hot: the tied classes keep equal probabilities at every $T$, and as $T \\to 0$ each gets "
        f"1/{tied}."
    )
caption(
    "The soft distribution says how sure the model is; the one-hot vector of the argmax is the hard decision "
    "(and what a label looks like). Cross-entropy compares the two."
)

# ---------------------------------------------------------------- temperature sweep
st.subheader("Every class probability as T changes")
curves, words = st.columns([2, 1], gap="large")
with curves:
    fig = cached.temperature_curves(logits, tuple(labels), temperature, tuple(probs.tolist()))
    chart(fig, "sm_curves", temperature_curves_alt(labels, temperature, probs.tolist(), cold.tolist()))
    caption(
        f"The curves run from T = {SWEEP_T_MIN:g} to {SWEEP_T_MAX:g}, past the slider's {TEMPERATURES[0]:g} to "
        f"{TEMPERATURES[-1]:g}, to show both limits. Each class's marker (as in the legend) is at the current T."
    )
    with st.expander("The numbers behind the charts"):  # real tables a screen reader can walk
        st.markdown(f"The bars: probabilities at T = {temperature:g}")
        st.table(cached.table(probability_records(labels, logits, probs.tolist(), one_hot.tolist())), hide_index=True)
        st.markdown("The curves: each class's probability at a few temperatures")
        shown_t = sorted({SWEEP_T_MIN, 0.1, 1.0, 10.0, SWEEP_T_MAX, temperature})
        st.table(cached.table(sweep_records(logits, labels, shown_t)), hide_index=True)
with words:
    st.latex(r"\frac{\hat{y}_i}{\hat{y}_j} = \exp\!\left(\frac{o_i - o_j}{T}\right)")
    cold_line = (
        "- $T \\to 0$: gaps blow up, the top class takes everything: softmax becomes **hardmax**, the one-hot argmax.\n"
        if tied == 1
        else f"- $T \\to 0$: gaps to the top blow up, but the {tied} tied top logits have no gap between them: "
        f"they split everything evenly, 1/{tied} each (not the one-hot argmax).\n"
    )
    st.markdown(
        "Only the **gaps** between logits matter, and $T$ scales them.\n\n"
        + cold_line
        + "- $T \\to \\infty$: gaps vanish, every class gets $1/q$: the **uniform** distribution, entropy "
        "$\\log q$.\n"
        "- The order of the classes never changes, so the prediction (argmax) is the same at every $T$."
    )

# ---------------------------------------------------------------- numeric stability
st.subheader("Numeric stability: why softmax subtracts the maximum")
shift, log_softmax = st.columns(2)  # side by side on a screen, stacked on a phone
shift.latex(r"\frac{\exp(z_j)}{\sum_k \exp(z_k)} = \frac{\exp(z_j - \bar z)}{\sum_k \exp(z_k - \bar z)}")
log_softmax.latex(r"\log \hat{y}_j = (z_j - \bar z) - \log \sum_k \exp(z_k - \bar z)")
st.latex(r"\bar z = \max_k z_k,\quad z = \mathbf{o}/T")
caption(
    "Same numbers on paper, not in a computer: each precision has a largest number, and exp passes it "
    "quickly. The table computes both ways in float32 and float16 with the logits and T above."
)
# Only the open tab's body runs: the hidden precision costs nothing until it is opened.
for tab, dtype in zip(DTYPE_TAB.draw(), DTYPES):
    if not tab.open:
        continue
    with tab:
        report = cached.stability(logits, temperature, dtype)
        st.dataframe(
            cached.stability_table(logits, temperature, dtype, tuple(labels)),
            hide_index=True,
            width="stretch",
            height="content",
        )
        st.markdown(
            f"Naive: Σ exp(z) = **{format_number(report.naive_sum)}** → {_verdict(report.naive_ok)} · "
            f"Shifted: Σ exp(z − max z) = **{format_number(report.shifted_sum)}** → {_verdict(report.stable_ok)} · "
            f"in {dtype}, exp(z) overflows for z > {report.overflow_at:.2f}"
        )
        for line in explain(report):
            st.markdown(line)

with share_slot:
    share_row(share_and_reset, PARAMS)
