"""softmax, log_softmax, entropy and friends against torch's own implementations."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from softmax_core import (
    confidence,
    entropy,
    hardmax,
    log_softmax,
    margin,
    max_entropy,
    naive_softmax,
    softmax,
)

pytestmark = pytest.mark.unit

finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False, width=64)
logit_rows = arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 10)), elements=finite)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("temperature", [0.05, 0.5, 1.0, 3.0, 20.0])
def test_softmax_matches_torch(dim, temperature):
    x = torch.randn(4, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 5
    expected = torch.softmax(x / temperature, dim=dim)
    torch.testing.assert_close(softmax(x, temperature, dim), expected, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(naive_softmax(x, temperature, dim), expected, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(
        log_softmax(x, temperature, dim), torch.log_softmax(x / temperature, dim=dim), rtol=1e-12, atol=1e-12
    )


def test_softmax_on_batch_shape_3d():
    x = torch.randn(2, 3, 5, dtype=torch.float64)
    torch.testing.assert_close(softmax(x, dim=1), torch.softmax(x, dim=1))


def test_accepts_lists_and_numpy_and_keeps_float_dtype():
    assert softmax([1, 2, 3]).dtype == torch.float32
    assert softmax(np.array([1.0, 2.0])).dtype == torch.float64
    assert softmax(torch.tensor([1.0, 2.0], dtype=torch.float16)).dtype == torch.float16
    torch.testing.assert_close(softmax([1.0, 2.0, 3.0]), torch.softmax(torch.tensor([1.0, 2.0, 3.0]), 0))


@settings(max_examples=200, deadline=None)
@given(logit_rows)
def test_probabilities_sum_to_one_and_are_in_unit_interval(x):
    p = softmax(x)
    assert torch.all((p >= 0) & (p <= 1))
    torch.testing.assert_close(p.sum(-1), torch.ones(p.shape[0], dtype=p.dtype))


@settings(max_examples=200, deadline=None)
@given(logit_rows, st.floats(-1e3, 1e3, allow_nan=False))
def test_invariant_to_adding_a_constant(x, c):
    torch.testing.assert_close(softmax(x + c), softmax(x), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(log_softmax(x + c), log_softmax(x), rtol=1e-6, atol=1e-8)


@settings(max_examples=200, deadline=None)
@given(logit_rows)
def test_low_temperature_approaches_hardmax(x):
    # A unique winner by at least 0.01: then at T = 1e-4 the others get at most exp(-100).
    top2 = np.sort(x, axis=-1)[:, -2:] if x.shape[1] > 1 else None
    if top2 is not None and np.any(top2[:, 1] - top2[:, 0] < 1e-2):
        return
    torch.testing.assert_close(softmax(x, temperature=1e-4), hardmax(x), atol=1e-12, rtol=0)


@settings(max_examples=200, deadline=None)
@given(logit_rows)
def test_high_temperature_approaches_uniform(x):
    k = x.shape[1]
    p = softmax(x, temperature=1e7)
    torch.testing.assert_close(p, torch.full_like(p, 1.0 / k), atol=1e-5, rtol=0)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float32, st.integers(2, 10), elements=st.floats(-1e4, 1e4, width=32)))
def test_stable_softmax_stays_finite_for_huge_logits(x):
    x[0] = 1e4  # guarantee overflow for the naive version: exp(1e4) is inf in float32
    p = softmax(x)
    assert torch.isfinite(p).all()
    torch.testing.assert_close(p, torch.softmax(torch.from_numpy(x), 0))
    assert torch.isfinite(log_softmax(x)).all()
    assert not torch.isfinite(naive_softmax(x)).all()


def test_chapter_large_logits_example():
    x = torch.tensor([1000.0, 1001.0, 1002.0])
    assert torch.isnan(naive_softmax(x)).all()
    torch.testing.assert_close(softmax(x), torch.softmax(x - 1000, 0))
    torch.testing.assert_close(softmax(x), torch.tensor([0.09003057, 0.24472847, 0.66524096]))


def test_float16_naive_overflows_where_stable_does_not():
    x = torch.tensor([10.0, 12.0], dtype=torch.float16)  # exp(12) > float16 max 65504
    assert not torch.isfinite(naive_softmax(x)).all()
    torch.testing.assert_close(softmax(x), torch.softmax(x.double(), 0).half())


def test_entropy_matches_torch_distributions():
    p = torch.softmax(torch.randn(5, 4, dtype=torch.float64), -1)
    expected = torch.distributions.Categorical(probs=p).entropy()
    torch.testing.assert_close(entropy(p), expected)


def test_entropy_limits():
    assert float(entropy([1.0, 0.0, 0.0])) == 0.0
    assert math.isclose(float(entropy([0.25] * 4)), math.log(4), rel_tol=1e-6)
    assert math.isclose(max_entropy(10), math.log(10), rel_tol=1e-12)


def test_confidence_and_margin():
    p = torch.tensor([[0.1, 0.6, 0.3], [0.5, 0.5, 0.0]])
    torch.testing.assert_close(confidence(p), torch.tensor([0.6, 0.5]))
    torch.testing.assert_close(margin(p), torch.tensor([0.3, 0.0]))


def test_hardmax_is_one_hot_of_argmax():
    torch.testing.assert_close(hardmax([0.2, 3.0, -1.0]), torch.tensor([0.0, 1.0, 0.0]))


@pytest.mark.parametrize("temperature", [0, -1, float("inf"), float("nan"), "hot"])
def test_bad_temperature_raises(temperature):
    with pytest.raises(ValueError, match="temperature"):
        softmax([1.0, 2.0], temperature)


@pytest.mark.parametrize(
    "bad, match",
    [
        ([float("nan"), 1.0], "NaN"),
        ([float("inf"), 1.0], r"\+inf"),
        ([["a", "b"]], "numbers"),
        (torch.tensor(3.0), "single number"),
        (torch.empty(2, 0), "no classes"),
    ],
)
def test_bad_logits_raise(bad, match):
    with pytest.raises(ValueError, match=match):
        softmax(bad)


def test_bad_dim_raises():
    with pytest.raises(ValueError, match="dim=2"):
        softmax([[1.0, 2.0]], dim=2)


@pytest.mark.parametrize("probs", [[0.5, 1.5], [-0.1, 1.1], [float("nan"), 1.0]])
def test_probabilities_outside_unit_interval_raise(probs):
    for fn in (entropy, confidence, margin):
        with pytest.raises(ValueError):
            fn(probs)


def test_margin_needs_two_classes():
    with pytest.raises(ValueError, match="two classes"):
        margin([1.0])
