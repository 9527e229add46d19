"""Inspection numerics against direct torch computations: scores, contribution maps, differences, the softmax link."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from softmax_core import inspection
from softmax_core.logit_presets import LABEL_SETS, class_labels, parse_logits

pytestmark = pytest.mark.unit


def random_model(seed: int = 0, scale: float = 0.1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(784, 10, generator=g) * scale, torch.randn(10, generator=g)


def random_images(n: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)


def test_scores_and_probabilities_match_x_at_w_plus_b():
    W, b = random_model()
    images = random_images(5)
    X = images.reshape(5, 784).double() / 255
    reference = X @ W.double() + b.double()
    for i in range(5):
        why = inspection.explain(W, b, images[i])
        np.testing.assert_allclose(why.scores, reference[i].numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(why.probs, F.softmax(reference[i], dim=0).numpy(), rtol=0, atol=1e-12)
        assert why.predicted == int(reference[i].argmax())


def test_each_contribution_map_plus_bias_is_the_score_from_x_at_w_plus_b():
    W, b = random_model(3)
    image = random_images(1, seed=4)[0]
    x = image.reshape(784).double() / 255
    reference = x @ W.double() + b.double()
    why = inspection.explain(W, b, image)
    for j in range(10):
        total, bias, score = why.check(j)
        assert bias == pytest.approx(float(b[j]), abs=0)
        assert score == pytest.approx(float(reference[j]), abs=1e-12)
        # pixel (r, c) of map j is pixel r*28+c times W[r*28+c, j]
        r, c = 13, 7
        assert why.contributions[j, r, c] == pytest.approx(float(x[r * 28 + c] * W[r * 28 + c, j].double()), abs=1e-15)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (784,), elements=st.floats(0, 1)), st.integers(0, 2**16))
def test_contributions_add_up_to_scores_for_any_image(pixels, seed):
    W, b = random_model(seed, scale=1.0)
    why = inspection.explain(W, b, pixels)
    reference = torch.from_numpy(pixels) @ W.double() + b.double()
    sums = why.contributions.reshape(10, -1).sum(1) + why.bias
    np.testing.assert_allclose(sums, reference.numpy(), rtol=0, atol=1e-9)


def test_float_images_are_taken_as_zero_to_one_and_uint8_divided_by_255():
    W, b = random_model()
    image = random_images(1)[0]
    assert np.allclose(
        inspection.explain(W, b, image).scores, inspection.explain(W, b, image.double() / 255).scores, atol=1e-12
    )
    with pytest.raises(ValueError, match="784 pixels"):
        inspection.as_pixels(np.zeros((27, 28)))


def test_templates_are_the_columns_of_w_as_pictures():
    W, _ = random_model()
    pictures = inspection.templates(W)
    assert pictures.shape == (10, 28, 28)
    for j in (0, 4, 9):
        np.testing.assert_array_equal(pictures[j].reshape(784), W[:, j].double().numpy())


def test_largest_difference_finds_the_changed_weight_or_bias():
    W, b = random_model()
    W2, b2 = W.clone(), b.clone()
    W2[5 * 28 + 6, 3] += 0.25
    diff = inspection.largest_difference(W, b, W2, b2)
    assert (diff.what, diff.class_index, diff.pixel) == ("weight", 3, 5 * 28 + 6)
    assert diff.largest == pytest.approx(0.25, rel=1e-6)
    b2[7] -= 1.0
    diff = inspection.largest_difference(W, b, W2, b2)
    assert (diff.what, diff.class_index, diff.pixel) == ("bias", 7, None)
    assert inspection.largest_difference(W, b, W, b).largest == 0.0


def test_mistakes_and_a_random_mistake():
    true = np.array([0, 1, 2, 4, 4, 2])
    predicted = np.array([0, 2, 2, 2, 4, 6])
    assert inspection.mistakes(true, predicted).tolist() == [1, 3, 5]
    assert inspection.mistakes(true, predicted, true_class=4, predicted_class=2).tolist() == [3]
    rng = np.random.default_rng(0)
    assert {inspection.random_mistake(true, predicted, rng) for _ in range(50)} == {1, 3, 5}
    assert inspection.random_mistake(true, true, rng) is None


def test_symmetric_limit_is_the_largest_magnitude():
    assert inspection.symmetric_limit(np.array([-3.0, 1.0]), np.array([2.0])) == 3.0
    assert inspection.symmetric_limit(np.zeros(4)) == 1.0  # an all-zero picture still gets a valid scale


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, (10,), elements=st.floats(-50, 50, allow_subnormal=True)))
def test_softmax_link_restores_exactly_the_ten_logits(scores):
    link = inspection.softmax_page_link(scores, temperature=2.5)
    parts = urlsplit(link)
    query = {k: v[0] for k, v in parse_qs(parts.query, strict_parsing=True).items()}
    assert parts.path == "/softmax_temperature"
    assert parse_logits(query["sm_logits"]) == tuple(float(v) for v in scores)  # bit for bit
    assert len(query["sm_logits"]) <= 400  # the softmax page refuses longer logit text
    assert query["sm_labels"] in LABEL_SETS
    assert class_labels(query["sm_labels"], 10)[4] == "Coat"
    assert query["sm_preset"] == "custom" and query["sm_T"] == "2.5"


def test_softmax_link_of_real_float32_scores_round_trips():
    W, b = random_model()
    scores = (random_images(1)[0].reshape(1, 784).float() / 255 @ W + b)[0].double().numpy()
    query = inspection.softmax_page_query(scores)
    assert parse_logits(query["sm_logits"]) == tuple(scores.tolist())
    assert "sm_T" not in query


def test_snapshot_k_equals_a_rerun_stopped_after_k_epochs(fmnist, tmp_path):
    """Once the run store keeps snapshots: epoch k's weights are those of the same training run for k epochs."""
    from softmax_core.run_store import RunStore
    from softmax_core.train_or_load import train_or_load
    from softmax_core.training import TrainConfig, train

    config = TrainConfig(epochs=3, batch_size=4096)
    run = train_or_load(RunStore(tmp_path), config, fmnist).run
    weights, biases = run.load_snapshots()
    assert weights.shape == (4, 784, 10)
    for k in (1, 2):
        shorter = train(TrainConfig(epochs=k, batch_size=4096), fmnist)
        torch.testing.assert_close(weights[k], shorter.weight, rtol=0, atol=0)
        torch.testing.assert_close(biases[k], shorter.bias, rtol=0, atol=0)
    g = torch.Generator().manual_seed(config.seed)
    torch.testing.assert_close(weights[0], torch.normal(0.0, 0.01, (784, 10), generator=g), rtol=0, atol=0)


def test_selected_cell_reads_streamlits_selection():
    names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    selection = {"points": [{"curve_number": 1, "point_index": 42, "x": "Pullover", "y": "Coat"}], "box": []}
    assert inspection.selected_cell(selection, names) == (4, 2)
    assert inspection.selected_cell({"points": []}, names) is None
    assert inspection.selected_cell(None, names) is None
    assert inspection.selected_cell({"points": [{"x": 3, "y": "Coat"}]}, names) is None  # a heatmap-like point


def test_explained_classes_are_predicted_and_true_for_a_mistake_else_the_runner_up():
    weight, bias = random_model(3)
    image = torch.rand(28, 28)
    why = inspection.explain(weight, bias, image)
    order = torch.argsort(image.reshape(784) @ weight + bias, descending=True).tolist()  # an independent ranking
    assert why.predicted == order[0]
    assert inspection.explained_classes(why) == [(order[0], "predicted"), (order[1], "runner-up")]
    assert inspection.explained_classes(why, order[0]) == [(order[0], "predicted"), (order[1], "runner-up")]
    assert inspection.explained_classes(why, order[5]) == [(order[0], "predicted"), (order[5], "true")]
