r"""Why softmax subtracts the maximum: the naive formula next to the stable ones.

.. math::
    \frac{\exp(z_j)}{\sum_k \exp(z_k)}
    = \frac{\exp(z_j - \bar z)\,\exp(\bar z)}{\sum_k \exp(z_k - \bar z)\,\exp(\bar z)}
    = \frac{\exp(z_j - \bar z)}{\sum_k \exp(z_k - \bar z)}, \qquad \bar z = \max_k z_k

The factor :math:`\exp(\bar z)` cancels, so the shift changes nothing on paper.
In floating point it changes everything: ``exp`` overflows to inf once its
argument passes log(largest float) (88.7 in float32, 11.1 in float16), and
inf / inf is nan. After the shift every exponent is <= 0, every exp lies in
(0, 1] and the sum in [1, K]. Log-softmax, ``(z - max) - log sum exp(z - max)``,
also avoids ``log(0) = -inf`` when a small probability underflows to 0.

Everything here is computed in the chosen precision, as a model running in
that dtype would, and returned as plain numbers for a table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch

from softmax_core.validation import as_float_tensor, check_no_nan, check_temperature

DTYPES = {"float32": torch.float32, "float16": torch.float16}


def _numbers(t: torch.Tensor) -> tuple[float, ...]:
    return tuple(float(v) for v in t.reshape(-1))


def _all_finite(values) -> bool:
    return all(math.isfinite(v) for v in values)


def _is_distribution(values) -> bool:
    """Finite and summing to 1 (to float16 accuracy): 0/inf = 0 everywhere is finite but wrong."""
    return _all_finite(values) and abs(math.fsum(values) - 1.0) < 1e-2


@dataclass(frozen=True)
class StabilityReport:
    """Every intermediate of naive and max-shifted softmax for one logit vector in one dtype."""

    dtype: str
    temperature: float
    largest_float: float  # e.g. 65504 for float16
    overflow_at: float  # log(largest_float): exp(z) is inf for z above this
    scaled: tuple[float, ...]  # z = o / T
    naive_exp: tuple[float, ...]  # exp(z)
    naive_sum: float
    naive_softmax: tuple[float, ...]  # exp(z) / sum exp(z)
    shifted: tuple[float, ...]  # z - max z
    shifted_exp: tuple[float, ...]
    shifted_sum: float
    softmax: tuple[float, ...]  # exp(z - max) / sum exp(z - max)
    log_of_softmax: tuple[float, ...]  # log(softmax): -inf where a probability underflowed to 0
    log_softmax: tuple[float, ...]  # (z - max) - log sum exp(z - max)

    @property
    def scaled_ok(self) -> bool:
        return _all_finite(self.scaled)

    @property
    def naive_ok(self) -> bool:
        return _is_distribution(self.naive_softmax)

    @property
    def stable_ok(self) -> bool:
        return _is_distribution(self.softmax)

    @property
    def log_of_softmax_ok(self) -> bool:
        return _all_finite(self.log_of_softmax)

    @property
    def log_softmax_ok(self) -> bool:
        return _all_finite(self.log_softmax)

    def table(self, labels) -> pd.DataFrame:
        """One row per class plus a "sum" row, numbers as text so inf and nan read as such."""
        labels = list(labels)
        if len(labels) != len(self.scaled):
            raise ValueError(f"{len(labels)} labels for {len(self.scaled)} classes")
        columns = {
            "class": labels + ["sum"],
            "z = o/T": _cells(self.scaled),
            "exp(z)": _cells(self.naive_exp, self.naive_sum),
            "naive p": _cells(self.naive_softmax, math.fsum(self.naive_softmax)),
            "z − max z": _cells(self.shifted),
            "exp(z − max z)": _cells(self.shifted_exp, self.shifted_sum),
            "softmax p": _cells(self.softmax, math.fsum(self.softmax)),
            "log(softmax p)": _cells(self.log_of_softmax),
            "log-softmax": _cells(self.log_softmax),
        }
        return pd.DataFrame(columns)


def format_number(value: float) -> str:
    """5 significant digits (so 10010 and 10020 stay apart); inf, -inf and nan spelled out."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.5g}"


def _cells(values, total: float | None = None) -> list[str]:
    return [format_number(v) for v in values] + ["" if total is None else format_number(total)]


def compare_stability(logits, temperature: float = 1.0, dtype: str = "float32") -> StabilityReport:
    """Naive ``exp / sum`` against the max-shifted softmax and log-softmax, in ``dtype``.

    The logits are rounded to ``dtype`` first and divided by T in it, as in a
    model that runs in that precision.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    t = check_temperature(temperature)
    x = as_float_tensor(logits, "logits").to(torch.float64)
    if x.dim() != 1 or x.numel() == 0:
        raise ValueError(f"logits must be a flat, non-empty list, got shape {tuple(x.shape)}")
    check_no_nan(x, "logits")
    kind = DTYPES[dtype]
    z = x.to(kind) / t
    naive_exp = torch.exp(z)
    naive_sum = naive_exp.sum()
    shifted = z - z.max()
    shifted_exp = torch.exp(shifted)
    shifted_sum = shifted_exp.sum()
    probs = shifted_exp / shifted_sum
    largest = float(torch.finfo(kind).max)
    return StabilityReport(
        dtype=dtype,
        temperature=t,
        largest_float=largest,
        overflow_at=math.log(largest),
        scaled=_numbers(z),
        naive_exp=_numbers(naive_exp),
        naive_sum=float(naive_sum),
        naive_softmax=_numbers(naive_exp / naive_sum),
        shifted=_numbers(shifted),
        shifted_exp=_numbers(shifted_exp),
        shifted_sum=float(shifted_sum),
        softmax=_numbers(probs),
        log_of_softmax=_numbers(torch.log(probs)),
        log_softmax=_numbers(shifted - torch.log(shifted_sum)),
    )


def explain(report: StabilityReport) -> list[str]:
    """What happened in this report, in sentences a student can follow (Markdown)."""
    r = report
    z_max, z_min = max(r.scaled), min(r.scaled)
    lines = []
    if not r.scaled_ok:
        return [
            f"**o/T itself does not fit in {r.dtype}** (largest number {r.largest_float:,.0f}): dividing by "
            f"T = {r.temperature:g} already produced inf, before any exp. No rearranging of softmax can recover "
            "a logit that is lost; a larger T or a wider dtype is needed."
        ]
    if r.naive_ok:
        lines.append(
            f"**Naive exp/sum works here.** The largest exponent is z = {z_max:.5g}, below "
            f"log({r.largest_float:.4g}) ≈ {r.overflow_at:.2f}, where exp overflows in {r.dtype}."
        )
    elif z_max > r.overflow_at:
        lines.append(
            f"**Naive exp/sum fails.** exp(z) overflows to inf once z > log({r.largest_float:.4g}) ≈ "
            f"{r.overflow_at:.2f} in {r.dtype}; here z reaches {z_max:.5g}. The sum is then inf too, "
            "and inf / inf = nan (a finite exp divided by inf gives 0)."
        )
    elif math.isinf(r.naive_sum):
        lines.append(
            f"**Naive exp/sum fails.** Each exp(z) still fits in {r.dtype}, but their sum "
            f"passes {r.largest_float:.4g} and becomes inf, so every p = exp(z) / inf = 0."
        )
    else:
        lines.append(
            f"**Naive exp/sum fails.** Every z is so negative (at most {z_max:.5g}) that exp(z) underflows to 0 "
            "in this precision; the sum is 0 and 0 / 0 = nan."
        )
    lead = "Subtracting the max gives the same answer, safely" if r.naive_ok else "Subtracting the max fixes it"
    lines.append(
        f"**{lead}.** After z − max z every exponent is ≤ 0, so each exp lies in (0, 1] "
        f"(the top class gives exp(0) = 1) and the sum is {r.shifted_sum:.4g}, between 1 and q = {len(r.scaled)}. "
        "Nothing can overflow, and since exp(−max z) cancels between numerator and denominator the "
        "probabilities are mathematically unchanged."
    )
    if r.log_of_softmax_ok:
        gaps = [abs(a - b) for a, b in zip(r.log_of_softmax, r.log_softmax)]
        j = max(range(len(gaps)), key=gaps.__getitem__)
        eps = torch.finfo(DTYPES[r.dtype]).eps
        digits = round(-math.log10(eps))  # float16: 3, float32: 7
        lines.append(
            f"**log(softmax p) and log-softmax agree exactly** in {r.dtype}: no probability underflowed to 0."
            if gaps[j] == 0
            else f"**log(softmax p) and log-softmax differ by up to {gaps[j]:.2g}** ({r.log_of_softmax[j]:.{digits + 2}g} "
            f"against {r.log_softmax[j]:.{digits + 2}g}): {r.dtype} keeps about {digits} significant decimal digits "
            f"(spacing {eps:.2g} near 1), and the two routes round at different places (log(softmax p) rounds p "
            "first; log-softmax rounds z − max z and the log-sum), so they land on neighbouring numbers. Both stay "
            "finite: no probability underflowed to 0."
        )
    else:
        lines.append(
            f"**log(softmax p) hits −inf** where a probability underflowed to 0 (a gap of {z_max - z_min:.4g} "
            "in z is too much for this precision); **log-softmax** computes (z − max z) − log Σ exp(z − max z) "
            "without forming p, and stays finite. That is why cross-entropy is computed from logits."
        )
    return lines
