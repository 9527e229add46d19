"""Turn user input into tensors, or fail with a message a student understands.

Every public function in softmax_core goes through these helpers, so a bad
table cell or a wrong shape becomes one clear ``ValueError`` instead of
silent garbage or a torch traceback.
"""

from __future__ import annotations

import math
import re

import torch

SHORT_TEXT = 80  # characters of a user's text quoted in a message: a 10,000-character link stays one line


def shorten(text, limit: int = SHORT_TEXT) -> str:
    """User text for a message: one line (control characters become spaces), at most ``limit`` characters."""
    one_line = "".join(" " if ch.isspace() or not ch.isprintable() else ch for ch in str(text))
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


def code_span(text, limit: int = SHORT_TEXT) -> str:
    """User text inside a markdown message, as an inline code span: shown literally, never as markup.

    The fence is one backtick longer than the longest run of backticks inside, so a backtick in the
    text cannot close the span early (CommonMark's rule); the text is shortened to one line first.
    """
    content = shorten(text, limit)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", content)), default=0) + 1)
    if content.startswith("`") or content.endswith("`") or not content.strip():
        content = f" {content} "
    return f"{fence}{content}{fence}"


def quoted(text, limit: int = SHORT_TEXT) -> str:
    """“text”, shortened: how a message quotes what the student typed (plain text, never markup)."""
    return f"“{shorten(text, limit)}”"


def as_float_tensor(values, name: str = "input") -> torch.Tensor:
    """A floating tensor from a tensor, list or numpy array.

    Floating tensors keep their dtype (float16 / float64 matter for the
    numeric-stability lessons); integers and lists become float32.
    """
    try:
        tensor = torch.as_tensor(values)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be numbers, got {values!r}") from exc
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise ValueError(f"{name} must be real numbers, got dtype {tensor.dtype}")
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.get_default_dtype())
    return tensor


def as_labels(values, name: str = "y") -> torch.Tensor:
    """A 1-D int64 tensor of class labels; whole floats like 2.0 are accepted."""
    try:
        tensor = torch.as_tensor(values)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be whole numbers (class labels), got {values!r}") from exc
    if tensor.dtype == torch.bool or tensor.is_complex():
        raise ValueError(f"{name} must be whole numbers (class labels), got dtype {tensor.dtype}")
    if tensor.is_floating_point():
        if not torch.isfinite(tensor).all() or not torch.equal(tensor, tensor.round()):
            raise ValueError(f"{name} must be whole numbers (class labels), got {tensor.tolist()}")
    return tensor.to(torch.int64)


def check_labels_in_range(y: torch.Tensor, num_classes: int, name: str = "y") -> None:
    """Labels index classes 0..K-1; anything else would read past the row."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    bad = (y < 0) | (y >= num_classes)
    if bad.any():
        flat = y.reshape(-1)
        first = int(bad.reshape(-1).nonzero()[0, 0])
        raise ValueError(
            f"label {int(flat[first])} (at position {first}) is out of range: with {num_classes} classes "
            f"a label must be between 0 and {num_classes - 1}"
        )


def finite_number(value, name: str) -> float:
    """A plain finite float from a slider, a text box or a URL, or a ValueError naming it."""
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def positive_number(value, name: str) -> float:
    """A finite number greater than 0: a temperature, Huber's delta, a learning rate."""
    number = finite_number(value, name)
    if number <= 0:
        raise ValueError(f"{name} must be greater than 0, got {value!r}")
    return number


def check_temperature(temperature) -> float:
    """Temperature divides the logits, so it must be a finite positive number."""
    return positive_number(temperature, "temperature")


def check_no_nan(tensor: torch.Tensor, name: str) -> None:
    if torch.isnan(tensor).any():
        raise ValueError(f"{name} contain NaN (not a number); every entry must be a real number")


def check_probabilities(probs: torch.Tensor, name: str = "probabilities") -> None:
    """Probabilities live in [0, 1]; a logit passed by mistake is caught here."""
    check_no_nan(probs, name)
    if ((probs < 0) | (probs > 1)).any():
        lo, hi = float(probs.min()), float(probs.max())
        raise ValueError(
            f"{name} must lie between 0 and 1, got values from {lo:g} to {hi:g} "
            "(did you pass logits instead of softmax outputs?)"
        )


def check_dim(tensor: torch.Tensor, dim: int, name: str) -> None:
    if tensor.dim() == 0:
        raise ValueError(f"{name} must have at least one axis of classes, got a single number")
    if not -tensor.dim() <= dim < tensor.dim():
        raise ValueError(f"dim={dim} does not exist for {name} of shape {tuple(tensor.shape)}")
    if tensor.shape[dim] == 0:
        raise ValueError(f"{name} has no classes along dim={dim}")


def check_batch_and_labels(scores: torch.Tensor, y: torch.Tensor, name: str) -> None:
    """Scores are (n, K) and labels (n,): one label for each row."""
    if scores.dim() != 2:
        raise ValueError(f"{name} must be a table of shape (examples, classes), got shape {tuple(scores.shape)}")
    if y.dim() != 1:
        raise ValueError(f"y must be a flat list of labels, got shape {tuple(y.shape)}")
    if scores.shape[0] == 0:
        raise ValueError(f"{name} is empty: add at least one example (row)")
    if scores.shape[1] == 0:
        raise ValueError(f"{name} has no classes: add at least one column")
    if scores.shape[0] != y.shape[0]:
        raise ValueError(
            f"{name} has {scores.shape[0]} rows but y has {y.shape[0]} labels: every example needs exactly one label"
        )
    check_labels_in_range(y, scores.shape[1])
