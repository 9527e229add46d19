r"""Cross-entropy, as the chapter computes it and as torch does.

.. math::
    l(\mathbf{y}, \hat{\mathbf{y}}) = -\sum_j y_j \log \hat{y}_j = -\log \hat{y}_{y}

With a one-hot label the sum keeps one term, so the chapter picks it directly:
``-torch.log(y_hat[range(len(y_hat)), y])``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from softmax_core.softmax import log_softmax
from softmax_core.validation import (
    as_float_tensor,
    as_labels,
    check_batch_and_labels,
    check_labels_in_range,
    check_probabilities,
)


def one_hot(y, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Label ``k`` -> a row of ``num_classes`` zeros with a 1 at position ``k``."""
    labels = as_labels(y)
    check_labels_in_range(labels, int(num_classes))
    return torch.nn.functional.one_hot(labels, int(num_classes)).to(dtype)


def _probs_and_labels(y_hat, y) -> tuple[torch.Tensor, torch.Tensor]:
    probs = as_float_tensor(y_hat, "y_hat")
    labels = as_labels(y)
    check_batch_and_labels(probs, labels, "y_hat")
    check_probabilities(probs, "y_hat")
    return probs, labels


def pick_true_class(y_hat, y) -> torch.Tensor:
    """``y_hat[range(len(y_hat)), y]``: each row's probability of its true class."""
    probs, labels = _probs_and_labels(y_hat, y)
    return probs[torch.arange(len(probs)), labels]


def cross_entropy(y_hat, y) -> torch.Tensor:
    """Per-example loss from probabilities: ``-log(y_hat[range(n), y])``.

    A true-class probability of 0 gives ``inf``: the model was certain of
    something wrong, and log(0) is minus infinity.
    """
    return -torch.log(pick_true_class(y_hat, y))


def cross_entropy_from_logits(logits, y) -> torch.Tensor:
    """Per-example loss from logits via log-softmax (log-sum-exp), never inf for finite logits."""
    scores = as_float_tensor(logits, "logits")
    labels = as_labels(y)
    check_batch_and_labels(scores, labels, "logits")
    return -log_softmax(scores, dim=1)[torch.arange(len(scores)), labels]


@dataclass(frozen=True)
class CrossEntropyTrace:
    """Every intermediate of the chapter's cross-entropy, for the step-by-step page."""

    y_hat: torch.Tensor
    y: torch.Tensor
    index_pairs: list[tuple[int, int]]  # (i, y[i]): the cells that get picked
    picked: torch.Tensor  # y_hat[range(n), y]
    losses: torch.Tensor  # -log(picked), per example
    mean: float
    one_hot: torch.Tensor  # one_hot(y, K)
    one_hot_losses: torch.Tensor  # -(one_hot * log y_hat).sum(1): must equal losses


def cross_entropy_trace(y_hat, y) -> CrossEntropyTrace:
    """Run the chapter's cross-entropy one visible step at a time."""
    probs, labels = _probs_and_labels(y_hat, y)
    rows = torch.arange(len(probs))
    picked = probs[rows, labels]
    losses = -torch.log(picked)
    encoded = one_hot(labels, probs.shape[1], dtype=probs.dtype)
    # xlogy gives 0 * log 0 = 0, so a zero in a wrong class does not poison the sum.
    one_hot_losses = -torch.special.xlogy(encoded, probs).sum(1)
    return CrossEntropyTrace(
        y_hat=probs,
        y=labels,
        index_pairs=[(int(i), int(k)) for i, k in zip(rows, labels)],
        picked=picked,
        losses=losses,
        mean=float(losses.mean()),
        one_hot=encoded,
        one_hot_losses=one_hot_losses,
    )


@dataclass(frozen=True)
class LogitsTrace:
    """The stable route from logits: shift by the max, log-sum-exp, pick, negate."""

    logits: torch.Tensor
    y: torch.Tensor
    row_max: torch.Tensor  # max_j o_j per row
    log_sum_exp: torch.Tensor  # max + log sum exp(o - max)
    log_probs: torch.Tensor  # o - logsumexp(o)
    losses: torch.Tensor  # -log_probs[range(n), y]
    mean: float


def logits_trace(logits, y) -> LogitsTrace:
    r"""Cross-entropy from logits: :math:`-o_y + \max o + \log\sum_j e^{o_j - \max o}`."""
    scores = as_float_tensor(logits, "logits")
    labels = as_labels(y)
    check_batch_and_labels(scores, labels, "logits")
    row_max = scores.amax(1)
    lse = row_max + torch.log(torch.exp(scores - row_max[:, None]).sum(1))
    log_probs = scores - lse[:, None]
    losses = -log_probs[torch.arange(len(scores)), labels]
    return LogitsTrace(scores, labels, row_max, lse, log_probs, losses, float(losses.mean()))


# ---------------------------------------------------------------- the lines the step-by-step page prints

Session = tuple[tuple[str, str], ...]  # (a line of torch, what it printed; "" for a statement)


def _literal(values: torch.Tensor) -> str:
    """A tensor's values as a Python list, each to 6 significant digits (what a person would type)."""
    return repr([[float(f"{v:.6g}") for v in row] for row in values.tolist()])


def _dtype_suffix(dtype: torch.dtype) -> str:
    return "" if dtype == torch.float32 else f", dtype={dtype}"


def one_hot_code(y_hat: torch.Tensor, num_classes: int) -> str:
    """The one-hot line as written for this table's precision.

    ``F.one_hot`` gives int64; the chapter's ``.float()`` makes it float32. A table kept in float64
    (a probability float32 would round to 0) needs the one-hot in float64 too, so the line says so.
    """
    cast = ".float()" if y_hat.dtype == torch.float32 else ".to(y_hat.dtype)"
    return f"F.one_hot(y, {num_classes}){cast}"


def torch_session(step: int, trace: CrossEntropyTrace, logits: LogitsTrace) -> Session:
    """The lines of torch step ``step`` (1 to 5) shows and what each prints: run them in order in a
    Python session (``import torch; import torch.nn.functional as F``) and every output is the same."""
    k = trace.y_hat.shape[1]
    if step == 1:
        return (
            (f"y = torch.tensor({trace.y.tolist()})", ""),
            (f"y_hat = torch.tensor({_literal(trace.y_hat)}{_dtype_suffix(trace.y_hat.dtype)})", ""),
            ("list(zip(range(len(y_hat)), y.tolist()))", repr(trace.index_pairs)),
        )
    if step == 2:
        return (("y_hat[range(len(y_hat)), y]", str(trace.picked)),)
    if step == 3:
        return (("-torch.log(y_hat[range(len(y_hat)), y])", str(trace.losses)),)
    if step == 4:
        encoded = one_hot_code(trace.y_hat, k)
        return (
            ("l = -torch.log(y_hat[range(len(y_hat)), y])", ""),
            ("l.mean()", str(trace.losses.mean())),
            (encoded, str(trace.one_hot)),
            (f"-torch.special.xlogy({encoded}, y_hat).sum(1)", str(trace.one_hot_losses)),
        )
    if step == 5:
        o, y = logits.logits, logits.y
        return (
            ("o = torch.log(y_hat)", ""),
            ("o", str(o)),
            ("m = o.amax(1)", ""),
            ("m", str(logits.row_max)),
            ("o - m[:, None]", str(o - logits.row_max[:, None])),
            ("lse = m + torch.log(torch.exp(o - m[:, None]).sum(1))", ""),
            ("lse", str(logits.log_sum_exp)),
            ("-(o - lse[:, None])[range(len(o)), y]", str(logits.losses)),
            ("F.cross_entropy(o, y, reduction='none')", str(torch.nn.functional.cross_entropy(o, y, reduction="none"))),
            ("F.cross_entropy(o, y)", str(torch.nn.functional.cross_entropy(o, y))),
        )
    raise ValueError(f"step must be 1 to 5, not {step}")
