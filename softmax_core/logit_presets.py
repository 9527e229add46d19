"""Logit vectors worth showing a class, their class names, and their text form.

A logit vector travels as text (``"1, 2, 3"``): it is what the lecturer types,
what the link carries, and what :func:`parse_logits` turns into numbers or into
one message a student understands.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from softmax_core.classes import FASHION_MNIST_CLASSES
from softmax_core.validation import quoted

MAX_CLASSES = 10
MAX_ABS_LOGIT = 10_000.0  # exp(1000) already overflows float64; beyond this nothing new happens


# name -> (menu text, class names); classes beyond the names are called "class j"
LABEL_SETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "animals": ("cat, chicken, dog (the chapter's)", ("cat", "chicken", "dog")),
    "fashion": ("Fashion-MNIST classes", FASHION_MNIST_CLASSES),
    "numbers": ("class 0, class 1, …", ()),
}


@dataclass(frozen=True)
class LogitPreset:
    title: str
    logits: tuple[float, ...]
    labels: str  # a key of LABEL_SETS
    lesson: str  # what to look at


PRESETS: dict[str, LogitPreset] = {
    "chapter": LogitPreset(
        "Small logits: 1, 2, 3",
        (1.0, 2.0, 3.0),
        "animals",
        "Bigger logit, bigger share, but no class gets everything at T = 1. (d2l 3.6 uses [[1, 2, 3], [4, 5, 6]] "
        "to show X.sum(0) and X.sum(1), then feeds a random 2×5 normal matrix to softmax: each row sums to 1.)",
    ),
    "tied": LogitPreset(
        "Nearly tied logits",
        (2.0, 2.1, 1.95, 2.05),
        "numbers",
        "Four almost equal scores: the prediction is close to uniform; only a very low T picks a clear winner.",
    ),
    "dominant": LogitPreset(
        "One dominant class",
        (0.5, 8.0, 1.0, -1.0, 0.0),
        "numbers",
        "One logit far above the rest: near-certain at T = 1; it takes a high T to spread the mass.",
    ),
    "large": LogitPreset(
        "Very large logits: 1000, 1001, 1002",
        (1000.0, 1001.0, 1002.0),
        "animals",
        "Same gaps as the chapter example, so the same probabilities; but exp(1000) overflows: "
        "see the numeric-stability panel.",
    ),
    "fashion": LogitPreset(
        "Fashion-MNIST: a shirt-like image",
        (2.1, -2.5, 1.9, 0.4, 1.6, -3.8, 2.4, -3.1, -0.2, -3.6),
        "fashion",
        "Made-up scores of the kind a linear model gives a shirt: Shirt, T-shirt/top, Pullover and Coat "
        "compete, shoes and trousers are out of the running.",
    ),
}


def class_labels(label_set: str, num_classes: int) -> tuple[str, ...]:
    """Names for ``num_classes`` classes; past the set's names, "class j"."""
    if label_set not in LABEL_SETS:
        raise ValueError(f"unknown label set {label_set!r}; choose one of {', '.join(LABEL_SETS)}")
    names = LABEL_SETS[label_set][1]
    return tuple(names[j] if j < len(names) else f"class {j}" for j in range(num_classes))


def format_logits(logits) -> str:
    """``(1.0, 2.0, 0.5)`` -> ``"1, 2, 0.5"``: short, and parses back to the same floats."""
    parts = []
    for value in logits:
        short = f"{float(value):g}"
        parts.append(short if float(short) == float(value) else repr(float(value)))
    return ", ".join(parts)


def parse_logits(text: str) -> tuple[float, ...]:
    """Comma- (or space-) separated logits -> floats, or a ValueError saying what to fix."""
    example = "e.g. 1, 2, 3"
    stripped = (text or "").strip().rstrip(",;").strip()
    if not stripped:
        raise ValueError(f"The logits are empty: type at least two numbers separated by commas, {example}.")
    parts = re.split(r"\s*[,;]\s*|\s+", stripped)
    values = []
    for position, part in enumerate(parts, start=1):
        if part == "":
            raise ValueError(f"Entry {position} is empty: remove the extra comma or type a number there.")
        try:
            value = float(part)
        except ValueError:
            raise ValueError(
                f"Entry {position}, {quoted(part)}, is not a number: logits are real numbers, {example}."
            ) from None
        if math.isnan(value):
            raise ValueError(f"Entry {position} is NaN (not a number): every logit must be a real number.")
        if not abs(value) <= MAX_ABS_LOGIT:
            raise ValueError(
                f"Entry {position} ({quoted(part)}) is too large: keep logits between -{MAX_ABS_LOGIT:,.0f} and "
                f"{MAX_ABS_LOGIT:,.0f} (exp already overflows at 1000)."
            )
        values.append(value)
    if len(values) > MAX_CLASSES:
        raise ValueError(f"{len(values)} logits given: this page shows at most {MAX_CLASSES} classes.")
    if len(values) < 2:
        raise ValueError(f"Only one logit: softmax needs at least two classes to compare, {example}.")
    return tuple(values)


def _cell(value):
    """A number stays a float; text (a text column, read later by parse_logits) stays text; empty is None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return value.strip() or None
    return float(value)


def apply_table_edits(base, edits, column: str = "logit") -> list[float | str | None]:
    """The logit cells after a table edit: ``edits`` is st.data_editor's state (edited, deleted, added rows).

    Cells still empty come back as None, so the caller can wait for a number instead of failing.
    Text cells stay text, so ``1e308`` reaches :func:`parse_logits` as typed (a number editor would
    have turned it into 1308).
    """
    values = [_cell(v) for v in base]
    for row, change in (edits.get("edited_rows") or {}).items():
        if column in change:
            values[int(row)] = change[column]
    deleted = {int(row) for row in edits.get("deleted_rows") or []}
    values = [v for i, v in enumerate(values) if i not in deleted]
    values += [row.get(column) for row in edits.get("added_rows") or []]
    return [_cell(v) for v in values]
