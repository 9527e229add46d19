"""The caches of pages/softmax_temperature.py: probability bars, p(T) curves, the stability report."""

from __future__ import annotations

import pyarrow as pa
import streamlit as st

from dashboard.caches.shared import as_arrow, shared_figures, shared_resource, table  # noqa: F401  (re-exported: the page's tables)
from softmax_core import stability as numerics
from softmax_core.figures import softmax_figures

probability_bars = shared_figures(softmax_figures.probability_bars)


@st.cache_data(max_entries=64, show_spinner=False)
def temperature_sweep(logits: tuple[float, ...]):
    """p_j(T) over the whole T range: depends on the logits only, not on the slider."""
    return softmax_figures.temperature_sweep(logits)


@shared_figures
def temperature_curves(
    logits: tuple[float, ...], labels: tuple[str, ...], temperature: float, probs: tuple[float, ...]
):
    """Keyed on the logits, not on their sweep: hashing the sweep's thousands of numbers on every call
    was 11 % of the server's CPU while a class loaded every page (py-spy --gil)."""
    return softmax_figures.temperature_curves(temperature_sweep(logits), list(labels), temperature, list(probs))


@st.cache_data(max_entries=256, show_spinner=False)
def stability(logits: tuple[float, ...], temperature: float, dtype: str):
    return numerics.compare_stability(logits, temperature, dtype)


@shared_resource(max_entries=256, show_spinner=False)
def stability_table(logits: tuple[float, ...], temperature: float, dtype: str, labels: tuple[str, ...]) -> pa.Table:
    """The stability report's table, as Arrow: the DataFrame and its conversion were 3 % of a class's CPU."""
    return as_arrow(stability(logits, temperature, dtype).table(labels))
