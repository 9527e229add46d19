"""One-hot and cross-entropy against torch.nn.functional, and the chapter's example."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from softmax_core import (
    cross_entropy,
    cross_entropy_from_logits,
    cross_entropy_trace,
    logits_trace,
    one_hot,
    pick_true_class,
)

pytestmark = pytest.mark.unit

CHAPTER_Y = [0, 2]
CHAPTER_Y_HAT = [[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]]


def test_chapter_example():
    torch.testing.assert_close(pick_true_class(CHAPTER_Y_HAT, CHAPTER_Y), torch.tensor([0.1, 0.5]))
    losses = cross_entropy(CHAPTER_Y_HAT, CHAPTER_Y)
    torch.testing.assert_close(losses, torch.tensor([2.3026, 0.6931]), atol=5e-5, rtol=0)
    assert math.isclose(float(losses.mean()), 1.4979, abs_tol=5e-5)


def test_cross_entropy_matches_nll_loss():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(8, 5, generator=g, dtype=torch.float64), 1)
    y = torch.randint(0, 5, (8,), generator=g)
    expected = F.nll_loss(torch.log(probs), y, reduction="none")
    torch.testing.assert_close(cross_entropy(probs, y), expected)


def test_cross_entropy_from_logits_matches_torch():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(16, 10, generator=g, dtype=torch.float64) * 30
    y = torch.randint(0, 10, (16,), generator=g)
    expected = F.cross_entropy(logits, y, reduction="none")
    torch.testing.assert_close(cross_entropy_from_logits(logits, y), expected)
    torch.testing.assert_close(logits_trace(logits, y).losses, expected)
    assert math.isclose(logits_trace(logits, y).mean, float(F.cross_entropy(logits, y)), rel_tol=1e-12)


def test_cross_entropy_from_logits_is_finite_where_probabilities_underflow():
    logits = torch.tensor([[0.0, 200.0]])
    probs = torch.softmax(logits, 1)
    assert probs[0, 0] == 0.0  # float32 underflow
    assert math.isinf(float(cross_entropy(probs, [0])[0]))
    torch.testing.assert_close(cross_entropy_from_logits(logits, [0]), torch.tensor([200.0]))


def test_one_hot_matches_torch():
    y = torch.tensor([0, 2, 1, 2])
    torch.testing.assert_close(one_hot(y, 3), F.one_hot(y, 3).float())
    assert one_hot([1.0, 0.0], 2).tolist() == [[0.0, 1.0], [1.0, 0.0]]


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_trace_one_hot_form_equals_picked_form(data):
    n = data.draw(st.integers(1, 8))
    k = data.draw(st.integers(1, 10))
    raw = np.array(data.draw(st.lists(st.floats(0.01, 1.0), min_size=n * k, max_size=n * k))).reshape(n, k)
    probs = raw / raw.sum(1, keepdims=True)
    y = data.draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    trace = cross_entropy_trace(probs, y)
    torch.testing.assert_close(trace.one_hot_losses, trace.losses)
    torch.testing.assert_close(
        trace.losses, F.nll_loss(torch.log(torch.from_numpy(probs)), torch.tensor(y), reduction="none")
    )
    assert trace.index_pairs == list(enumerate(y))
    assert math.isclose(trace.mean, float(trace.losses.mean()))


def test_trace_of_chapter_example():
    trace = cross_entropy_trace(CHAPTER_Y_HAT, CHAPTER_Y)
    assert trace.index_pairs == [(0, 0), (1, 2)]
    torch.testing.assert_close(trace.picked, torch.tensor([0.1, 0.5]))
    assert math.isclose(trace.mean, 1.4979, abs_tol=5e-5)
    torch.testing.assert_close(trace.one_hot, torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))


def test_zero_probability_of_the_true_class_gives_inf_not_an_error():
    losses = cross_entropy([[0.0, 1.0]], [0])
    assert math.isinf(float(losses[0]))
    trace = cross_entropy_trace([[0.0, 1.0], [0.5, 0.5]], [1, 0])
    torch.testing.assert_close(trace.one_hot_losses, trace.losses)  # 0*log(0) treated as 0


@pytest.mark.parametrize(
    "y_hat, y, match",
    [
        (CHAPTER_Y_HAT, [0, 3], "out of range"),
        (CHAPTER_Y_HAT, [0, -1], "out of range"),
        (CHAPTER_Y_HAT, [0], "2 rows but y has 1"),
        ([0.1, 0.9], [1], "shape"),
        ([[0.5, 1.5]], [0], "between 0 and 1"),
        ([[-0.5, 0.5]], [0], "between 0 and 1"),
        (torch.empty(0, 3), [], "empty"),
        (CHAPTER_Y_HAT, [0, 1.5], "whole numbers"),
        ([["x", 0.5]], [0], "numbers"),
    ],
)
def test_bad_input_raises_clear_error(y_hat, y, match):
    with pytest.raises(ValueError, match=match):
        cross_entropy(y_hat, y)
    with pytest.raises(ValueError):
        cross_entropy_trace(y_hat, y)


def test_one_hot_label_out_of_range():
    with pytest.raises(ValueError, match="between 0 and 2"):
        one_hot([3], 3)


def run_printed_session(lines) -> list[tuple[str, str, str]]:
    """Run printed lines of torch in a fresh Python namespace, as a student pasting them would:
    (line, what the page printed, what real torch prints) for every line with an output."""
    namespace = {"torch": torch, "F": F}
    shown = []
    for code, printed in lines:
        if printed:
            value = eval(code, namespace)  # noqa: S307 (our own printed lines, on our own test tables)
            shown.append((code, printed, repr(value) if isinstance(value, list) else str(value)))
        else:
            exec(code, namespace)  # noqa: S102
    return shown


@pytest.mark.parametrize(
    "y_hat, dtype",
    [
        (CHAPTER_Y_HAT, torch.float32),
        ([[1e-50, 0.5, 0.5], [0.3, 0.2, 0.5]], torch.float64),  # float32 would round 1e-50 to 0: the float64 path
        ([[0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 1.0, 0.0], [0.7, 0.1, 0.1, 0.1]], torch.float32),
    ],
)
def test_every_printed_line_prints_what_real_torch_prints(y_hat, dtype):
    """The page printed `F.one_hot(y, 3).float()` beside a float64 tensor: real torch gives float32 there."""
    from softmax_core.cross_entropy import torch_session

    labels = [0, 2] if len(y_hat) == 2 else [0, 2, 0]
    trace = cross_entropy_trace(torch.tensor(y_hat, dtype=dtype), labels)
    logits = logits_trace(torch.log(trace.y_hat), trace.y)
    lines = [line for step in range(1, 6) for line in torch_session(step, trace, logits)]
    shown = run_printed_session(lines)
    assert len(shown) == 13  # every line with an output, steps 1 to 5
    for code, printed, real in shown:
        assert printed == real, code
    if dtype == torch.float64:
        assert ("F.one_hot(y, 3).to(y_hat.dtype)", str(trace.one_hot)) in lines and "float64" in str(trace.one_hot)
