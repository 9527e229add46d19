r"""Softmax and what it says about a prediction.

.. math::
    \mathrm{softmax}(\mathbf{o}/T)_j = \frac{\exp(o_j/T)}{\sum_k \exp(o_k/T)}

Temperature ``T`` sharpens (T < 1) or flattens (T > 1) the distribution:
T -> 0 gives the one-hot argmax (hardmax) when one logit is largest (tied largest logits share
the mass equally), T -> infinity the uniform one.
"""

from __future__ import annotations

import math

import torch

from softmax_core.validation import (
    as_float_tensor,
    check_dim,
    check_no_nan,
    check_probabilities,
    check_temperature,
)


def _scaled_logits(logits, temperature, dim: int) -> torch.Tensor:
    x = as_float_tensor(logits, "logits")
    check_dim(x, dim, "logits")
    check_no_nan(x, "logits")
    if torch.isposinf(x).any():
        raise ValueError("logits contain +inf; use large finite numbers instead")
    return x / check_temperature(temperature)


def naive_softmax(logits, temperature: float = 1.0, dim: int = -1) -> torch.Tensor:
    """The chapter's ``exp(X) / exp(X).sum(1, keepdim=True)``, kept to show overflow.

    For logits like 1000 ``exp`` overflows to inf and inf / inf is nan; compare
    :func:`softmax`, which subtracts the maximum first.
    """
    z = _scaled_logits(logits, temperature, dim)
    exp = torch.exp(z)
    return exp / exp.sum(dim, keepdim=True)


def softmax(logits, temperature: float = 1.0, dim: int = -1) -> torch.Tensor:
    """Numerically stable softmax: ``exp(z - max z) / sum exp(z - max z)``.

    Subtracting the maximum changes nothing mathematically (the factor
    ``exp(-max)`` cancels) but keeps every exponent <= 0, so nothing overflows.
    """
    z = _scaled_logits(logits, temperature, dim)
    exp = torch.exp(z - z.amax(dim, keepdim=True))
    return exp / exp.sum(dim, keepdim=True)


def log_softmax(logits, temperature: float = 1.0, dim: int = -1) -> torch.Tensor:
    """``z - logsumexp(z)`` with the max shift, finite where ``log(softmax)`` gives -inf."""
    z = _scaled_logits(logits, temperature, dim)
    shifted = z - z.amax(dim, keepdim=True)
    return shifted - torch.log(torch.exp(shifted).sum(dim, keepdim=True))


def _probabilities(probs, dim: int) -> torch.Tensor:
    p = as_float_tensor(probs, "probabilities")
    check_dim(p, dim, "probabilities")
    check_probabilities(p)
    return p


def entropy(probs, dim: int = -1) -> torch.Tensor:
    r"""Shannon entropy :math:`H(p) = -\sum_j p_j \log p_j` in nats (0 log 0 = 0).

    It runs from 0 (one class certain) to log K (uniform over K classes).
    """
    p = _probabilities(probs, dim)
    return -torch.special.xlogy(p, p).sum(dim)


def max_entropy(num_classes: int) -> float:
    """log K, the entropy of the uniform distribution: the scale for relative entropy."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    return math.log(num_classes)


def confidence(probs, dim: int = -1) -> torch.Tensor:
    """The largest probability: how sure the model is of its top class."""
    return _probabilities(probs, dim).amax(dim)


def margin(probs, dim: int = -1) -> torch.Tensor:
    """Top-1 minus top-2 probability: how clearly the winner beats the runner-up."""
    p = _probabilities(probs, dim)
    if p.shape[dim] < 2:
        raise ValueError("the margin needs at least two classes")
    top2 = p.topk(2, dim=dim).values
    return top2.select(dim, 0) - top2.select(dim, 1)


def hardmax(logits, dim: int = -1) -> torch.Tensor:
    """One-hot of the argmax (first index on ties): the hard decision, and the T -> 0 limit without ties."""
    x = as_float_tensor(logits, "logits")
    check_dim(x, dim, "logits")
    check_no_nan(x, "logits")
    index = x.argmax(dim, keepdim=True)
    return torch.zeros_like(x).scatter_(dim, index, 1.0)


def zero_temperature_limit(logits, dim: int = -1) -> torch.Tensor:
    """The limit of softmax(o / T) as T -> 0: 1/m on each of the m tied largest logits, 0 elsewhere.

    Every ratio p_i / p_j = exp((o_i - o_j) / T) of two tied maxima stays 1, so ties never become one-hot.
    """
    x = as_float_tensor(logits, "logits")
    check_dim(x, dim, "logits")
    check_no_nan(x, "logits")
    top = (x == x.amax(dim, keepdim=True)).to(x.dtype)
    return top / top.sum(dim, keepdim=True)
