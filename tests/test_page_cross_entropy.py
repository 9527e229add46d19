"""AppTest of "Cross-entropy, step by step": values on the page, stepping, bad input, the URL."""

import json

import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from tests.apptest_helpers import page_test
from tests.conftest import ROOT
from tests.link import link, share_link

PAGE = str(ROOT / "pages" / "cross_entropy_steps.py")
pytestmark = [pytest.mark.app, pytest.mark.usefixtures("clear_streamlit_caches")]  # each test starts with cold caches
STEP_TITLES = {1: "Pick the cells", 2: "Read them out", 3: "Take −log", 4: "Average", 5: "From logits"}


def run(query: dict | None = None) -> AppTest:
    at = page_test(PAGE, query).run()
    assert not at.exception, at.exception
    return at


def code(at) -> str:
    return "\n".join(block.value for block in at.code)


def messages(at) -> str:
    return "\n".join(m.value for m in [*at.error, *at.warning, *at.info])


def edit(at, state: dict) -> AppTest:
    """Apply an edit the way the browser's data editor reports it (edited/added/deleted rows)."""
    key = at.data_editor[0].key
    at.session_state[key] = {"edited_rows": {}, "added_rows": [], "deleted_rows": [], **state}
    at.run()
    assert not at.exception, at.exception
    return at


# ----------------------------------------------------------------------------- the chapter's example


def test_default_is_the_chapter_example_on_step_one():
    at = run()
    assert at.title[0].value == "Cross-entropy, step by step"
    frame = at.data_editor[0].value
    assert frame.values.tolist() == [["0.1", "0.3", "0.6", "0"], ["0.3", "0.2", "0.5", "2"]]
    assert at.radio(key="step").value == 1 and at.toggle(key="all").value is False
    text = code(at)
    assert ">>> y = torch.tensor([0, 2])" in text
    assert "y_hat = torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])" in text
    assert "[(0, 0), (1, 2)]" in text
    assert len(at.get("plotly_chart")) == 1
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
    assert heat["text"][0][0] == "<b>0.10</b>" and heat["text"][1][2] == "<b>0.50</b>"
    assert not at.error and not at.warning
    assert link(at) == {}  # defaults keep the link short


@pytest.mark.parametrize(
    "step, expected",
    [
        (2, [">>> y_hat[range(len(y_hat)), y]\ntensor([0.1000, 0.5000])"]),
        (3, [">>> -torch.log(y_hat[range(len(y_hat)), y])\ntensor([2.3026, 0.6931])"]),
        (
            4,
            [
                ">>> l.mean()\ntensor(1.4979)",
                "tensor([[1., 0., 0.],\n        [0., 0., 1.]])",
                ".sum(1)\ntensor([2.3026, 0.6931])",
            ],
        ),
        (
            5,
            [
                ">>> F.cross_entropy(o, y, reduction='none')\ntensor([2.3026, 0.6931])",
                ">>> F.cross_entropy(o, y)\ntensor(1.4979)",
                ">>> -(o - lse[:, None])[range(len(o)), y]\ntensor([2.3026, 0.6931])",
                ">>> m\ntensor([-0.5108, -0.6931])",
            ],
        ),
    ],
)
def test_each_step_shows_its_line_and_the_chapter_values(step, expected):
    at = run()
    at.radio(key="step").set_value(step).run()
    assert not at.exception
    text = code(at)
    for snippet in expected:
        assert snippet in text
    assert link(at)["step"] == f"{step}. {STEP_TITLES[step]}"  # the binding's link holds the label on screen


def test_the_printed_values_are_torchs():
    """The outputs are real tensor printouts: the same strings torch prints for the reference calls."""
    y_hat = torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    y = torch.tensor([0, 2])
    at = run({"all": "1"})
    text = code(at)
    assert str(-F.nll_loss(y_hat, y, reduction="none")) in text  # picked probabilities
    assert str(F.nll_loss(torch.log(y_hat), y, reduction="none")) in text
    assert str(F.cross_entropy(torch.log(y_hat), y)) in text
    assert str(torch.log(y_hat)) in text


def test_show_all_renders_every_step_with_figures_and_the_side_by_side_table():
    at = run()
    at.toggle(key="all").set_value(True).run()
    assert not at.exception
    assert [h.value for h in at.subheader][1:] == [
        "1. Pick the cells",
        "2. Read them out",
        "3. Take −log",
        "4. Average",
        "5. From logits",
    ]
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(specs) == 3  # heatmap, -log curve, loss bars
    bars = specs[2]["data"][0]
    assert bars["text"] == ["2.3026", "0.6931"]
    table = next(d for d in at.dataframe if d.editing_mode == "read_only").value
    assert table["torch"].round(4).tolist() == [2.3026, 0.6931]
    assert table["ours"].round(4).tolist() == [2.3026, 0.6931]
    assert table["max"].round(4).tolist() == [-0.5108, -0.6931]
    assert link(at)["all"] == "true"
    assert at.button(key="ce_next").disabled and at.button(key="ce_prev").disabled


# ----------------------------------------------------------------------------- stepping


def test_next_and_previous_step_and_stop_at_the_ends():
    at = run()
    assert at.button(key="ce_prev").disabled and not at.button(key="ce_next").disabled
    for expected in [2, 3, 4, 5]:
        at.button(key="ce_next").click().run()
        assert at.radio(key="step").value == expected
    assert at.button(key="ce_next").disabled
    assert at.subheader[-1].value == "5. From logits"
    at.button(key="ce_prev").click().run()
    assert at.radio(key="step").value == 4 and link(at)["step"] == "4. Average"
    assert "tensor(1.4979)" in code(at)


def test_reset_returns_to_the_chapter_example():
    at = run({"yhat": "0.5,0.5", "y": "1", "step": "4", "all": "1"})
    reset = next(b for b in at.button if "Reset" in b.label)
    reset.click().run()
    assert not at.exception
    assert at.data_editor[0].value.values.tolist() == [["0.1", "0.3", "0.6", "0"], ["0.3", "0.2", "0.5", "2"]]
    assert at.radio(key="step").value == 1 and at.toggle(key="all").value is False
    assert link(at) == {}


# ----------------------------------------------------------------------------- the URL


def test_link_restores_table_step_and_mode():
    at = run({"yhat": "0.7,0.2,0.1;0.1,0.1,0.8;1/3,1/3,1/3", "y": "1,2,0", "step": "3"})
    assert at.data_editor[0].value.values.tolist() == [
        ["0.7", "0.2", "0.1", "1"],
        ["0.1", "0.1", "0.8", "2"],
        ["1/3", "1/3", "1/3", "0"],
    ]
    assert at.radio(key="step").value == 3
    y_hat = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3]])
    expected = F.nll_loss(torch.log(y_hat), torch.tensor([1, 2, 0]), reduction="none")
    assert f">>> -torch.log(y_hat[range(len(y_hat)), y])\n{expected}" in code(at)
    assert not at.error and not at.warning
    # What was restored is what gets published: the link reproduces itself.
    assert at.query_params["yhat"] == "0.7,0.2,0.1;0.1,0.1,0.8;1/3,1/3,1/3"
    assert at.query_params["y"] == "1,2,0" and link(at)["step"] == "3. Take −log"
    shared = share_link(at)  # the "Share this view" popover
    assert "yhat=0.7%2C0.2%2C0.1%3B0.1%2C0.1%2C0.8%3B1%2F3%2C1%2F3%2C1%2F3" in shared and "step=3." in shared


def test_editing_the_table_writes_the_link():
    at = run()
    edit(at, {"edited_rows": {1: {"class 1": "0.1", "class 2": "0.6"}}})
    assert at.query_params["yhat"] == "0.1,0.3,0.6;0.3,0.1,0.6"
    assert "y" not in at.query_params
    at.radio(key="step").set_value(3).run()
    expected = F.nll_loss(
        torch.log(torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.1, 0.6]])), torch.tensor([0, 2]), reduction="none"
    )
    assert str(expected) in code(at)
    # The edit survives later reruns (the table lives in session state, not in the editor's delta).
    at.button(key="ce_next").click().run()
    assert at.query_params["yhat"] == "0.1,0.3,0.6;0.3,0.1,0.6"


def test_adding_and_deleting_rows_in_the_editor():
    at = run()
    edit(at, {"added_rows": [{"class 0": "0.2", "class 1": "0.2", "class 2": "0.6", "y": "1"}]})
    assert at.query_params["yhat"] == "0.1,0.3,0.6;0.3,0.2,0.5;0.2,0.2,0.6" and at.query_params["y"] == "0,2,1"
    assert "[(0, 0), (1, 2), (2, 1)]" in code(at)
    edit(at, {"added_rows": [{"class 0": "0.2", "class 1": "0.2", "class 2": "0.6", "y": "1"}], "deleted_rows": [0]})
    assert at.query_params["yhat"] == "0.3,0.2,0.5;0.2,0.2,0.6"
    assert "[(0, 2), (1, 1)]" in code(at)


def test_adding_and_removing_classes():
    at = run()
    at.button(key="ce_add_class").click().run()
    assert at.data_editor[0].value.columns.tolist() == ["class 0", "class 1", "class 2", "class 3", "y"]
    assert at.query_params["yhat"] == "0.1,0.3,0.6,0;0.3,0.2,0.5,0"
    assert not at.error and not at.warning  # a class with probability 0 keeps rows summing to 1
    at.button(key="ce_remove_class").click().run()
    at.button(key="ce_remove_class").click().run()
    assert not at.exception
    assert at.data_editor[0].value.columns.tolist() == ["class 0", "class 1", "y"]
    assert at.button(key="ce_remove_class").disabled  # two classes is the minimum
    text = messages(at)
    assert "label `y = 2` is out of range" in text and "sums to 0.4, not 1" in text
    assert "Fix the table on the left" in text


def test_extremes_max_rows_and_classes_and_last_step():
    k, n = 10, 12
    rows = ";".join(",".join(["0.1"] * k) for _ in range(n))
    labels = ",".join(str(i % k) for i in range(n))
    at = run({"yhat": rows, "y": labels, "step": "5"})
    assert not at.error and not at.warning
    assert at.button(key="ce_add_class").disabled
    expected = F.cross_entropy(torch.log(torch.full((n, k), 0.1)), torch.tensor([i % k for i in range(n)]))
    assert f">>> F.cross_entropy(o, y)\n{str(expected)}" in code(at)
    at.toggle(key="all").set_value(True).run()
    assert not at.exception and len(at.get("plotly_chart")) == 3


@pytest.mark.parametrize(
    "query, words",
    [
        ({"step": "9"}, "Link parameter `step=9` was ignored"),
        ({"all": "yes"}, "Link parameter `all=yes` was ignored"),
        ({"yhat": ";".join(["0.5,0.5"] * 100)}, "the table is too large"),
    ],
)
def test_bad_link_values_fall_back_with_a_warning(query, words):
    at = run(query)
    assert words in messages(at)
    assert "[(0, 0), (1, 2)]" in code(at)  # the chapter example is shown instead


# ----------------------------------------------------------------------------- bad input, in words


@pytest.mark.parametrize(
    "query, words",
    [
        ({"yhat": "0.1,abc,0.6;0.3,0.2,0.5"}, "Row 0, class 1: `abc` is not a number"),
        ({"yhat": "0.1,0%2C3,0.6;0.3,0.2,0.5"}, "write decimals with a dot: `0.3`"),
        ({"yhat": "", "y": ""}, "The table is empty"),
        ({"y": "0,3"}, "Row 1: the label `y = 3` is out of range: with 3 classes a label is one of 0, …, 2"),
        ({"y": "0,x"}, "Row 1: the label `x` is not a number"),
        ({"y": "0"}, "Row 1 has no label `y`"),
        ({"yhat": "0.1,0.3,0.6;0.3,0.2"}, "Row 1, class 2 is empty"),
        ({"yhat": "0.1,-0.3,0.6;0.3,0.2,0.5"}, "cannot be negative"),
        ({"yhat": "0,0,0;0.3,0.2,0.5"}, "Row 0 is all zeros"),
    ],
)
def test_blocking_bad_input_is_explained_and_the_steps_wait(query, words):
    at = run(query)
    assert any(words in e.value for e in at.error), messages(at)
    assert "Fix the table on the left to run the steps." in messages(at)
    assert not at.get("plotly_chart")


def test_bad_cell_typed_in_the_editor_is_explained_then_fixed():
    at = run()
    edit(at, {"edited_rows": {0: {"class 1": "three"}}})
    assert any("Row 0, class 1: `three` is not a number" in e.value for e in at.error)
    assert at.query_params["yhat"] == "0.1,three,0.6;0.3,0.2,0.5"
    edit(at, {"edited_rows": {0: {"class 1": "0.3"}}})
    assert not at.error and "[(0, 0), (1, 2)]" in code(at)


def test_emptying_the_table_in_the_editor():
    at = run()
    edit(at, {"deleted_rows": [0, 1]})
    assert any("The table is empty" in e.value for e in at.error)
    assert at.data_editor[0].value.columns.tolist() == ["class 0", "class 1", "class 2", "y"]  # columns stay
    assert at.query_params["yhat"] == "" and at.query_params["y"] == ""


def test_zero_probability_for_the_true_class_says_why_the_loss_is_infinite():
    at = run({"yhat": "0,0.4,0.6;0.3,0.2,0.5", "all": "1"})
    assert any(r"$-\log 0 = \infty$" in w.value for w in at.warning)
    text = code(at)
    assert "tensor([   inf, 0.6931])" in text  # -log 0 really is inf in torch
    reference = F.cross_entropy(torch.log(torch.tensor([[0.0, 0.4, 0.6], [0.3, 0.2, 0.5]])), torch.tensor([0, 2]))
    assert f">>> F.cross_entropy(o, y)\n{str(reference)}" in text and str(reference) == "tensor(inf)"
    bars = json.loads(at.get("plotly_chart")[2].proto.spec)
    assert bars["data"][0]["text"] == ["∞", "0.6931"]


def test_zero_in_a_wrong_class_is_fine():
    at = run({"yhat": "0.4,0,0.6;0.3,0.2,0.5", "step": "4"})
    assert not at.warning and not at.error
    assert ".sum(1)\ntensor([0.9163, 0.6931])" in code(at)  # xlogy: 0 * log 0 = 0, not nan


def test_row_not_summing_to_one_warns_and_normalise_fixes_it():
    at = run({"yhat": "0.2,0.2,0.4;0.3,0.2,0.5", "all": "1"})
    warning = " ".join(w.value for w in at.warning)
    assert "Row 0 sums to 0.8, not 1" in warning
    # Step 3 computes on the typed values (-log 0.2); step 5, via softmax(log y_hat), on the normalised row (-log 0.25).
    assert ">>> -torch.log(y_hat[range(len(y_hat)), y])\ntensor([1.6094, 0.6931])" in code(at)
    assert ">>> F.cross_entropy(o, y, reduction='none')\ntensor([1.3863, 0.6931])" in code(at)
    assert any("do not sum to 1" in i.value for i in at.info)
    at.button(key="ce_normalise").click().run()
    assert not at.exception and not at.warning and not at.info
    assert at.query_params["yhat"] == "0.25,0.25,0.5;0.3,0.2,0.5"
    assert at.data_editor[0].value.values.tolist()[0] == ["0.25", "0.25", "0.5", "0"]
    assert ">>> -torch.log(y_hat[range(len(y_hat)), y])\ntensor([1.3863, 0.6931])" in code(at)


def test_probability_above_one_blocks_and_can_be_normalised():
    at = run({"yhat": "2,1,1;0.3,0.2,0.5"})
    assert any("Row 0, class 0 is 2: a probability is at most 1" in e.value for e in at.error)
    at.button(key="ce_normalise").click().run()
    assert not at.error and at.query_params["yhat"] == "0.5,0.25,0.25;0.3,0.2,0.5"


# ----------------------------------------------------------------------------- issue 8: huge and tiny numbers


def test_huge_cells_get_a_sentence_and_normalise_without_overflow():
    """1e308 + 1e308 passes the largest float: fsum raised OverflowError; now it is said, and normalising works."""
    at = run({"yhat": "1e308,1e308,0", "y": "0"})
    assert any("more than the largest float" in e.value for e in at.error)
    at.button(key="ce_normalise").click().run()
    assert not at.exception and not at.error
    assert at.query_params["yhat"] == "0.5,0.5,0"


def test_a_probability_below_float32_gives_its_true_loss_in_float64():
    """1e-50 rounds to 0 in float32 (loss inf); the page runs the steps in float64 and says why: -log 1e-50 = 115.1."""
    at = run({"yhat": "1e-50,0.4,0.6;0.3,0.2,0.5", "y": "0,2", "all": "1"})
    expected = -torch.log(torch.tensor([1e-50, 0.5], dtype=torch.float64))
    assert float(expected[0]) == pytest.approx(115.129, abs=1e-3)
    text = code(at)
    assert f">>> -torch.log(y_hat[range(len(y_hat)), y])\n{expected}" in text
    assert "dtype=torch.float64" in text.split(">>> y_hat = torch.tensor(")[1].split("\n")[0]
    assert any("float64" in w.value and "115.1" in w.value for w in at.warning)
    reference = F.cross_entropy(
        torch.log(torch.tensor([[1e-50, 0.4, 0.6], [0.3, 0.2, 0.5]], dtype=torch.float64)), torch.tensor([0, 2])
    )
    assert f">>> F.cross_entropy(o, y)\n{str(reference)}" in text


@pytest.mark.parametrize("query", [{"step": str(step)} for step in STEP_TITLES] + [{"all": "true"}])
def test_every_chart_has_a_text_alternative_in_every_step(query):
    """Issue 23 §2: each chart's accessible name gives the chapter example's numbers (torch's)."""
    at = run(query)
    charts = at.get("plotly_chart")
    assert all(chart.proto.alt for chart in charts)
    loss = F.nll_loss(
        torch.log(torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]], dtype=torch.float64)),
        torch.tensor([0, 2]),
        reduction="none",
    )
    for chart in charts:
        alt = chart.proto.alt
        assert (
            "example 0, class 0: 0.10" in alt
            or f"example 0: p = 0.1000, loss {float(loss[0]):.4f}" in alt
            or (f"example 1: {float(loss[1]):.4f}" in alt and f"Mean: {float(loss.mean()):.4f}." in alt)
        ), alt
    expected = {"1": 1, "2": 1, "3": 1, "4": 1, "5": 0}.get(query.get("step"), 3)  # show-all: 1, 3 and 4
    assert len(charts) == expected
