"""Inside-the-model figures: traces carry the right numbers, one diverging scale centred at 0, no own colours."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import plotly.colors
import pytest
import torch
from PIL import Image

from softmax_core.data import CLASS_NAMES
from softmax_core.figures import inside_figures as figs
from softmax_core.garment_upload import Step
from softmax_core.inspection import explain

pytestmark = pytest.mark.unit


def model(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(784, 10, generator=g) * 0.1, torch.randn(10, generator=g)


def no_own_colours(fig) -> None:
    """Colours come from the theme or from the named colour scale, never per trace."""
    spec = json.loads(fig.to_json())
    for trace in spec["data"]:
        assert "color" not in json.dumps(trace.get("marker", {})), trace["type"]
        assert "colorscale" not in trace  # heatmaps use the shared coloraxis
    layout = {k: v for k, v in spec["layout"].items() if k not in ("template", "coloraxis", "coloraxis2")}
    assert "color" not in json.dumps(layout)


def test_templates_show_each_column_of_w_on_one_symmetric_diverging_scale():
    W, b = model()
    fig = figs.weight_templates(W, b, CLASS_NAMES)
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert len(heatmaps) == 10 and {t.coloraxis for t in heatmaps} == {"coloraxis"}
    for j in (0, 4, 9):
        np.testing.assert_allclose(np.array(heatmaps[j].z).reshape(784), W[:, j].numpy(), atol=1e-5)
    axis = fig.layout.coloraxis
    limit = float(W.abs().max())
    assert axis.cmin == pytest.approx(-limit) and axis.cmax == pytest.approx(limit) and axis.cmid == 0
    assert [c for _, c in axis.colorscale] == plotly.colors.diverging.RdBu
    titles = [a.text for a in fig.layout.annotations]
    assert titles[4] == f"Coat<br>b = {float(b[4]):+.3f}"
    no_own_colours(fig)


def test_templates_keep_a_given_limit_so_a_slider_does_not_rescale():
    W, b = model()
    fig = figs.weight_templates(W * 0.01, b, CLASS_NAMES, limit=2.0)
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (-2.0, 2.0)


def test_pixels_are_square_in_every_subplot():
    fig = figs.weight_templates(*model(), CLASS_NAMES)
    assert fig.layout.yaxis7.scaleanchor == "x7" and fig.layout.yaxis7.autorange == "reversed"


def test_contribution_maps_are_x_times_w_and_titles_add_up_to_the_score():
    W, b = model(2)
    image = torch.randint(0, 256, (28, 28), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)
    why = explain(W, b, image)
    fig = figs.contribution_maps(why, [(4, "predicted"), (2, "true")], CLASS_NAMES)
    image_trace, coat, pullover = fig.data
    assert image_trace.coloraxis == "coloraxis2" and coat.coloraxis == pullover.coloraxis == "coloraxis"
    x = image.reshape(784).double() / 255
    np.testing.assert_allclose(np.array(coat.z).reshape(784), (x * W[:, 4].double()).numpy(), atol=1e-5)
    score = float(x @ W[:, 2].double() + b[2])
    assert fig.layout.annotations[2].text == "Pullover<br>(true)"
    sums = figs.contribution_sums(why, [(4, "predicted"), (2, "true")], CLASS_NAMES).splitlines()
    assert sums[1].startswith("Pullover (true): Σ x·w = ") and sums[1].endswith(f"= o = {score:+.4f}")
    limit = max(np.abs(coat.z).max(), np.abs(pullover.z).max())
    assert fig.layout.coloraxis.cmax == pytest.approx(limit, abs=1e-5) and fig.layout.coloraxis.cmid == 0
    no_own_colours(fig)


def test_score_bars_carry_the_scores_and_mark_the_true_class():
    scores = np.linspace(-2, 3, 10)
    fig = figs.score_bars(scores, CLASS_NAMES, true_label=6)
    assert list(fig.data[0].x) == pytest.approx(scores.tolist())
    assert fig.data[0].y[6] == "<b>Shirt (true)</b>" and fig.data[0].marker.opacity[6] == 1.0
    with pytest.raises(ValueError):
        figs.score_bars(scores[:9], CLASS_NAMES)


def test_upload_steps_are_inline_pngs_of_the_steps_padded_square():
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    rgb = np.stack([gray, gray // 2, 255 - gray], axis=2)
    tall = np.zeros((12, 4), np.uint8)
    tall[2:10, 1:3] = 255
    fig = figs.upload_steps([Step("a", rgb, ""), Step("b", gray, ""), Step("c", tall, "")])
    assert [a.text for a in fig.layout.annotations] == ["a", "b", "c"]
    decoded = [np.asarray(Image.open(io.BytesIO(base64.b64decode(t.source.split(",", 1)[1])))) for t in fig.data]
    np.testing.assert_array_equal(decoded[0], rgb)
    np.testing.assert_array_equal(decoded[1][..., 0], gray)
    assert decoded[2].shape == (12, 12, 3)  # padded with its border colour (black), the object centred
    np.testing.assert_array_equal(decoded[2][:, 4:8, 0], tall)
    assert decoded[2][:, :4].max() == 0 and decoded[2][:, 8:].max() == 0
    white_edged = np.full((4, 2), 255, np.uint8)  # an object touching its crop's edges: pad with the known background
    padded = figs.upload_steps([Step("d", white_edged, "", 0)]).data[0].source
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(padded.split(",", 1)[1]))))
    assert decoded[:, 0].max() == 0 and decoded[:, 1:3].min() == 255


def test_model_input_is_grey_zero_to_one():
    fig = figs.model_input(np.full((28, 28), 255, np.uint8))
    assert np.array(fig.data[0].z).max() == 1.0
    assert (fig.layout.coloraxis.cmin, fig.layout.coloraxis.cmax) == (0, 1)


def test_clickable_confusion_has_one_selectable_square_per_cell_over_the_heatmap():
    confusion = np.arange(100).reshape(10, 10)
    fig = figs.clickable_confusion(confusion, CLASS_NAMES)
    heatmap, cells = fig.data
    assert heatmap.type == "heatmap" and cells.type == "scatter" and cells.marker.symbol == "square"
    assert len(cells.x) == 100
    k = 4 * 10 + 2  # true Coat, predicted Pullover
    assert (cells.y[k], cells.x[k], cells.customdata[k]) == ("Coat", "Pullover", 42)
    assert cells.marker.opacity < 0.05  # invisible: the heatmap shows the numbers
    assert list(fig.layout.xaxis.range) == [-0.5, 9.5]
    assert list(fig.layout.yaxis.range) == [9.5, -0.5]  # true class 0 on top


# ---------------------------------------------------------------- text alternatives, checked against their data


def _number(text: str) -> float:
    return float(text.replace("−", "-").replace(",", ""))


def test_templates_alt_names_the_scale_and_the_extreme_biases():
    W, b = model(3)
    alt = figs.weight_templates_alt(W, b, CLASS_NAMES, "W after 2 epoch(s)")
    limit = float(W.abs().max())
    low, high = int(torch.argmin(b)), int(torch.argmax(b))
    assert alt.startswith("W after 2 epoch(s): 10 weight pictures of 28 x 28")
    assert f"from −{limit:.2f} (red" in alt and f"to +{limit:.2f} (blue" in alt
    minus = str.maketrans("-", "−")
    assert f"Biases from {f'{float(b[low]):+.2f}'.translate(minus)} ({CLASS_NAMES[low]})" in alt
    assert f"to {f'{float(b[high]):+.2f}'.translate(minus)} ({CLASS_NAMES[high]})." in alt


def test_score_alt_lists_the_three_largest_scores_in_order_and_the_smallest():
    W, b = model(4)
    x = torch.rand(784, dtype=torch.float64)
    scores = (x @ W.double() + b.double()).numpy()
    alt = figs.score_bars_alt(scores, CLASS_NAMES)
    top = sorted(range(10), key=lambda j: -scores[j])[:3]
    listed = alt.split("largest ")[1].split(";")[0].split(", ")
    assert [item.rsplit(" ", 1)[0] for item in listed] == [CLASS_NAMES[j] for j in top]
    assert [_number(item.rsplit(" ", 1)[1]) for item in listed] == pytest.approx([scores[j] for j in top], abs=0.005)
    lowest = min(range(10), key=lambda j: scores[j])
    assert alt.endswith(f"smallest {CLASS_NAMES[lowest]} {scores[lowest]:+.2f}.".replace("-", "−"))


@pytest.mark.parametrize(
    ("logits", "listed", "tail"),
    [
        ([4.0, 3.9, 1.0] + [-3.0] * 7, 3, "the rest below 1 %."),
        ([9.0] + [0.0] * 9, 1, "the rest below 1 %."),
        ([1.0] * 10, 3, "the rest at most 10.0% each."),
    ],
)
def test_probability_alt_names_the_classes_of_one_percent_or_more_and_the_rest(logits, listed, tail):
    names = [f"Class{j}" for j in range(10)]
    probs = torch.softmax(torch.tensor(logits, dtype=torch.float64), 0).numpy()
    alt = figs.probabilities_alt(probs, names)
    assert alt.startswith("Probabilities: Class0 ") and alt.endswith(tail)
    items = alt.split(": ", 1)[1].split(", ")[:-1]
    assert [item.rsplit(" ", 1)[0] for item in items] == names[:listed]
    for item in items:
        if item.startswith("Class"):
            name, share = item.rsplit(" ", 1)
            assert float(share.rstrip("%.")) / 100 == pytest.approx(probs[names.index(name)], abs=5e-4)
            assert probs[names.index(name)] >= 0.01


def test_the_issues_example_reads_as_the_issue_writes_it():
    names = ["Ankle boot", "Sneaker", "Sandal", "Bag"]
    alt = figs.probabilities_alt([0.507, 0.462, 0.029, 0.002], names, " at T = 1")
    assert alt == "Probabilities at T = 1: Ankle boot 50.7%, Sneaker 46.2%, Sandal 2.9%, the rest below 1 %."


def test_contribution_alt_adds_each_map_and_its_bias_up_to_the_score():
    W, b = model(5)
    image = torch.randint(0, 256, (28, 28), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    why = explain(W, b, image)
    classes = [(why.predicted, "predicted"), (3, "true")]
    alt = figs.contribution_maps_alt(why, classes, CLASS_NAMES)
    x = image.reshape(784).double() / 255
    for j, role in classes:
        score = float(x @ W[:, j].double() + b[j].double())  # torch, not the figure module's sums
        part = alt.split(f"{CLASS_NAMES[j]} ({role}) sums to ")[1]
        assert _number(part.split(" = score ")[1].split(";")[0].rstrip(".")) == pytest.approx(score, abs=0.005)
        assert _number(part.split(", plus b ")[1].split(" ")[0]) == pytest.approx(float(b[j]), abs=0.005)


def test_model_input_alt_says_how_much_is_lit():
    pixels = np.zeros((28, 28))
    pixels[:14] = 255  # the top half white
    assert figs.model_input_alt(pixels, "Test image #3, Bag") == (
        "Test image #3, Bag, as the model sees it: 28 x 28 grey pixels, 50% of them lit, mean 0.50."
    )


def test_upload_alt_lists_the_steps_in_order():
    steps = [Step(title, np.zeros((4, 4), np.uint8), "") for title in ("Yours", "Cropped", "28 x 28")]
    assert figs.upload_steps_alt(steps) == "Your picture in 3 steps: Yours, then Cropped, then 28 x 28."
