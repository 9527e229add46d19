"""Colour is never the only code (issue 23 §3): the theme's palettes under simulated colour-vision deficiency.

Both themes' chart colours (``.streamlit/config.toml``) are passed through the simulation of protanopia,
deuteranopia and tritanopia of Machado, Oliveira & Fernandes, "A Physiologically-based Model for Simulation
of Color Vision Deficiency", IEEE TVCG 15(6):1291-1298, 2009 (severity 1.0 matrices of their table, applied
to linear RGB). Two series drawn on the same axes must then either stay clearly different in colour
(CIEDE2000 ΔE of at least ``DISTINCT``, Sharma, Wu & Dalal, Color Res. Appl. 30(1), 2005) or differ by
line dash, marker symbol, bar pattern or mark type. docs/accessibility-charts.md gives the figures.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tomllib
import torch

from softmax_core.figures import cross_entropy_figures as ce
from softmax_core.figures import loss_figures, softmax_figures
from softmax_core.figures.style import PALETTE_SIZE, drawn_traces
from softmax_core.gradient_step import gradient_steps
from softmax_core.logit_presets import FASHION_MNIST_CLASSES
from softmax_core.losses import LOSSES
from tests.conftest import ROOT

pytestmark = pytest.mark.unit

MACHADO_2009 = {  # severity 1.0, linear RGB in -> simulated linear RGB out
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}
VISIONS = {"typical": np.eye(3)} | {name: np.array(m) for name, m in MACHADO_2009.items()}
# A just-noticeable difference is about ΔE00 = 1 for two large patches side by side; a line 3 px wide or a
# marker a few px across, matched against its legend entry, needs far more (the difference needed grows as
# marks shrink: Stone, Szafir & Setlur, "An Engineering Model for Color Difference as a Function of Size",
# 2014). 20 is our judgement of "clearly different for a thin line"; below it a second code must carry it.
DISTINCT = 20.0
SRGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
D65 = np.array([0.95047, 1.0, 1.08883])


def palettes() -> dict[str, list[str]]:
    """The chart colours of each theme, as the app configures them."""
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    return {theme: config["theme"][theme]["chartCategoricalColors"] for theme in ("light", "dark")}


def linear_rgb(hex_colour: str) -> np.ndarray:
    srgb = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def lab(linear: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of a linear-RGB colour."""
    t = SRGB_TO_XYZ @ np.clip(linear, 0, 1) / D65
    f = np.where(t > (6 / 29) ** 3, np.cbrt(t), t / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def seen(hex_colour: str, vision: str) -> np.ndarray:
    """The colour as a viewer with this vision sees it, in CIELAB."""
    return lab(VISIONS[vision] @ linear_rgb(hex_colour))


def ciede2000(lab1, lab2) -> float:
    """CIEDE2000 colour difference (kL = kC = kH = 1), as Sharma, Wu & Dalal (2005) write it out."""
    (l1, a1, b1), (l2, a2, b2) = lab1, lab2
    c_bar = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_bar**7 / (c_bar**7 + 25**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p, h2p = np.degrees(np.arctan2(b1, a1p)) % 360, np.degrees(np.arctan2(b2, a2p)) % 360
    dh = 0.0 if c1p * c2p == 0 else (h2p - h1p + 180) % 360 - 180
    d_l, d_c, d_h = l2 - l1, c2p - c1p, 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_bar, cp_bar = (l1 + l2) / 2, (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_bar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_bar = (h1p + h2p) / 2
    else:
        h_bar = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (
        1
        - 0.17 * np.cos(np.radians(h_bar - 30))
        + 0.24 * np.cos(np.radians(2 * h_bar))
        + 0.32 * np.cos(np.radians(3 * h_bar + 6))
        - 0.20 * np.cos(np.radians(4 * h_bar - 63))
    )
    r_c = 2 * np.sqrt(cp_bar**7 / (cp_bar**7 + 25**7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    s_c, s_h = 1 + 0.045 * cp_bar, 1 + 0.015 * cp_bar * t
    r_t = -np.sin(np.radians(60 * np.exp(-(((h_bar - 275) / 25) ** 2)))) * r_c
    return float(np.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h)))


def colour_difference(palette: list[str], slot_a: int, slot_b: int, vision: str) -> float:
    return ciede2000(seen(palette[slot_a % PALETTE_SIZE], vision), seen(palette[slot_b % PALETTE_SIZE], vision))


# ---------------------------------------------------------------- the method checked against published data


@pytest.mark.parametrize(
    "lab1, lab2, expected",
    [  # pairs 1, 7, 17 and 25 of Sharma, Wu & Dalal's test data (Table 1)
        ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
        ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
        ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
        ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ],
)
def test_ciede2000_matches_the_published_test_data(lab1, lab2, expected):
    assert ciede2000(lab1, lab2) == pytest.approx(expected, abs=1e-4)
    assert ciede2000(lab2, lab1) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("vision", list(MACHADO_2009))
def test_the_simulations_keep_greys_grey(vision):
    """Machado's matrices map white to white and grey to grey: each row sums to 1."""
    np.testing.assert_allclose(VISIONS[vision].sum(axis=1), 1.0, atol=1e-5)
    assert ciede2000(seen("#777777", vision), seen("#777777", "typical")) < 0.01


@pytest.mark.parametrize("vision, colour", [("protanopia", "#FF0000"), ("deuteranopia", "#00C000")])
def test_a_red_green_deficiency_cannot_tell_a_colour_from_its_simulation(vision, colour):
    """Red-green simulation is a projection onto what the viewer sees: simulating twice changes nothing they see."""
    matrix, linear = VISIONS[vision], linear_rgb(colour)
    simulated = np.clip(matrix @ linear, 0, 1)
    assert ciede2000(lab(matrix @ linear), lab(matrix @ simulated)) < 2  # the same to them
    assert ciede2000(lab(linear), lab(simulated)) > 20  # not to a typical viewer


# ---------------------------------------------------------------- the charts of the concept pages


def _style(trace) -> tuple:
    """Everything but colour that tells a series apart: mark type, mode, dash, marker symbol, bar pattern."""
    mode = trace.mode if trace.type == "scatter" else trace.type
    dash = (trace.line.dash or "solid") if trace.type == "scatter" and "lines" in (trace.mode or "") else None
    symbol = trace.marker.symbol if trace.type == "scatter" else None
    if isinstance(symbol, (tuple, list, np.ndarray)):
        symbol = symbol[trace.selectedpoints[0]] if trace.selectedpoints else symbol[0]
    pattern = trace.marker.pattern.shape if trace.type == "bar" else None
    return (trace.type, mode, dash, symbol, pattern)


def _series(fig) -> list[tuple[int, tuple, tuple]]:
    """(theme colour slot, axes, style) of each series a figure draws in a theme colour (not the heatmap's scale)."""
    drawn = drawn_traces(fig)
    return [
        (i, (t.xaxis or "x", t.yaxis or "y"), _style(t))
        for i, t in enumerate(fig.data)
        if t in drawn and t.type != "heatmap"
    ]


def concept_charts() -> dict[str, object]:
    """Every chart the three concept pages draw, at their defaults (ten Fashion-MNIST classes for the curves)."""
    logits = tuple(float(v) for v in range(10))
    probs = torch.softmax(torch.tensor(logits), 0).tolist()
    y_hat, y = torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]]), torch.tensor([0, 2])
    charts = {
        "softmax bars": softmax_figures.probability_bars(["a", "b", "c"], [0.2, 0.3, 0.5], [0, 0, 1]),
        "softmax curves": softmax_figures.temperature_curves(
            softmax_figures.temperature_sweep(logits), FASHION_MNIST_CLASSES, 1.0, probs
        ),
        "cross-entropy cells": ce.prediction_heatmap(y_hat, y),
        "cross-entropy -log p": ce.neg_log_curve([0.1, 0.5]),
        "cross-entropy losses": ce.loss_bars([2.3, 0.7]),
    }
    for name in LOSSES:
        charts[f"loss {name}"] = loss_figures.one_loss_figure(name, 2.5, 0.0, 1.0, 4.0)
    for quantity in loss_figures.QUANTITIES:
        charts[f"loss compare {quantity}"] = loss_figures.compare_figure(quantity, 2.5, 0.0, 1.0, 4.0)
    for step, fig in zip(
        gradient_steps(2.5, 0.0, 0.5, 1.0),
        loss_figures.gradient_step_figures(gradient_steps(2.5, 0.0, 0.5, 1.0), 1.0, 4.0),
    ):
        charts[f"loss step {step.loss}"] = fig
    return charts


def pairs_told_apart_by_colour_alone(theme: str, vision: str) -> list[tuple[str, int, int, float]]:
    """(chart, slot, slot, ΔE00) of series on the same axes that differ in nothing but a colour closer than DISTINCT."""
    palette = palettes()[theme]
    failing = []
    for chart, fig in concept_charts().items():
        for (slot_a, axes_a, style_a), (slot_b, axes_b, style_b) in itertools.combinations(_series(fig), 2):
            if axes_a != axes_b or style_a != style_b:
                continue
            difference = colour_difference(palette, slot_a, slot_b, vision)
            if difference < DISTINCT:
                failing.append((chart, slot_a % PALETTE_SIZE, slot_b % PALETTE_SIZE, round(difference, 1)))
    return failing


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("vision", list(VISIONS))
def test_series_on_one_chart_differ_by_more_than_a_colour_a_viewer_may_not_see(theme, vision):
    assert pairs_told_apart_by_colour_alone(theme, vision) == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_check_finds_close_colours_when_the_second_code_is_missing(theme, monkeypatch):
    """The check can fail: with every class curve given the same marker, pairs of close colours are reported."""
    original = softmax_figures.SERIES_SYMBOLS
    monkeypatch.setattr(softmax_figures, "SERIES_SYMBOLS", ("circle",) * len(original))
    failing = [pair for vision in MACHADO_2009 for pair in pairs_told_apart_by_colour_alone(theme, vision)]
    assert failing and {chart for chart, *_ in failing} == {"softmax curves"}


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_losses_stay_apart_by_colour_for_typical_vision(theme):
    """Colour still means the loss: L2, L1 and Huber's colours are clearly different without a deficiency."""
    for a, b in itertools.combinations(range(len(LOSSES)), 2):
        assert colour_difference(palettes()[theme], a, b, "typical") >= DISTINCT


if __name__ == "__main__":  # the figures of docs/accessibility-charts.md: python -m tests.test_chart_colours
    for theme, palette in palettes().items():
        for vision in VISIONS:
            apart = {(a, b): colour_difference(palette, a, b, vision) for a, b in itertools.combinations(range(10), 2)}
            losses = min(apart[pair] for pair in itertools.combinations(range(len(LOSSES)), 2))
            close = sorted((round(d, 1), pair) for pair, d in apart.items() if d < DISTINCT)
            print(
                f"{theme} {vision}: slots 0-1 {apart[0, 1]:.1f}, losses min {losses:.1f}, "
                f"ten min {min(apart.values()):.1f}, under {DISTINCT:g}: {close}"
            )
