"""Temperature scaling: the fit, the metrics and the bins, each against an independent computation."""

from __future__ import annotations

import math
import warnings
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from softmax_core import calibration as cal
from softmax_core.logit_presets import parse_logits

pytestmark = pytest.mark.unit


def synthetic(n: int, temperature: float, seed: int = 0, k: int = 10, scale: float = 4.0):
    """Logits z and labels drawn from softmax(z / temperature): a model whose best T is ``temperature``."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, k, generator=g, dtype=torch.float64) * scale
    y = torch.multinomial(torch.softmax(z / temperature, 1), 1, generator=g)[:, 0]
    return z.numpy(), y.numpy()


def loop_bins(conf, correct, num_bins):
    """A plain Python loop over Guo et al.'s bins ((m-1)/M, m/M]: (count, accuracy, confidence) per bin."""
    edges = np.linspace(0, 1, num_bins + 1)
    rows = []
    for m in range(num_bins):
        members = [i for i, c in enumerate(conf) if edges[m] < c <= edges[m + 1] or (m == 0 and c == 0)]
        if members:
            rows.append((len(members), sum(correct[i] for i in members) / len(members),
                         sum(conf[i] for i in members) / len(members)))  # fmt: skip
        else:
            rows.append((0, None, None))
    return rows


def test_split_is_fixed_disjoint_and_complete():
    a, b = cal.split_test_set(10_000), cal.split_test_set(10_000)
    assert np.array_equal(a.calibration, b.calibration) and np.array_equal(a.evaluation, b.evaluation)
    assert len(a.calibration) == len(a.evaluation) == 5_000
    assert np.array_equal(np.sort(np.concatenate([a.calibration, a.evaluation])), np.arange(10_000))
    other = cal.split_test_set(10_000, seed=1)
    assert not np.array_equal(other.calibration, a.calibration)


def test_nll_matches_torch_cross_entropy():
    z, y = synthetic(500, 1.0, seed=3)
    for t in (0.3, 1.0, 2.5):
        expected = F.cross_entropy(torch.tensor(z) / t, torch.tensor(y)).item()
        assert cal.nll(z, y, t) == pytest.approx(expected, rel=1e-12)


def test_brier_matches_a_loop():
    z, y = synthetic(50, 1.0, seed=4, k=4)
    p = cal.probabilities(z)
    expected = sum(sum((p[i, k] - (k == y[i])) ** 2 for k in range(4)) for i in range(50)) / 50
    assert cal.brier(p, y) == pytest.approx(expected, rel=1e-12)


def test_ece_on_a_hand_example():
    # 3 bins (0, 1/3], (1/3, 2/3], (2/3, 1]: gaps 0.25, 0.05, 0.075, two images each -> ECE 0.125, MCE 0.25
    conf = [0.2, 0.3, 0.5, 0.6, 0.9, 0.95]
    correct = [0, 1, 0, 1, 1, 1]
    bins = cal.reliability_bins(conf, correct, num_bins=3)
    assert bins.counts.tolist() == [2, 2, 2]
    assert bins.accuracy == pytest.approx([0.5, 0.5, 1.0])
    assert bins.confidence == pytest.approx([0.25, 0.55, 0.925])
    assert bins.ece == pytest.approx(0.125)
    assert bins.mce == pytest.approx(0.25)


def test_bin_edges_belong_to_the_lower_bin():
    conf = [1 / 3, 2 / 3, 1.0, 0.4]
    bins = cal.reliability_bins(conf, [1, 1, 1, 1], num_bins=3)
    assert bins.counts.tolist() == [1, 2, 1]
    rows = loop_bins(conf, [1, 1, 1, 1], 15)
    assert cal.reliability_bins(conf, [1, 1, 1, 1], 15).counts.tolist() == [r[0] for r in rows]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 1.0), st.booleans()), min_size=1, max_size=60), st.integers(1, 20))
def test_bins_agree_with_a_plain_loop(pairs, num_bins):
    conf = [c for c, _ in pairs]
    correct = [int(r) for _, r in pairs]
    bins = cal.reliability_bins(conf, correct, num_bins)
    rows = loop_bins(conf, correct, num_bins)
    assert bins.counts.tolist() == [r[0] for r in rows]
    ece = sum(r[0] / len(conf) * abs(r[1] - r[2]) for r in rows if r[0])
    assert bins.ece == pytest.approx(ece, abs=1e-12)
    assert bins.mce == pytest.approx(max(abs(r[1] - r[2]) for r in rows if r[0]), abs=1e-12)


def test_a_perfectly_calibrated_set_has_ece_near_zero():
    # Draw each image's correctness with probability equal to its confidence: calibrated by construction.
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.1, 1.0, 200_000)
    correct = rng.uniform(size=conf.size) < conf
    assert cal.reliability_bins(conf, correct).ece < 0.005
    # ... and a model whose labels follow its own softmax (T = 1) is calibrated too.
    z, y = synthetic(100_000, 1.0, seed=5)
    assert cal.evaluate(z, y).ece < 0.01


def test_fit_recovers_a_known_temperature():
    z, y = synthetic(20_000, 2.0, seed=1)
    fit = cal.fit_temperature(z, y)
    assert fit.temperature == pytest.approx(2.0, rel=0.05)
    assert fit.nll_after < fit.nll_before
    # the fit is the minimum: nudging T either way raises the NLL
    for t in (fit.temperature * 0.98, fit.temperature * 1.02):
        assert cal.nll(z, y, t) > fit.nll_after


@pytest.mark.parametrize("start", [0.1, 10.0])
def test_fit_reaches_the_same_t_from_far_starts(start):
    z, y = synthetic(5_000, 0.5, seed=2)
    assert cal.fit_temperature(z, y, start=start).temperature == pytest.approx(
        cal.fit_temperature(z, y, start=1.0).temperature, rel=1e-4
    )


def torch_lbfgs_temperature(z, y) -> float:
    """The NLL-minimising T by torch's own L-BFGS on log T and autograd: an independent fit."""
    logits, labels = torch.as_tensor(z), torch.as_tensor(y)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=1.0, max_iter=500, tolerance_grad=1e-14, tolerance_change=1e-16,
                            line_search_fn="strong_wolfe")  # fmt: skip

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


@settings(max_examples=15, deadline=None)
@given(st.floats(0.05, 30.0), st.integers(0, 1000), st.floats(0.5, 6.0))
def test_the_fit_agrees_with_torch_lbfgs_and_autograd_sees_no_slope_there(temperature, seed, scale):
    g = torch.Generator().manual_seed(seed)
    z = (torch.randn(800, 6, generator=g, dtype=torch.float64) * scale).numpy()
    y = torch.multinomial(torch.softmax(torch.as_tensor(z) / temperature, 1), 1, generator=g)[:, 0].numpy()
    fit = cal.fit_temperature(z, y)
    assume(cal.T_RANGE[0] < fit.temperature < cal.T_RANGE[1])  # the ends have their own test below
    assert fit.temperature == pytest.approx(torch_lbfgs_temperature(z, y), rel=1e-5)
    t = torch.tensor(fit.temperature, dtype=torch.float64, requires_grad=True)
    F.cross_entropy(torch.as_tensor(z) / t, torch.as_tensor(y)).backward()
    assert abs(float(t.grad)) < 1e-9
    nll_there = F.cross_entropy(torch.as_tensor(z) / fit.temperature, torch.as_tensor(y))
    assert fit.nll_after == pytest.approx(float(nll_there), abs=1e-12)


def test_a_separated_set_and_an_all_wrong_set_stop_at_the_ends_of_the_range():
    z = np.array([[5.0, 0.0], [0.0, 5.0]])
    sharp = cal.fit_temperature(z, [0, 1])  # every image right: the NLL falls as T -> 0
    flat = cal.fit_temperature(z, [1, 0])  # every image wrong: it falls as T grows
    assert (sharp.temperature, sharp.at_bound) == (cal.T_RANGE[0], True)
    assert (flat.temperature, flat.at_bound) == (cal.T_RANGE[1], True)
    assert sharp.nll_after < sharp.nll_before and flat.nll_after < flat.nll_before


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 1000), st.integers(1, 20), st.floats(0.5, 8.0))
def test_curves_match_cross_entropy_and_evaluate_at_every_temperature(seed, num_bins, scale):
    z, y = synthetic(300, 1.5, seed=seed, k=5, scale=scale)
    grid = cal.temperature_grid(1.3, points=37)
    nlls, eces = cal.curves_over_temperature(z, y, grid, num_bins, chunk=5)
    for t, nll_t, ece_t in zip(grid, nlls, eces):
        assert nll_t == pytest.approx(float(F.cross_entropy(torch.as_tensor(z) / t, torch.as_tensor(y))), abs=1e-12)
        assert ece_t == pytest.approx(cal.evaluate(z, y, t, num_bins).ece, abs=1e-12)


def test_scaling_leaves_accuracy_unchanged_and_lowers_nll():
    z, y = synthetic(10_000, 2.0, seed=6)
    report = cal.calibrate(z, y)
    assert report.after.accuracy == report.before.accuracy
    assert report.after.nll < report.before.nll
    assert report.after.ece < report.before.ece
    assert report.fit.temperature == pytest.approx(2.0, rel=0.1)
    # the curves are measured on the evaluation half, and pass through the before/after values
    i = int(np.argmin(np.abs(report.temperatures - report.fit.temperature)))
    assert report.nll_curve[i] == pytest.approx(report.after.nll)
    assert report.ece_curve[i] == pytest.approx(report.after.ece)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.05, 20.0))
def test_dividing_by_a_positive_t_never_changes_the_prediction(seed, t):
    z, _ = synthetic(50, 1.0, seed=seed)
    assert np.array_equal(cal.probabilities(z, t).argmax(1), z.argmax(1))


def test_diverged_logits_are_refused_with_a_sentence():
    z, y = synthetic(10, 1.0)
    z[3, 2] = np.nan
    with pytest.raises(ValueError, match="diverged"):
        cal.calibrate(z, y)


def test_softmax_page_link_carries_logits_labels_and_t():
    link = cal.softmax_page_link([1.23456, -2.0, 30000.0], 1.734)
    parts = urlsplit(link)
    assert parts.path == "/softmax_temperature"
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert q["sm_labels"] == "fashion" and q["sm_T"] == "1.73" and q["sm_preset"] == "custom"
    assert parse_logits(q["sm_logits"]) == (1.235, -2.0, 10_000.0)
    assert parse_qs(urlsplit(cal.softmax_page_link([0, 1], 500)).query)["sm_T"] == ["20"]


def test_logits_on_images_match_the_model():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8, generator=g)
    w, b = torch.randn(784, 10, generator=g), torch.randn(10, generator=g)
    expected = (images.reshape(5, -1).double() / 255) @ w.double() + b.double()
    assert np.allclose(cal.logits_on_images(w, b, images), expected.numpy())
    assert math.isfinite(cal.nll(cal.logits_on_images(w, b, images), [0, 1, 2, 3, 4]))


def test_read_only_logits_give_the_same_metrics_without_a_warning():
    """A server shares one read-only logits array between sessions; torch may not share its memory."""
    z, y = synthetic(400, 1.7, seed=5)
    shared = z.copy()
    shared.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "non-writable array" warning would fail here
        frozen_metrics = cal.evaluate(shared, y, 1.3)
        probs = cal.probabilities(shared[:3], 2.0)
        report = cal.calibrate(shared, y)
    plain = cal.evaluate(z, y, 1.3)
    assert (frozen_metrics.accuracy, frozen_metrics.nll, frozen_metrics.ece) == (plain.accuracy, plain.nll, plain.ece)
    np.testing.assert_array_equal(probs, cal.probabilities(z[:3], 2.0))
    assert report.fit.temperature == cal.calibrate(z, y).fit.temperature
    np.testing.assert_array_equal(shared, z)  # nothing wrote into it
