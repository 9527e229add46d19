"""Results and figures shared by every session of this server: the caches of the core functions the pages call.

They live in an imported module, not in the page scripts, because a page script runs again on
every page load, and with it every ``st.cache_*`` decorator in it: Streamlit reads the decorated
function's source to key its cache, which was 8 % of the server's CPU while 100 sessions loaded
every page (py-spy, see README "Host it for a class"). Here each decorator runs once per process.

``cache_resource`` for figures: ``cache_data`` would pickle and unpickle a figure on every hit, which
costs more than building it; a cached figure is never mutated (``st.plotly_chart`` serialises it).
A class opening the default view draws the same figures, so they are built once per server.
Every cache is bounded (``max_entries``) so that distinct views cannot grow memory without bound.
Keys are plain values (tuples, floats, strings): ``st.cache_data`` cannot hash tensors.
"""

from __future__ import annotations

import streamlit as st

from softmax_core import stability as numerics
from softmax_core.figures import cross_entropy_figures, loss_figures, softmax_figures

_FIGURE = {"max_entries": 64, "show_spinner": False}

# ---------------------------------------------------------------- softmax & temperature
probability_bars = st.cache_resource(**_FIGURE)(softmax_figures.probability_bars)


@st.cache_data(max_entries=64, show_spinner=False)
def temperature_sweep(logits: tuple[float, ...]):
    """p_j(T) over the whole T range: depends on the logits only, not on the slider."""
    return softmax_figures.temperature_sweep(logits)


@st.cache_resource(**_FIGURE)
def temperature_curves(
    logits: tuple[float, ...], labels: tuple[str, ...], temperature: float, probs: tuple[float, ...]
):
    """Keyed on the logits, not on their sweep: hashing the sweep's thousands of numbers on every call
    was 11 % of the server's CPU while a class loaded every page (py-spy --gil)."""
    return softmax_figures.temperature_curves(temperature_sweep(logits), list(labels), temperature, list(probs))


@st.cache_data(max_entries=256, show_spinner=False)
def stability(logits: tuple[float, ...], temperature: float, dtype: str):
    return numerics.compare_stability(logits, temperature, dtype)


# ---------------------------------------------------------------- L1, L2 and Huber losses
one_loss_figure = st.cache_resource(**_FIGURE)(loss_figures.one_loss_figure)
compare_figure = st.cache_resource(**_FIGURE)(loss_figures.compare_figure)
gradient_step_figures = st.cache_resource(**_FIGURE)(loss_figures.gradient_step_figures)


# ---------------------------------------------------------------- cross-entropy step by step
@st.cache_resource(**_FIGURE)
def prediction_heatmap(values: tuple[tuple[float, ...], ...], labels: tuple[int, ...]):
    return cross_entropy_figures.prediction_heatmap(values, labels)


@st.cache_resource(**_FIGURE)
def neg_log_curve(picked: tuple[float, ...]):
    return cross_entropy_figures.neg_log_curve(picked)


@st.cache_resource(**_FIGURE)
def loss_bars(losses: tuple[float, ...]):
    return cross_entropy_figures.loss_bars(losses)
