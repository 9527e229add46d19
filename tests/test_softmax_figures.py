"""The softmax page's building blocks against torch: presets and parsing, the stability table, the figures."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from softmax_core.figures.softmax_figures import (
    probability_bars,
    probability_bars_alt,
    probability_records,
    sweep_records,
    temperature_curves,
    temperature_curves_alt,
    temperature_sweep,
)
from softmax_core.logit_presets import (
    FASHION_MNIST_CLASSES,
    LABEL_SETS,
    MAX_CLASSES,
    PRESETS,
    apply_table_edits,
    class_labels,
    format_logits,
    parse_logits,
)
from softmax_core.stability import compare_stability, explain

pytestmark = pytest.mark.unit

logit_lists = st.lists(st.floats(-50, 50, allow_nan=False, width=64), min_size=2, max_size=MAX_CLASSES)
temperatures = st.floats(0.05, 20)


def torch_softmax(logits, temperature=1.0):
    return torch.softmax(torch.tensor(logits, dtype=torch.float64) / temperature, dim=0)


# ---------------------------------------------------------------- presets and parsing


def test_presets_are_valid_and_round_trip_through_text():
    assert PRESETS["large"].logits == (1000.0, 1001.0, 1002.0)
    assert PRESETS["chapter"].logits == (1.0, 2.0, 3.0)
    for preset in PRESETS.values():
        assert 2 <= len(preset.logits) <= MAX_CLASSES
        assert preset.labels in LABEL_SETS
        assert parse_logits(format_logits(preset.logits)) == preset.logits


def test_fashion_preset_uses_the_ten_class_names():
    preset = PRESETS["fashion"]
    assert class_labels(preset.labels, len(preset.logits)) == (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )
    # the made-up scores must say what the lesson says: a shirt, with T-shirt/top the runner-up
    order = torch.tensor(preset.logits).argsort(descending=True)
    assert [FASHION_MNIST_CLASSES[i] for i in order[:2]] == ["Shirt", "T-shirt/top"]


def test_nearly_tied_and_dominant_presets_do_what_their_names_say():
    tied = torch_softmax(PRESETS["tied"].logits)
    assert float(tied.max() - tied.min()) < 0.05
    dominant = torch_softmax(PRESETS["dominant"].logits)
    assert float(dominant.max()) > 0.99


def test_class_labels_fall_back_to_numbers():
    assert class_labels("animals", 5) == ("cat", "chicken", "dog", "class 3", "class 4")
    assert class_labels("numbers", 2) == ("class 0", "class 1")
    with pytest.raises(ValueError, match="unknown label set"):
        class_labels("cars", 3)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1, 2, 3", (1.0, 2.0, 3.0)),
        ("1 2 3", (1.0, 2.0, 3.0)),
        ("1;2; 3", (1.0, 2.0, 3.0)),
        ("1,2,3,", (1.0, 2.0, 3.0)),
        (" -1e3 , 2.5 ", (-1000.0, 2.5)),
    ],
)
def test_parse_logits_accepts_common_spellings(text, expected):
    assert parse_logits(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("1,,2", "Entry 2 is empty"),
        ("1, abc", "“abc”, is not a number"),
        ("nan, 1", "NaN"),
        (", ".join(["1"] * 11), "11 logits given"),
        ("5", "at least two classes"),
        ("inf, 1", "too large"),
        ("1e5, 1", "too large"),
    ],
)
def test_parse_logits_explains_bad_input(text, message):
    with pytest.raises(ValueError, match=message):
        parse_logits(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=2, max_size=MAX_CLASSES))
def test_format_then_parse_gives_the_same_floats(values):
    assert parse_logits(format_logits(values)) == tuple(values)


def test_apply_table_edits_changes_deletes_and_adds_rows():
    edits = {"edited_rows": {0: {"logit": 5.0}}, "deleted_rows": [1], "added_rows": [{"logit": -1.0}, {}]}
    assert apply_table_edits((1.0, 2.0, 3.0), edits) == [5.0, 3.0, -1.0, None]
    assert apply_table_edits((1.0, 2.0), {"edited_rows": {"1": {"logit": None}}}) == [1.0, None]
    assert apply_table_edits((1.0, 2.0), {}) == [1.0, 2.0]


def test_apply_table_edits_keeps_text_cells_as_typed_for_the_logits_parser():
    """Text cells stay text: 1e308 reaches parse_logits as written (and is refused there with a sentence)."""
    edits = {"edited_rows": {"1": {"logit": " 1e308 "}}, "added_rows": [{"logit": "-2.5E-1"}, {"logit": ""}]}
    cells = apply_table_edits(("1", "2", "3"), edits)
    assert cells == ["1", "1e308", "3", "-2.5E-1", None]
    with pytest.raises(ValueError, match="too large"):
        parse_logits(", ".join(cells[:3]))
    assert parse_logits(", ".join([cells[0], cells[3]])) == (1.0, -0.25)


# ---------------------------------------------------------------- numeric stability


def test_large_logits_break_naive_softmax_but_not_the_shifted_one():
    report = compare_stability((1000, 1001, 1002), 1.0, "float32")
    assert report.naive_exp == (math.inf,) * 3 and report.naive_sum == math.inf
    assert all(math.isnan(p) for p in report.naive_softmax) and not report.naive_ok
    expected = torch.softmax(torch.tensor([1000.0, 1001.0, 1002.0]), 0)
    torch.testing.assert_close(torch.tensor(report.softmax), expected)
    torch.testing.assert_close(
        torch.tensor(report.log_softmax), torch.log_softmax(torch.tensor([1000.0, 1001.0, 1002.0]), 0)
    )
    assert report.shifted == (-2.0, -1.0, 0.0) and report.shifted_exp[2] == 1.0
    assert math.isclose(report.overflow_at, math.log(torch.finfo(torch.float32).max))
    text = " ".join(explain(report))
    assert "overflows to inf" in text and "88.72" in text and "inf / inf = nan" in text


def test_float16_overflows_where_float32_does_not():
    z = torch.tensor([10.0, 12.0])
    half = compare_stability(z.tolist(), 1.0, "float16")
    single = compare_stability(z.tolist(), 1.0, "float32")
    assert math.isclose(half.overflow_at, math.log(65504.0))
    assert not half.naive_ok and half.stable_ok and single.naive_ok
    torch.testing.assert_close(torch.tensor(half.softmax), torch.softmax(z, 0), atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(torch.tensor(single.naive_softmax), torch.softmax(z, 0))


def test_sum_overflow_gives_all_zeros_and_is_reported():
    report = compare_stability((11.0, 11.0), 1.0, "float16")
    assert all(math.isfinite(v) for v in report.naive_exp) and report.naive_sum == math.inf
    assert report.naive_softmax == (0.0, 0.0) and not report.naive_ok
    assert report.softmax == (0.5, 0.5)
    assert "sum" in explain(report)[0]


def test_underflow_gives_zero_over_zero():
    report = compare_stability((-1000.0, -1001.0), 1.0, "float32")
    assert report.naive_sum == 0.0 and all(math.isnan(p) for p in report.naive_softmax)
    torch.testing.assert_close(torch.tensor(report.softmax), torch.softmax(torch.tensor([0.0, -1.0]), 0))
    assert "underflows" in explain(report)[0]


def test_low_temperature_makes_log_of_softmax_minus_inf_but_log_softmax_finite():
    report = compare_stability((1.0, 2.0, 3.0), 0.1, "float16")
    assert report.scaled == (10.0, 20.0, 30.0)
    assert report.log_of_softmax[0] == -math.inf and not report.log_of_softmax_ok
    expected = torch.log_softmax(torch.tensor([10.0, 20.0, 30.0]), 0)
    torch.testing.assert_close(torch.tensor(report.log_softmax), expected, atol=1e-2, rtol=1e-3)
    assert "log-softmax" in explain(report)[-1]


def test_scaled_logits_that_overflow_the_dtype_are_explained():
    report = compare_stability((10000.0, 1.0), 0.05, "float16")
    assert report.scaled[0] == math.inf and not report.scaled_ok and not report.stable_ok
    assert "does not fit in float16" in explain(report)[0]


@settings(max_examples=150, deadline=None)
@given(logit_lists, temperatures)
def test_shifted_softmax_and_log_softmax_match_torch_in_float32(logits, temperature):
    report = compare_stability(logits, temperature, "float32")
    z = torch.tensor(logits, dtype=torch.float32) / temperature
    assert report.stable_ok and report.log_softmax_ok
    torch.testing.assert_close(torch.tensor(report.scaled), z)
    torch.testing.assert_close(torch.tensor(report.softmax), torch.softmax(z, 0), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(torch.tensor(report.log_softmax), torch.log_softmax(z, 0), atol=1e-4, rtol=1e-5)
    assert 1.0 <= report.shifted_sum <= len(logits) + 1e-4
    top = max(report.scaled)
    smallest_exp_argument = math.log(torch.finfo(torch.float32).smallest_normal * 2.0**-23)  # about -103.3
    if top > report.overflow_at or top < smallest_exp_argument - 1:  # exp overflows, or every exp underflows
        assert not report.naive_ok
    elif -80 < top < report.overflow_at - math.log(len(logits)) - 1:  # safely inside the float32 range
        assert report.naive_ok
        torch.testing.assert_close(torch.tensor(report.naive_softmax), torch.softmax(z, 0), atol=1e-6, rtol=1e-4)


def test_stability_table_spells_out_inf_and_nan():
    table = compare_stability((1000, 1001, 1002), 1.0, "float32").table(["cat", "chicken", "dog"])
    assert list(table["class"]) == ["cat", "chicken", "dog", "sum"]
    assert list(table["exp(z)"]) == ["inf", "inf", "inf", "inf"]
    assert list(table["naive p"])[:3] == ["nan"] * 3
    assert list(table["softmax p"]) == ["0.090031", "0.24473", "0.66524", "1"]
    with pytest.raises(ValueError, match="2 labels for 3 classes"):
        compare_stability((1, 2, 3)).table(["a", "b"])


@pytest.mark.parametrize("bad, message", [(float("nan"), "NaN"), ("x", "numbers")])
def test_stability_rejects_bad_logits(bad, message):
    with pytest.raises(ValueError, match=message):
        compare_stability([1.0, bad])


# ---------------------------------------------------------------- figures


def _has_colour(node) -> bool:
    """Any colour set by us; plotly's default template (replaced by the Streamlit theme) is left out."""
    if isinstance(node, dict) and "layout" in node and "data" in node:
        node = {"data": node["data"], "layout": {k: v for k, v in node["layout"].items() if k != "template"}}
    if isinstance(node, dict):
        return any(("color" in key.lower() and value is not None) or _has_colour(value) for key, value in node.items())
    if isinstance(node, list):
        return any(_has_colour(item) for item in node)
    return False


@settings(max_examples=30, deadline=None)
@given(logit_lists)
def test_temperature_sweep_matches_torch_row_by_row(logits):
    sweep = temperature_sweep(logits, 0.05, 20.0, 25)
    assert len(sweep.temperatures) == 25
    assert math.isclose(sweep.temperatures[0], 0.05) and math.isclose(sweep.temperatures[-1], 20.0)
    ratios = [b / a for a, b in zip(sweep.temperatures, sweep.temperatures[1:])]
    assert max(ratios) - min(ratios) < 1e-9  # log-spaced
    for t, row in zip(sweep.temperatures, sweep.probs):
        torch.testing.assert_close(torch.tensor(row, dtype=torch.float64), torch_softmax(logits, t))


def test_sweep_reaches_both_limits():
    sweep = temperature_sweep((1.0, 2.0, 3.0))
    assert sweep.probs[0] == pytest.approx((0.0, 0.0, 1.0), abs=1e-12)  # T = 0.01: hardmax
    assert sweep.probs[-1] == pytest.approx((1 / 3,) * 3, abs=0.01)  # T = 100: uniform


def test_probability_bars_carry_softmax_and_one_hot():
    logits, temperature = (0.5, 8.0, 1.0, -1.0), 2.0
    probs = torch_softmax(logits, temperature)
    one_hot = torch.nn.functional.one_hot(torch.tensor(logits).argmax(), 4).tolist()
    fig = probability_bars(["a", "b", "c", "d"], probs.tolist(), one_hot, title="Prediction: b")
    soft, hard = fig.data
    assert list(soft.x) == ["a", "b", "c", "d"]
    torch.testing.assert_close(torch.tensor(soft.y, dtype=torch.float64), probs)
    assert list(hard.y) == [0.0, 1.0, 0.0, 0.0]
    assert list(soft.text) == [f"{p:.2f}" if p >= 0.005 else "" for p in probs.tolist()]
    assert fig.layout.title.text == "Prediction: b"
    assert not _has_colour(fig.to_plotly_json())
    with pytest.raises(ValueError, match="2 labels, 3 probabilities"):
        probability_bars(["a", "b"], [0.2, 0.3, 0.5], [0, 0, 1])


@pytest.mark.parametrize("temperature", [0.05, 1.0, 20.0])
def test_temperature_curves_carry_the_sweep_and_mark_the_current_t(temperature):
    logits = (2.1, -2.5, 1.9, 0.4, 1.6, -3.8, 2.4, -3.1, -0.2, -3.6)
    labels = FASHION_MNIST_CLASSES
    current = torch_softmax(logits, temperature)
    fig = temperature_curves(temperature_sweep(logits), labels, temperature, current.tolist())
    assert [trace.name for trace in fig.data] == list(labels)
    for j, trace in enumerate(fig.data):
        marked = [i for i, size in enumerate(trace.marker.size) if size > 0]
        assert len(marked) == 1
        assert trace.x[marked[0]] == temperature
        assert math.isclose(trace.y[marked[0]], float(current[j]), rel_tol=1e-12)
        assert list(trace.x) == sorted(trace.x)
        for x, y in list(zip(trace.x, trace.y))[::37]:  # every point is softmax(o / T) at its T
            assert math.isclose(y, float(torch_softmax(logits, x)[j]), rel_tol=1e-9, abs_tol=1e-15)
    assert fig.layout.xaxis.type == "log"
    notes = " | ".join(a.text for a in fig.layout.annotations)
    assert "hardmax" in notes and "uniform" in notes and "1/q = 0.1" in notes and f"T = {temperature:g}" in notes
    assert {trace.line.dash for trace in fig.data} == {"solid"}  # ten classes, ten theme colours
    assert not _has_colour(fig.to_plotly_json())


def test_temperature_curves_reject_mismatched_classes():
    with pytest.raises(ValueError, match="same classes"):
        temperature_curves(temperature_sweep((1.0, 2.0)), ["a", "b", "c"], 1.0, [0.2, 0.3, 0.5])


def test_float16_log_of_softmax_and_log_softmax_are_said_to_differ_and_why():
    """The issue's case: logits 1, 2, 3 at T = 2 in float16 give -1.6807 against -1.6797 for the middle class."""
    report = compare_stability((1.0, 2.0, 3.0), 2.0, "float16")
    assert report.log_of_softmax_ok and report.log_softmax_ok
    z = torch.tensor([0.5, 1.0, 1.5], dtype=torch.float64)
    reference = torch.log_softmax(z, 0)  # float64: what both float16 routes try to compute
    gap = max(abs(a - b) for a, b in zip(report.log_of_softmax, report.log_softmax))
    assert 5e-4 < gap < 5e-3  # about 0.001 apart: the third decimal, float16's last digit
    for route in (report.log_of_softmax, report.log_softmax):  # both are float16 roundings of the same number
        assert max(abs(a - float(r)) for a, r in zip(route, reference)) < 3 * torch.finfo(torch.float16).eps
    text = " ".join(explain(report))
    assert "agree" not in text
    assert f"differ by up to {gap:.2g}" in text and "-1.6807 against -1.6797" in text
    assert "about 3 significant decimal digits" in text
    # float32 keeps about 7 digits: the same logits agree to far more places there
    single = compare_stability((1.0, 2.0, 3.0), 2.0, "float32")
    single_gap = max(abs(a - b) for a, b in zip(single.log_of_softmax, single.log_softmax))
    assert single_gap < 1e-6
    assert single_gap == 0 or "about 7 significant decimal digits" in " ".join(explain(single))


# ---------------------------------------------------------------- text alternatives (issue 23 §2)


def _named_order(text: str, labels, probs) -> list[int]:
    """Where each class at or above 1 % is named with its percentage (as torch computes it) in the text."""
    named = [j for j, p in enumerate(probs) if p >= 0.01]
    positions = {j: text.find(f"{labels[j]} {100 * probs[j]:.1f} %") for j in named}
    assert all(at >= 0 for at in positions.values()), (text, positions)
    return sorted(named, key=positions.get)


@settings(max_examples=80, deadline=None)
@given(logit_lists, temperatures)
def test_bars_alt_names_every_class_at_or_above_1_percent_largest_first(logits, temperature):
    labels = [f"c{j}" for j in range(len(logits))]  # no label is a prefix of another (at most 10 classes)
    p = torch_softmax(logits, temperature).tolist()
    winner = int(torch.tensor(logits).argmax())  # the first of tied largest logits, as argmax picks
    one_hot = [1.0 if j == winner else 0.0 for j in range(len(logits))]
    text = probability_bars_alt(labels, p, one_hot, temperature)
    assert text.startswith(f"Bar chart of the probabilities at T = {temperature:g}: ")
    order = _named_order(text, labels, p)
    assert [p[j] for j in order] == sorted((p[j] for j in order), reverse=True)  # largest first
    small = [j for j, v in enumerate(p) if v < 0.01]
    for j in small:  # below 1 %: never given a percentage
        assert f"c{j} 0." not in text.replace(f"c{j} below", "")
    if len(small) == 1:
        assert f"c{small[0]} below 1 %" in text
    elif small:
        assert f"the other {len(small)} below 1 %" in text
    else:
        assert "below 1 %" not in text
    assert text.endswith(f"One-hot argmax: c{winner}.")


def test_bars_alt_reads_like_the_issue_example():
    labels = ["Ankle boot", "Sneaker", "Sandal", "Bag", "Shirt"]
    p = [0.507, 0.462, 0.029, 0.001, 0.001]
    assert probability_bars_alt(labels, p, [1, 0, 0, 0, 0], 1.0) == (
        "Bar chart of the probabilities at T = 1: Ankle boot 50.7 %, Sneaker 46.2 %, Sandal 2.9 %, "
        "the other 2 below 1 %. One-hot argmax: Ankle boot."
    )


@settings(max_examples=40, deadline=None)
@given(logit_lists, temperatures)
def test_curves_alt_gives_the_current_probabilities_and_both_limits(logits, temperature):
    labels = [f"c{j}" for j in range(len(logits))]
    p = torch_softmax(logits, temperature).tolist()
    o = torch.tensor(logits, dtype=torch.float64)
    top = [j for j in range(len(logits)) if o[j] == o.max()]  # the T -> 0 limit, from the logits themselves
    cold = [1 / len(top) if j in top else 0.0 for j in range(len(logits))]
    text = temperature_curves_alt(labels, temperature, p, cold)
    order = _named_order(text, labels, p)
    assert [p[j] for j in order] == sorted((p[j] for j in order), reverse=True)
    assert f"At the current T = {temperature:g}:" in text and "0.01 to 100 on a log scale" in text
    if len(top) == 1:
        assert f"As T goes to 0: hardmax, c{top[0]} gets 100 %." in text
    else:
        assert f"the {len(top)} tied top classes ({', '.join(f'c{j}' for j in top)}) get 1/{len(top)} each" in text
    q = len(logits)
    assert f"uniform 1/{q} = {100 / q:.1f} %" in text


def test_the_pages_tables_hold_the_charts_numbers():
    logits, labels, temperature = (1.0, 2.0, 3.0), ["cat", "chicken", "dog"], 2.0
    p = torch_softmax(logits, temperature)
    rows = probability_records(labels, logits, p.tolist(), [0, 0, 1])
    assert [r["class"] for r in rows] == labels and [r["one-hot"] for r in rows] == [0, 0, 1]
    assert [r["softmax p"] for r in rows] == pytest.approx(p.tolist(), abs=1e-6)
    sweep = sweep_records(logits, labels, (0.01, 1.0, 100.0))
    for t in (0.01, 1.0, 100.0):
        column = [r[f"T = {t:g}"] for r in sweep]
        assert column == pytest.approx(torch_softmax(logits, t).tolist(), abs=1e-6)


def test_class_curves_differ_by_marker_symbol_not_only_colour():
    logits = tuple(float(v) for v in range(10))
    fig = temperature_curves(temperature_sweep(logits), FASHION_MNIST_CLASSES, 1.0, torch_softmax(logits).tolist())
    assert len({trace.marker.symbol for trace in fig.data}) == 10
    assert fig.layout.legend.itemsizing == "constant"  # the legend shows each symbol, not a dot of the mean size
