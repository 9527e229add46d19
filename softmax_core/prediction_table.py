"""The editable table of predictions ``y_hat`` and labels ``y``, checked for a student.

The page's table holds *text*, exactly as typed (or as it came in a link), so a
cell like ``abc`` or ``0,5`` can be explained rather than silently dropped.
:func:`check_table` turns the text into tensors for the cross-entropy trace and
lists every problem in words, with the fix it offers (e.g. normalising rows)::

    rows   = (("0.1", "0.3", "0.6"), ("0.3", "0.2", "0.5"))   # y_hat, one row per example
    labels = ("0", "2")                                        # y, one per row
    checked = check_table(rows, labels)   # checked.y_hat, checked.y, checked.problems

Blocking problems (empty cells, non-numbers, a label outside 0..K-1) leave no
tensors; the others (a row not summing to 1, a true class with probability 0)
keep the tensors and explain what the numbers will then mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

import pandas as pd
import torch

from softmax_core.validation import code_span

Rows = tuple[tuple[str, ...], ...]
Labels = tuple[str, ...]

MAX_ROWS = 12  # examples: a table a class can read from the back row
MAX_CLASSES = 10  # Fashion-MNIST has ten
SUM_TOLERANCE = 1e-4  # 0.333 + 0.333 + 0.334 is fine; 0.3 + 0.3 + 0.3 is not
NORMALISE = "normalise"  # the one automatic fix on offer
FLOAT32_TINY = float(torch.finfo(torch.float32).tiny)  # smaller probabilities are rounded away in float32

LABEL_COLUMN = "y"


def class_column(j: int) -> str:
    return f"class {j}"


# ----------------------------------------------------------------------------- numbers


def parse_number(text: str) -> float:
    """A finite number from ``0.25``, ``2.5e-1`` or a fraction like ``1/4``; else ValueError in words.

    The message is markdown that quotes the cell as a code span (never as markup, cut to a readable length).
    A fraction is two floats divided (``Fraction("1e999999/1")`` would build a million-digit integer).
    """
    text = str(text).strip()
    if not text:
        raise ValueError("is empty")
    try:
        if "/" in text:
            numerator, denominator = text.split("/")
            value = float(numerator) / float(denominator)
        else:
            value = float(text)
    except (ValueError, ZeroDivisionError):
        hint = f" (write decimals with a dot: {code_span(text.replace(',', '.'))})" if "," in text else ""
        raise ValueError(f"{code_span(text)} is not a number{hint}") from None
    if not math.isfinite(value):
        raise ValueError(f"{code_span(text)} is not a finite number")
    return value


# ----------------------------------------------------------------------------- checking


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the table, said so a student can fix it."""

    kind: str  # short code for tests: empty_table, empty_cell, not_a_number, ...
    message: str  # markdown; the student's text appears only inside code spans (validation.code_span)
    blocking: bool  # True: no loss can be computed until it is fixed
    row: int | None = None
    fix: str | None = None  # NORMALISE when normalise_rows would repair it


@dataclass(frozen=True)
class CheckedTable:
    y_hat: torch.Tensor | None  # (n, K) float32 (float64 if float32 would lose a cell), None when blocked
    y: torch.Tensor | None  # (n,) int64
    problems: tuple[Problem, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.y_hat is not None

    @property
    def fixes(self) -> set[str]:
        return {p.fix for p in self.problems if p.fix}


def num_classes(rows: Rows) -> int:
    return max((len(row) for row in rows), default=0)


def check_table(rows: Rows, labels: Labels) -> CheckedTable:
    """Read every cell; collect all problems (not just the first) so the student sees them at once."""
    n, k = len(rows), num_classes(rows)
    if n == 0 or k == 0:
        msg = (
            "The table is empty: add at least one row (an example) with a probability for each class and its label `y`."
        )
        return CheckedTable(None, None, (Problem("empty_table", msg, True),))
    problems: list[Problem] = []
    if n > MAX_ROWS:
        problems.append(
            Problem(
                "too_many_rows",
                f"This page shows at most {MAX_ROWS} examples; the table has {n}. Remove some rows.",
                True,
            )
        )
    if k > MAX_CLASSES:
        problems.append(
            Problem("too_many_classes", f"This page shows at most {MAX_CLASSES} classes; the table has {k}.", True)
        )

    values: list[list[float | None]] = []
    for i, row in enumerate(rows):
        cells = list(row) + [""] * (k - len(row))
        parsed: list[float | None] = []
        for j, text in enumerate(cells):
            try:
                parsed.append(parse_number(text))
            except ValueError as exc:
                if str(text).strip():
                    problems.append(Problem("not_a_number", f"Row {i}, class {j}: {exc}.", True, row=i))
                else:
                    msg = f"Row {i}, class {j} is empty: type a probability such as `0.25` or `1/4`."
                    problems.append(Problem("empty_cell", msg, True, row=i))
                parsed.append(None)
        values.append(parsed)

    label_values = [_check_label(i, labels[i] if i < len(labels) else "", k, problems) for i in range(n)]

    for i, row in enumerate(values):
        if any(v is None for v in row):
            continue
        _check_row(i, row, label_values[i], problems)

    if any(p.blocking for p in problems):
        return CheckedTable(None, None, tuple(problems))
    dtype = torch.float32  # torch's default, as in the chapter
    lost = [(i, j, v) for i, row in enumerate(values) for j, v in enumerate(row) if 0 < v < FLOAT32_TINY]
    if lost:
        i, j, v = lost[0]
        dtype = torch.float64
        problems.append(
            Problem(
                "float64",
                f"Row {i}, class {j} is {v:g}, below float32's smallest normal number ({FLOAT32_TINY:.2g}): in torch's "
                f"default float32 it would lose its digits or round to 0 (and -log 0 is inf). So these steps run in "
                f"float64, where -log {v:g} = {-math.log(v):.4g}.",
                False,
                row=i,
            )
        )
    y_hat = torch.tensor(values, dtype=dtype)
    y = torch.tensor(label_values, dtype=torch.int64)
    return CheckedTable(y_hat, y, tuple(problems))


def _check_label(i: int, text: str, k: int, problems: list[Problem]) -> int | None:
    valid = f"with {k} classes a label is one of 0, …, {k - 1}" if k > 1 else "with 1 class the only label is 0"
    try:
        value = parse_number(text)
    except ValueError as exc:
        if str(text).strip():
            msg = f"Row {i}: the label {exc}; {valid} (the index of the true class)."
            problems.append(Problem("label_not_a_number", msg, True, row=i))
        else:
            msg = f"Row {i} has no label `y`: type the index of its true class ({valid})."
            problems.append(Problem("empty_label", msg, True, row=i))
        return None
    if value != int(value):
        problems.append(
            Problem(
                "label_not_whole",
                f"Row {i}: the label {code_span(f'y = {text}')} is not a whole number: a label is the index of the true class ({valid}).",
                True,
                row=i,
            )
        )
        return None
    label = int(value)
    if not 0 <= label < k:
        problems.append(
            Problem(
                "label_out_of_range",
                f"Row {i}: the label {code_span(f'y = {text}')} is out of range: {valid}, so "
                f"{code_span(f'y_hat[{i}, {text}]')} does not exist "
                "(torch would raise an IndexError).",
                True,
                row=i,
            )
        )
        return None
    return label


def _row_sum(row: list[float]) -> float:
    """The exact sum, or inf when it passes the largest float (1e308 + 1e308): fsum raises there."""
    try:
        return math.fsum(row)
    except OverflowError:
        return math.inf


def _check_row(i: int, row: list[float], label: int | None, problems: list[Problem]) -> None:
    total = _row_sum(row)
    negative = [j for j, v in enumerate(row) if v < 0]
    if negative:
        j = negative[0]
        problems.append(
            Problem("negative", f"Row {i}, class {j} is {row[j]:g}: a probability cannot be negative.", True, row=i)
        )
        return
    if total == 0:
        problems.append(
            Problem(
                "zero_row",
                f"Row {i} is all zeros: a probability distribution has to put its mass of 1 somewhere, and there is nothing to rescale.",
                True,
                row=i,
            )
        )
        return
    above = [j for j, v in enumerate(row) if v > 1]
    if above:
        j = above[0]
        total_text = f"{total:g}" if math.isfinite(total) else "more than the largest float, about 1.8e308"
        problems.append(
            Problem(
                "above_one",
                f"Row {i}, class {j} is {row[j]:g}: a probability is at most 1. Normalising divides the row by its sum ({total_text}).",
                True,
                row=i,
                fix=NORMALISE,
            )
        )
        return
    if abs(total - 1) > SUM_TOLERANCE:
        problems.append(
            Problem(
                "row_sum",
                f"Row {i} sums to {total:.4g}, not 1, so it is not a probability distribution. The loss still computes, "
                "but it is not a fair score: a row of all 1s would get loss 0 whatever the label. "
                f"Normalising divides each entry by {total:.4g}.",
                False,
                row=i,
                fix=NORMALISE,
            )
        )
    if label is not None and row[label] == 0:
        problems.append(
            Problem(
                "zero_true_class",
                f"Row {i} gives its true class `y = {label}` probability 0, so its loss is "
                r"$-\log 0 = \infty$ and the mean loss is $\infty$ too. The model was certain the right answer was "
                "impossible, and cross-entropy punishes that without limit. (A softmax never outputs exactly 0, "
                "which is one reason models produce logits.)",
                False,
                row=i,
            )
        )


# ----------------------------------------------------------------------------- fixes and edits


def _format(value: float) -> str:
    return f"{value:.6g}"


def normalise_rows(rows: Rows) -> Rows:
    """Divide each row by its sum, so it becomes a distribution; rows that cannot be rescaled stay as typed."""
    out = []
    for row in rows:
        try:
            values = [parse_number(text) for text in row]
        except ValueError:
            out.append(tuple(row))
            continue
        if not values or any(v < 0 for v in values) or max(values) == 0:
            out.append(tuple(row))
            continue
        largest = max(values)  # divide by the largest first: the sum of 1e308 and 1e308 would overflow
        scaled = [v / largest for v in values]
        total = math.fsum(scaled)
        out.append(tuple(_format(v / total) for v in scaled))
    return tuple(out)


def add_class(rows: Rows) -> Rows:
    """A new class with probability 0 in every row: the rows still sum to 1."""
    return tuple(tuple(row) + ("0",) for row in rows)


def remove_class(rows: Rows) -> Rows:
    """Drop the last class (rows then usually need normalising, labels may fall out of range)."""
    return tuple(tuple(row[:-1]) for row in rows)


# ----------------------------------------------------------------------------- URL text


def _cell_to_url(text: str) -> str:
    # Commas and semicolons separate cells and rows, so a typed "0,5" is escaped to stay one cell.
    return quote(text, safe="/.-+_~ ")


def rows_to_text(rows: Rows) -> str:
    """``((0.1, 0.3, 0.6), (0.3, 0.2, 0.5))`` -> ``0.1,0.3,0.6;0.3,0.2,0.5``."""
    return ";".join(",".join(_cell_to_url(c) for c in row) for row in rows)


def text_to_rows(text: str) -> Rows:
    """The inverse of :func:`rows_to_text`; any text is kept (cells are checked later, in words)."""
    if not text.strip():
        return ()
    rows = tuple(tuple(unquote(c).strip() for c in row.split(",")) for row in text.split(";"))
    if len(rows) > 4 * MAX_ROWS or num_classes(rows) > 4 * MAX_CLASSES:
        raise ValueError(f"the table is too large (at most {MAX_ROWS} rows and {MAX_CLASSES} classes)")
    return rows


def labels_to_text(labels: Labels) -> str:
    return ",".join(_cell_to_url(c) for c in labels)


def text_to_labels(text: str) -> Labels:
    if not text.strip():
        return ()
    labels = tuple(unquote(c).strip() for c in text.split(","))
    if len(labels) > 4 * MAX_ROWS:
        raise ValueError(f"too many labels (at most {MAX_ROWS})")
    return labels


# ----------------------------------------------------------------------------- the editor's frame


def to_frame(rows: Rows, labels: Labels, min_classes: int = 0) -> pd.DataFrame:
    """One row per example: columns ``class 0 .. class K-1`` and ``y``, all text, ragged rows padded.

    ``min_classes`` keeps the class columns of an empty table, so new rows can still be typed in.
    """
    k, n = max(num_classes(rows), min_classes), max(len(rows), len(labels))
    records = []
    for i in range(n):
        row = rows[i] if i < len(rows) else ()
        cells = {class_column(j): row[j] if j < len(row) else "" for j in range(k)}
        cells[LABEL_COLUMN] = labels[i] if i < len(labels) else ""
        records.append(cells)
    columns = [class_column(j) for j in range(k)] + [LABEL_COLUMN]
    return pd.DataFrame(records, columns=columns, dtype=object)


def _cell_text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value).strip()


def from_frame(frame: pd.DataFrame) -> tuple[Rows, Labels]:
    """The editor's returned frame back to text rows and labels (missing cells become empty text)."""
    class_columns = [c for c in frame.columns if c != LABEL_COLUMN]
    rows = tuple(
        tuple(_cell_text(v) for v in record) for record in frame[class_columns].itertuples(index=False, name=None)
    )
    labels = tuple(_cell_text(v) for v in frame[LABEL_COLUMN]) if LABEL_COLUMN in frame else ("",) * len(rows)
    return rows, labels
