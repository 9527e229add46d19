"""Figures of the cross-entropy page carry the numbers torch gives (nll_loss / cross_entropy)."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from softmax_core import cross_entropy_trace, logits_trace
from softmax_core.figures import cross_entropy_figures as figs

pytestmark = pytest.mark.unit

Y_HAT = torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
Y = torch.tensor([0, 2])


def random_batch(seed, n=5, k=4):
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(torch.randn(n, k, generator=g), 1)
    return probs, torch.randint(0, k, (n,), generator=g)


def no_colours(fig):
    """Figures leave colours to the theme: no marker/line/font colours, colour scales or backgrounds."""
    layout = fig.layout
    assert layout.paper_bgcolor is None and layout.plot_bgcolor is None and layout.font.color is None
    for trace in fig.to_plotly_json()["data"]:
        assert "color" not in trace.get("marker", {}) and "color" not in trace.get("line", {})
        assert "colorscale" not in trace and "color" not in trace.get("textfont", {})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_heatmap_shows_y_hat_and_outlines_exactly_the_picked_cells(seed):
    y_hat, y = (Y_HAT, Y) if seed == 0 else random_batch(seed)
    fig = figs.prediction_heatmap(y_hat, y)
    heat, outline = fig.data
    torch.testing.assert_close(torch.tensor(heat.z, dtype=torch.float32), y_hat)
    # Outline: one closed square per row, centred on (i, y[i]).
    xs = [v for v in outline.x]
    ys = [v for v in outline.y]
    squares = [(xs[s : s + 5], ys[s : s + 5]) for s in range(0, len(xs), 6)]
    centres = [(sum(sx[:4]) / 4, sum(sy[:4]) / 4) for sx, sy in squares]
    assert centres == [(float(k), float(i)) for i, k in enumerate(y.tolist())]
    # The picked cells are the bold ones, and they hold y_hat[range(n), y] (checked against nll_loss).
    bold = [(i, j) for i, row in enumerate(heat.text) for j, t in enumerate(row) if t.startswith("<b>")]
    assert bold == [(i, k) for i, k in enumerate(y.tolist())]
    picked = torch.tensor([heat.z[i][j] for i, j in bold], dtype=torch.float32)
    torch.testing.assert_close(-picked, F.nll_loss(y_hat, y, reduction="none"))
    no_colours(fig)


def test_heatmap_text_of_the_chapter_example():
    heat = figs.prediction_heatmap(Y_HAT, Y).data[0]
    assert list(heat.text[0]) == ["<b>0.10</b>", "0.30", "0.60"]
    assert list(heat.text[1]) == ["0.30", "0.20", "<b>0.50</b>"]


def test_neg_log_curve_points_are_the_per_example_losses():
    y_hat, y = random_batch(3, n=6)
    trace = cross_entropy_trace(y_hat, y)
    fig = figs.neg_log_curve(trace.picked)
    curve, points = fig.data
    assert len(curve.x) == figs.CURVE_POINTS
    torch.testing.assert_close(
        torch.tensor(curve.y, dtype=torch.float64), -torch.log(torch.tensor(curve.x, dtype=torch.float64))
    )
    expected = F.nll_loss(torch.log(y_hat).double(), y, reduction="none")
    torch.testing.assert_close(torch.tensor(points.y, dtype=torch.float64), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        torch.tensor(points.x, dtype=torch.float64), y_hat.double()[torch.arange(6), y], rtol=1e-6, atol=0
    )
    no_colours(fig)


def test_neg_log_curve_names_an_infinite_loss_instead_of_drawing_it():
    fig = figs.neg_log_curve(torch.tensor([0.5, 0.0]))
    assert list(fig.data[1].x) == [0.5]
    assert any("i = 1: p = 0" in a.text and "∞" in a.text for a in fig.layout.annotations)


def test_neg_log_curve_reaches_tiny_probabilities():
    fig = figs.neg_log_curve(torch.tensor([1e-4]))
    assert min(fig.data[0].x) <= 1e-4 and fig.data[1].y[0] == pytest.approx(-math.log(1e-4), rel=1e-5)


def test_loss_bars_and_mean_match_cross_entropy():
    y_hat, y = random_batch(4, n=7, k=5)
    logits = torch.log(y_hat)
    fig = figs.loss_bars(cross_entropy_trace(y_hat, y).losses)
    bars, mean = fig.data
    torch.testing.assert_close(torch.tensor(bars.y, dtype=torch.float32), F.cross_entropy(logits, y, reduction="none"))
    assert mean.y[0] == mean.y[1] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    no_colours(fig)


def test_loss_bars_of_the_chapter_example():
    fig = figs.loss_bars(cross_entropy_trace(Y_HAT, Y).losses)
    assert list(fig.data[0].text) == ["2.3026", "0.6931"]
    assert fig.data[1].name == "mean = 1.4979"


def test_an_infinite_loss_is_capped_hatched_and_named():
    fig = figs.loss_bars(torch.tensor([0.5, math.inf]))
    bars = fig.data[0]
    assert list(bars.text) == ["0.5000", "∞"] and math.isfinite(bars.y[1]) and bars.y[1] > 0.5
    assert list(bars.marker.pattern.shape) == ["", "/"]
    assert len(fig.data) == 1  # no mean line at infinity
    assert any("mean = ∞" in a.text for a in fig.layout.annotations)


def test_logits_table_side_by_side_with_torch():
    y_hat, y = random_batch(5, n=4, k=3)
    logits = torch.log(y_hat)
    lt = logits_trace(logits, y)
    frame = figs.logits_side_by_side(lt, F.cross_entropy(logits, y, reduction="none"))
    assert frame["i"].tolist() == [0, 1, 2, 3]
    torch.testing.assert_close(torch.tensor(frame["o_y"].tolist()), logits[torch.arange(4), y])
    torch.testing.assert_close(torch.tensor(frame["max"].tolist()), logits.amax(1))
    torch.testing.assert_close(torch.tensor(frame["logsumexp"].tolist()), torch.logsumexp(logits, 1))
    torch.testing.assert_close(torch.tensor(frame["ours"].tolist()), torch.tensor(frame["torch"].tolist()))
    torch.testing.assert_close(torch.tensor(frame["torch"].tolist()), F.cross_entropy(logits, y, reduction="none"))
    # ours = logsumexp - o_y, the identity the step teaches
    torch.testing.assert_close(
        torch.tensor(frame["ours"].tolist()), torch.tensor((frame["logsumexp"] - frame["o_y"]).tolist())
    )


# ---------------------------------------------------------------- text alternatives (issue 23 §2)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 9), st.integers(2, 5))
def test_alt_texts_give_each_examples_picked_cell_loss_and_the_mean(seed, n, k):
    """Against torch: the picked cells by gather, the losses by F.nll_loss on log y_hat, the mean by F.cross_entropy."""
    y_hat, y = random_batch(seed, n, k)
    y_hat = y_hat.double()
    picked = y_hat.gather(1, y[:, None])[:, 0]
    losses = F.nll_loss(torch.log(y_hat), y, reduction="none")
    mean = float(F.cross_entropy(torch.log(y_hat), y))
    heat = figs.prediction_heatmap_alt(y_hat, y)
    curve = figs.neg_log_curve_alt(picked)
    bars = figs.loss_bars_alt(losses)
    assert f"{n} examples by {k} classes" in heat
    shown = min(n, figs.ALT_EXAMPLES)
    for i in range(shown):
        assert f"example {i}, class {int(y[i])}: {float(picked[i]):.2f}" in heat
        assert f"example {i}: p = {float(picked[i]):.4f}, loss {float(losses[i]):.4f}" in curve
        assert f"example {i}: {float(losses[i]):.4f}" in bars
    for text in (heat, curve, bars):  # the rest are counted, not listed (the page's tables have them all)
        assert f"example {shown}:" not in text and f"example {shown}," not in text
        assert (f"and {n - shown} more" in text) == (n > shown)
    assert bars.endswith(f"Mean: {mean:.4f}.")


def test_alt_texts_name_an_infinite_loss_in_words():
    y_hat, y = torch.tensor([[1.0, 0.0], [0.5, 0.5]], dtype=torch.float64), torch.tensor([1, 0])
    picked = y_hat.gather(1, y[:, None])[:, 0]
    losses = F.nll_loss(torch.log(y_hat), y, reduction="none")
    assert "example 0: p = 0.0000, loss infinite" in figs.neg_log_curve_alt(picked)
    assert figs.loss_bars_alt(losses).endswith("Mean: infinite.")


def test_the_per_example_table_holds_the_charts_numbers():
    picked = Y_HAT.double().gather(1, Y[:, None])[:, 0]
    losses = F.nll_loss(torch.log(Y_HAT.double()), Y, reduction="none")
    rows = figs.per_example_records(picked, losses)
    assert [r["i"] for r in rows] == [0, 1]
    assert [r["p = y_hat[i, y[i]]"] for r in rows] == pytest.approx([0.1, 0.5])
    assert [r["loss −log p"] for r in rows] == pytest.approx(losses.tolist())
