"""The editable table: text in, checked tensors and student-readable problems out."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from softmax_core import prediction_table as table

pytestmark = pytest.mark.unit

ROWS = (("0.1", "0.3", "0.6"), ("0.3", "0.2", "0.5"))
LABELS = ("0", "2")


def kinds(checked):
    return [p.kind for p in checked.problems]


def test_chapter_example_gives_tensors_and_no_problems():
    checked = table.check_table(ROWS, LABELS)
    assert checked.ok and checked.problems == ()
    torch.testing.assert_close(checked.y_hat, torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]]))
    assert checked.y.dtype == torch.int64 and checked.y.tolist() == [0, 2]
    # The tensors feed torch directly: nll_loss on log y_hat gives the chapter's 2.3026 and 0.6931.
    losses = F.nll_loss(torch.log(checked.y_hat), checked.y, reduction="none")
    torch.testing.assert_close(losses, torch.tensor([2.3026, 0.6931]), atol=5e-5, rtol=0)


@pytest.mark.parametrize("text, value", [("0.25", 0.25), (" 1/4 ", 0.25), ("2.5e-1", 0.25), ("1", 1.0), ("-0.5", -0.5)])
def test_parse_number_accepts_decimals_and_fractions(text, value):
    assert table.parse_number(text) == value


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "empty"),
        ("abc", "`abc` is not a number"),
        ("0,5", "with a dot: `0.5`"),
        ("inf", "not a finite"),
        ("nan", "not a finite"),
        ("1/0", "not a number"),
    ],
)
def test_parse_number_explains_bad_text(text, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(".", r"\.")):
        table.parse_number(text)


@pytest.mark.parametrize(
    "rows, labels, kind, blocking, in_message",
    [
        ((), (), "empty_table", True, "The table is empty"),
        ((("0.1", "abc", "0.6"),), ("0",), "not_a_number", True, "Row 0, class 1: `abc` is not a number"),
        ((("0.1", "", "0.6"),), ("0",), "empty_cell", True, "Row 0, class 1 is empty"),
        ((("0.5", "0.5"),), ("",), "empty_label", True, "Row 0 has no label"),
        ((("0.5", "0.5"),), ("one",), "label_not_a_number", True, "`one` is not a number"),
        ((("0.5", "0.5"),), ("0.5",), "label_not_whole", True, "not a whole number"),
        ((("0.5", "0.5"),), ("2",), "label_out_of_range", True, "`y_hat[0, 2]` does not exist"),
        ((("0.5", "0.5"),), ("-1",), "label_out_of_range", True, "0, …, 1"),
        ((("-0.2", "1.2"),), ("0",), "negative", True, "cannot be negative"),
        ((("0", "0"),), ("0",), "zero_row", True, "all zeros"),
        ((("0.5", "1.5"),), ("0",), "above_one", True, "at most 1"),
        ((("0.3", "0.3", "0.3"),), ("0",), "row_sum", False, "sums to 0.9, not 1"),
        ((("0", "1"),), ("0",), "zero_true_class", False, r"$-\log 0 = \infty$"),
    ],
)
def test_each_bad_input_is_named_in_words(rows, labels, kind, blocking, in_message):
    checked = table.check_table(rows, labels)
    problem = next(p for p in checked.problems if p.kind == kind)
    assert problem.blocking is blocking
    assert in_message in problem.message
    assert checked.ok is not blocking
    if not blocking:  # the loss still runs on what was typed
        assert checked.y_hat.shape == (1, len(rows[0]))


def test_every_problem_is_listed_at_once():
    checked = table.check_table((("x", "0.5", "0.5"), ("0.2", "0.2", "0.2")), ("0", "7"))
    assert kinds(checked) == ["not_a_number", "label_out_of_range", "row_sum"]
    assert [p.row for p in checked.problems] == [0, 1, 1]


def test_normalise_is_offered_only_where_it_helps():
    assert table.check_table((("0.3", "0.3", "0.3"),), ("0",)).fixes == {table.NORMALISE}
    assert table.check_table((("0.5", "1.5"),), ("0",)).fixes == {table.NORMALISE}
    assert table.check_table((("-0.5", "1.5"),), ("0",)).fixes == set()
    assert table.check_table((("0", "0"),), ("0",)).fixes == set()
    assert table.check_table(ROWS, LABELS).fixes == set()


def test_sums_within_tolerance_pass():
    assert table.check_table((("0.333", "0.333", "0.334"), ("1/3", "1/3", "1/3")), ("0", "1")).problems == ()


def test_zero_true_class_gives_infinite_loss_in_torch_too():
    checked = table.check_table((("0", "1"),), ("0",))
    assert F.nll_loss(torch.log(checked.y_hat), checked.y).item() == math.inf


def test_too_large_tables_are_refused():
    big = tuple(("0.5", "0.5") for _ in range(table.MAX_ROWS + 1))
    assert "too_many_rows" in kinds(table.check_table(big, ("0",) * len(big)))
    wide = (tuple(["0.05"] * 20),)
    assert "too_many_classes" in kinds(table.check_table(wide, ("0",)))


def test_normalise_rows_divides_by_the_sum_and_leaves_hopeless_rows():
    out = table.normalise_rows((("1", "1", "2"), ("0.3", "0.3", "0.3"), ("x", "1"), ("0", "0"), ("-1", "2")))
    assert out[0] == ("0.25", "0.25", "0.5")
    assert out[1] == ("0.333333", "0.333333", "0.333333")
    assert out[2:] == (("x", "1"), ("0", "0"), ("-1", "2"))
    assert table.check_table(out[:2], ("0", "1")).problems == ()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(0, 100, allow_nan=False), min_size=2, max_size=6).filter(lambda r: sum(r) > 1e-3),
        min_size=1,
        max_size=5,
    ).filter(lambda rows: len({len(r) for r in rows}) == 1)
)
def test_normalised_rows_are_distributions_with_the_same_proportions(rows):
    text = tuple(tuple(repr(v) for v in row) for row in rows)
    out = table.normalise_rows(text)
    checked = table.check_table(out, ("0",) * len(rows))
    assert checked.ok and "row_sum" not in kinds(checked)
    expected = torch.tensor(rows, dtype=torch.float64)
    expected = expected / expected.sum(1, keepdim=True)
    torch.testing.assert_close(checked.y_hat.double(), expected, atol=1e-5, rtol=0)


def test_add_and_remove_class():
    wider = table.add_class(ROWS)
    assert wider == (("0.1", "0.3", "0.6", "0"), ("0.3", "0.2", "0.5", "0"))
    assert table.check_table(wider, LABELS).problems == ()  # still distributions
    assert table.remove_class(wider) == ROWS
    narrower = table.remove_class(ROWS)
    assert narrower == (("0.1", "0.3"), ("0.3", "0.2"))
    checked = table.check_table(narrower, LABELS)  # rows no longer sum to 1, label 2 no longer exists
    assert kinds(checked) == ["label_out_of_range", "row_sum", "row_sum"]


def test_url_text_round_trip_of_the_chapter_example():
    assert table.rows_to_text(ROWS) == "0.1,0.3,0.6;0.3,0.2,0.5"
    assert table.labels_to_text(LABELS) == "0,2"
    assert table.text_to_rows("0.1,0.3,0.6;0.3,0.2,0.5") == ROWS
    assert table.text_to_labels("0,2") == LABELS
    assert table.text_to_rows("") == () and table.text_to_labels("") == ()


cell_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=6).map(str.strip)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(cell_text, min_size=1, max_size=4), min_size=1, max_size=4), st.lists(cell_text, max_size=4))
def test_any_typed_text_survives_the_url(rows, labels):
    """A typed '0,5' or 'a;b' must stay one cell, so a shared link shows the same (bad) table."""
    rows = tuple(tuple(r) for r in rows)
    labels = tuple(labels)
    if rows == (("",),):  # a single empty cell is written as an empty table
        return
    assert table.text_to_rows(table.rows_to_text(rows)) == rows
    if labels and labels != ("",):
        assert table.text_to_labels(table.labels_to_text(labels)) == labels


def test_links_that_would_build_huge_tables_are_refused():
    with pytest.raises(ValueError, match="too large"):
        table.text_to_rows(";".join(["0.5,0.5"] * 100))


def test_frame_round_trip_and_padding():
    frame = table.to_frame(ROWS, LABELS)
    assert list(frame.columns) == ["class 0", "class 1", "class 2", "y"]
    assert table.from_frame(frame) == (ROWS, LABELS)
    ragged = table.to_frame((("0.5", "0.5"), ("1",)), ("0",))
    assert table.from_frame(ragged) == ((("0.5", "0.5"), ("1", "")), ("0", ""))
    empty = table.to_frame((), (), min_classes=3)
    assert list(empty.columns) == ["class 0", "class 1", "class 2", "y"] and len(empty) == 0


def test_from_frame_reads_what_the_editor_returns():
    """New rows arrive with None; numbers may arrive as floats."""
    import pandas as pd

    frame = pd.DataFrame(
        {"class 0": ["0.5", None, 1.0], "class 1": ["0.5", "0.2", float("nan")], "y": ["1", None, 0.0]}
    )
    assert table.from_frame(frame) == ((("0.5", "0.5"), ("", "0.2"), ("1", "")), ("1", "", "0"))
