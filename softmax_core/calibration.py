r"""Temperature scaling: how confident a trained model is, and how one number fixes it.

A model's confidence on an image is its largest softmax probability. It is
*calibrated* when, among the images it gives confidence 0.8, 80 % are right.
Temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural
Networks") divides every logit by one number T > 0 fitted to minimise the
negative log-likelihood on held-out images. Dividing by T > 0 keeps the order
of the logits, so the predicted class, and hence the accuracy, cannot change:
only the confidences move.

The 10,000 test images are split once, by a fixed seed, into a calibration half
(T is fitted there) and an evaluation half (every metric is reported there):
the chapter trains on all 60,000 training images, so none of those may be used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import urlencode

import numpy as np
import torch

from softmax_core.logit_presets import MAX_ABS_LOGIT, format_logits
from softmax_core.tensors import tensor_of

CALIBRATION_SEED = 2017  # the year of Guo et al.; fixed so every page and test sees the same halves
NUM_BINS = 15  # Guo et al.'s 15 equal-width confidence bins
T_RANGE = (1e-2, 1e2)  # fitted temperatures are kept inside this range (a separable set pushes T -> 0)
SOFTMAX_PAGE_T_RANGE = (0.05, 20.0)  # what the softmax page's slider accepts


@dataclass(frozen=True)
class Split:
    seed: int
    calibration: np.ndarray  # sorted test-image indices used to fit T
    evaluation: np.ndarray  # sorted test-image indices every metric is reported on


def split_test_set(n: int = 10_000, seed: int = CALIBRATION_SEED) -> Split:
    """Two disjoint halves of ``range(n)`` from one seeded permutation (first half calibrates)."""
    if n < 2:
        raise ValueError(f"need at least 2 test images to split, got {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed))).numpy()
    half = n // 2
    return Split(int(seed), np.sort(order[:half]), np.sort(order[half:]))


def _checked(logits, labels) -> tuple[torch.Tensor, torch.Tensor]:
    z = tensor_of(np.asarray(logits), torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if z.dim() != 2 or z.shape[1] < 2:
        raise ValueError(f"logits must be (n, K) with K >= 2 classes, got shape {tuple(z.shape)}")
    if y.shape != (z.shape[0],):
        raise ValueError(f"{z.shape[0]} rows of logits but labels of shape {tuple(y.shape)}")
    if z.shape[0] == 0:
        raise ValueError("no images to evaluate")
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise ValueError(f"labels must be class numbers 0 to {z.shape[1] - 1}")
    if not torch.isfinite(z).all():
        raise ValueError("some logits are inf or nan (a diverged model): there is no confidence to calibrate")
    return z, y


def nll(logits, labels, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood ``-log softmax(z / T)[y]`` = cross-entropy of the scaled logits."""
    z, y = _checked(logits, labels)
    scaled = z / float(temperature)
    return float((torch.logsumexp(scaled, dim=1) - scaled.gather(1, y[:, None])[:, 0]).mean())


def probabilities(logits, temperature: float = 1.0) -> np.ndarray:
    """``softmax(z / T)`` row by row, in float64."""
    z = tensor_of(np.asarray(logits), torch.float64)
    return torch.softmax(z / float(temperature), dim=1).numpy()


def brier(probs, labels) -> float:
    """Brier score: mean over images of ``sum_k (p_k - onehot_k)^2`` (0 is perfect, 2 the worst)."""
    p = np.asarray(probs, dtype=np.float64)
    onehot = np.eye(p.shape[1])[np.asarray(labels)]
    return float(((p - onehot) ** 2).sum(axis=1).mean())


@dataclass(frozen=True)
class ReliabilityBins:
    """Equal-width confidence bins ``(lo, hi]``: how many images, their accuracy and mean confidence."""

    edges: np.ndarray  # (M + 1,) from 0 to 1
    counts: np.ndarray  # (M,) images per bin
    accuracy: np.ndarray  # (M,) fraction correct; nan for an empty bin
    confidence: np.ndarray  # (M,) mean confidence; nan for an empty bin

    @property
    def gaps(self) -> np.ndarray:
        """|accuracy - confidence| per bin (nan when empty)."""
        return np.abs(self.accuracy - self.confidence)

    @property
    def ece(self) -> float:
        """Expected calibration error: the gaps weighted by each bin's share of the images."""
        filled = self.counts > 0
        return float((self.counts[filled] / self.counts.sum() * self.gaps[filled]).sum())

    @property
    def mce(self) -> float:
        """Maximum calibration error: the largest gap over the non-empty bins."""
        filled = self.counts > 0
        return float(self.gaps[filled].max())


def _bin_index(confidences: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The 0-based bin of each confidence: ``m`` where ``edges[m] < c <= edges[m + 1]``; 0 goes to bin 0."""
    return np.clip(np.searchsorted(edges, confidences, side="left") - 1, 0, len(edges) - 2)


def reliability_bins(confidences, correct, num_bins: int = NUM_BINS) -> ReliabilityBins:
    """Bin ``m`` (1-based) holds the confidences in ``((m - 1) / M, m / M]``, as in Guo et al.; 0 goes to bin 1."""
    conf = np.asarray(confidences, dtype=np.float64)
    right = np.asarray(correct, dtype=np.float64)
    if conf.shape != right.shape or conf.ndim != 1 or len(conf) == 0:
        raise ValueError("give one confidence and one correct/wrong flag per image (at least one image)")
    if num_bins < 1:
        raise ValueError(f"need at least one bin, got {num_bins}")
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    which = _bin_index(conf, edges)
    counts = np.bincount(which, minlength=num_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.bincount(which, weights=right, minlength=num_bins) / counts
        confidence = np.bincount(which, weights=conf, minlength=num_bins) / counts
    return ReliabilityBins(edges, counts, accuracy, confidence)


@dataclass(frozen=True)
class Metrics:
    n: int
    accuracy: float
    nll: float
    brier: float
    ece: float
    mce: float
    bins: ReliabilityBins
    confidences: np.ndarray  # (n,) the largest probability per image


def evaluate(logits, labels, temperature: float = 1.0, num_bins: int = NUM_BINS) -> Metrics:
    """Accuracy, NLL, Brier, ECE and MCE of ``softmax(z / T)`` against the labels."""
    z, y = _checked(logits, labels)
    probs = probabilities(z, temperature)
    predicted = probs.argmax(axis=1)
    correct = predicted == y.numpy()
    confidences = probs.max(axis=1)
    bins = reliability_bins(confidences, correct, num_bins)
    return Metrics(len(y), float(correct.mean()), nll(z, y, temperature), brier(probs, y.numpy()),
                   bins.ece, bins.mce, bins, confidences)  # fmt: skip


@dataclass(frozen=True)
class TemperatureFit:
    temperature: float
    start: float
    nll_before: float  # at T = 1
    nll_after: float  # at the fitted T
    evaluations: int  # Newton steps taken (each one gradient and one curvature evaluation)
    at_bound: bool  # the optimum lies at the edge of T_RANGE (e.g. a perfectly separated set)


def _shifted(z: torch.Tensor, y: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``z`` minus each row's largest logit (so every entry is <= 0 and ``exp`` cannot overflow), and the
    true class's entry of each row: softmax and the NLL are the same for the shifted logits."""
    shifted = (z - z.max(1, keepdim=True).values).numpy()
    return shifted, shifted[np.arange(len(y)), y.numpy()]


def _nll_slope_and_curvature(shifted: np.ndarray, true_shifted: np.ndarray, beta: float) -> tuple[float, float]:
    """First and second derivative of the mean NLL in ``beta = 1 / T``.

    ``d/dβ NLL = mean(E_p[z] - z_y)`` and ``d²/dβ² NLL = mean(Var_p[z])`` with ``p = softmax(β z)``: the
    NLL is a log-sum-exp of a linear function of β minus a linear one, so it is convex in β.
    """
    weights = np.exp(beta * shifted)  # shifted <= 0: no overflow at any β > 0
    p = weights / weights.sum(1, keepdims=True)
    mean = (p * shifted).sum(1)
    variance = (p * shifted * shifted).sum(1) - mean * mean
    return float((mean - true_shifted).mean()), float(variance.mean())


def fit_temperature(logits, labels, start: float = 1.0) -> TemperatureFit:
    """The T minimising the NLL, by safeguarded Newton steps on ``β = 1 / T`` in float64.

    The NLL is convex in β, so its slope rises with β: a step that would leave the bracket
    around the root of the slope is replaced by the bracket's (geometric) midpoint, and any start
    reaches the one minimum. Each step is a few whole-array operations; the former L-BFGS fit
    made about a thousand small torch calls, and on a server busy with page loads each of them
    waited its turn for the interpreter lock (docs/performance.md).
    """
    z, y = _checked(logits, labels)
    if not (math.isfinite(start) and start > 0):
        raise ValueError(f"the starting temperature must be a positive number, got {start!r}")
    shifted, true_shifted = _shifted(z, y)
    lo, hi = 1.0 / T_RANGE[1], 1.0 / T_RANGE[0]  # the bracket for β
    beta, steps = min(max(1.0 / start, lo), hi), 0
    if _nll_slope_and_curvature(shifted, true_shifted, lo)[0] >= 0:  # rising from the smallest β: T at its top
        beta = lo
    elif _nll_slope_and_curvature(shifted, true_shifted, hi)[0] <= 0:  # still falling at the largest β
        beta = hi
    else:
        while steps < 100:
            steps += 1
            slope, curvature = _nll_slope_and_curvature(shifted, true_shifted, beta)
            if slope == 0:
                break
            lo, hi = (lo, beta) if slope > 0 else (beta, hi)
            newton = beta - slope / curvature if curvature > 0 else math.nan
            if abs(newton - beta) <= 1e-12 * beta:  # converged (quadratically, once near the minimum)
                beta = newton
                break
            beta = newton if lo < newton < hi else math.sqrt(lo * hi)
    fitted = 1.0 / beta
    at_bound = math.isclose(fitted, T_RANGE[0], rel_tol=1e-6) or math.isclose(fitted, T_RANGE[1], rel_tol=1e-6)
    return TemperatureFit(fitted, float(start), nll(z, y, 1.0), nll(z, y, fitted), steps, at_bound)


def temperature_grid(fitted: float | None = None, points: int = 121) -> np.ndarray:
    """Log-spaced temperatures from 0.1 to 10 (wider if the fitted T lies outside), plus the fitted T."""
    lo, hi = 0.1, 10.0
    if fitted is not None:
        lo, hi = min(lo, fitted / 2), max(hi, fitted * 2)
    grid = np.geomspace(lo, hi, points)
    return np.unique(np.append(grid, fitted)) if fitted is not None else grid


def curves_over_temperature(
    logits, labels, temperatures, num_bins: int = NUM_BINS, chunk: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """(NLL, ECE) at each temperature, ``chunk`` temperatures per array operation.

    Dividing by T > 0 keeps the largest logit largest, so the prediction (and which images are right)
    is the same at every T, and the confidence ``max softmax(z / T)`` is ``1 / sum_k exp((z_k - max z) / T)``.
    One loop step per temperature made a thousand small torch calls, each giving up and taking back
    the interpreter lock: on a server busy with page loads, each take waited its turn, and the pages
    that showed a new run's curves waited seconds for them (docs/performance.md).
    """
    z, y = _checked(logits, labels)
    shifted, true_shifted = _shifted(z, y)
    correct = (z.argmax(1) == y).numpy()
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    t_all = np.asarray(temperatures, dtype=np.float64)
    nlls, eces = np.empty(len(t_all)), np.empty(len(t_all))
    for start in range(0, len(t_all), chunk):
        t = t_all[start : start + chunk, None]  # (c, 1)
        sums = np.exp(shifted[None] / t[..., None]).sum(2)  # (c, n): softmax's denominator (its numerator max is 1)
        nlls[start : start + chunk] = (np.log(sums) - true_shifted / t).mean(1)
        conf = 1.0 / sums
        flat = (_bin_index(conf, edges) + num_bins * np.arange(len(t))[:, None]).ravel()  # one bin set per T
        size = len(t) * num_bins
        right = np.bincount(flat, weights=np.broadcast_to(correct, conf.shape).ravel(), minlength=size)
        sure = np.bincount(flat, weights=conf.ravel(), minlength=size)
        gaps = np.abs(right - sure).reshape(len(t), num_bins)  # |accuracy - confidence| x count, 0 when empty
        eces[start : start + chunk] = gaps.sum(1) / len(correct)  # ECE: the gaps weighted by count / n
    return nlls, eces


@dataclass(frozen=True)
class CalibrationReport:
    split: Split
    fit: TemperatureFit
    before: Metrics  # evaluation half, T = 1
    after: Metrics  # evaluation half, fitted T
    temperatures: np.ndarray  # the grid of the curves
    nll_curve: np.ndarray  # evaluation-half NLL at each grid temperature
    ece_curve: np.ndarray  # evaluation-half ECE at each grid temperature


def calibrate(logits, labels, seed: int = CALIBRATION_SEED, num_bins: int = NUM_BINS) -> CalibrationReport:
    """Split, fit T on the calibration half, and measure before/after on the evaluation half."""
    z, y = _checked(logits, labels)
    split = split_test_set(len(y), seed)
    cal, ev = torch.as_tensor(split.calibration), torch.as_tensor(split.evaluation)
    fit = fit_temperature(z[cal], y[cal])
    grid = temperature_grid(fit.temperature)
    nll_curve, ece_curve = curves_over_temperature(z[ev], y[ev], grid, num_bins)
    return CalibrationReport(split, fit, evaluate(z[ev], y[ev], 1.0, num_bins),
                             evaluate(z[ev], y[ev], fit.temperature, num_bins), grid, nll_curve, ece_curve)  # fmt: skip


def logits_on_images(weight, bias, images) -> np.ndarray:
    """The scores ``X W + b`` of a stored model on uint8 images, (n, 10) float64 (pixels / 255 as in training)."""
    X = torch.as_tensor(images).reshape(len(images), -1).to(torch.float64) / 255.0
    return (X @ torch.as_tensor(weight, dtype=torch.float64) + torch.as_tensor(bias, dtype=torch.float64)).numpy()


def softmax_page_link(logits_row, temperature: float, label_set: str = "fashion", digits: int = 3) -> str:
    """``/softmax_temperature?...``: one image's logits and a temperature on the softmax page.

    The logits are rounded to ``digits`` decimals and T is clamped to the page's
    range; the page snaps T to the nearest stop of its slider.
    """
    rounded = [max(-MAX_ABS_LOGIT, min(MAX_ABS_LOGIT, round(float(v), digits))) for v in logits_row]
    t = min(max(float(temperature), SOFTMAX_PAGE_T_RANGE[0]), SOFTMAX_PAGE_T_RANGE[1])
    query = {"sm_preset": "custom", "sm_labels": label_set, "sm_logits": format_logits(rounded), "sm_T": f"{t:.3g}"}
    return "/softmax_temperature?" + urlencode(query)
