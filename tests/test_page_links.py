"""Links on the pages that show a stored run (calibration, inside the model), in AppTest.

The address keeps the run shown, every choice is in the "Share this view" link, that link reopens
the same view, and a link value the widget cannot take (bounds that depend on the run included) is
named and dropped, never an error box.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
import torch
from streamlit.testing.v1 import AppTest

from softmax_core.run_store import RunStore, run_key
from softmax_core.training import EpochMetrics, TrainConfig, TrainResult
from tests.apptest_helpers import messages, page_through_app
from tests.link import link, link_lists, share_link

pytestmark = pytest.mark.app

EPOCHS = 2


def store_run(runs_dir, fmnist, config: TrainConfig, seed: int):
    """A finished run with made-up weights and a snapshot per epoch (``seed`` makes them differ)."""
    config = config.validated()
    g = torch.Generator().manual_seed(seed)
    epochs = config.epochs
    weights = torch.randn(epochs + 1, 784, 10, generator=g) * 0.05
    biases = torch.randn(epochs + 1, 10, generator=g) * 0.05
    history = tuple(EpochMetrics(e, 0.5, 0.8, 0.8, 0.1) for e in range(1, epochs + 1))
    result = TrainResult(config, history, "finished", "", weights[-1], biases[-1], 1.0, snapshots=(weights, biases))
    key = run_key(config, fmnist.fingerprint)
    RunStore(runs_dir).save(key, result, torch.eye(10, dtype=torch.int64), fmnist.fingerprint)
    return key


@pytest.fixture
def two_runs(env, fmnist) -> dict[int, str]:
    """Two 2-epoch runs, seed 1 stored first, seed 0 (the chapter's seed, the newest) second: seed 0 is the default."""
    return {seed: store_run(env, fmnist, TrainConfig(epochs=EPOCHS, seed=seed), seed) for seed in (1, 0)}


def open_page(page: str, query: dict[str, str]) -> AppTest:
    return page_through_app(f"pages/{page}.py", query, timeout=120).run()


def said(at: AppTest, key: str) -> list[str]:
    return [m for m in messages(at) if f"{key}=" in m]


# ---------------------------------------------------------------- calibration: the run stays in the address


def test_calibration_keeps_the_linked_run_in_the_address_and_its_share_link_reopens_it(two_runs):
    at = open_page("calibration", {"run": two_runs[1]})
    assert not at.exception, at.exception
    assert at.selectbox(key="cal_run").value == two_runs[1]
    assert at.query_params["run"] == [two_runs[1]] or at.query_params["run"] == two_runs[1]
    shared = link(at)
    assert shared["run"] == two_runs[1]
    again = open_page("calibration", shared)  # a copied link opens a new session
    assert again.selectbox(key="cal_run").value == two_runs[1]  # seed 1 again, not the default seed 0


def test_calibration_names_the_default_run_too(two_runs):
    at = open_page("calibration", {})
    assert at.selectbox(key="cal_run").value == two_runs[0]
    assert link(at)["run"] == two_runs[0]  # later runs change the default; the link must not


def test_calibration_menu_choice_goes_to_the_address(two_runs):
    at = open_page("calibration", {"run": two_runs[0]})
    at.selectbox(key="cal_run").set_value(two_runs[1]).run()
    assert not at.exception
    assert at.selectbox(key="cal_run").value == two_runs[1]
    assert link(at)["run"] == two_runs[1]
    at.run()  # a later rerun, the address holding the new run: the choice stays
    assert at.selectbox(key="cal_run").value == two_runs[1]


def test_an_older_links_cal_run_still_opens_the_run(two_runs):
    at = open_page("calibration", {"cal_run": two_runs[1]})
    assert at.selectbox(key="cal_run").value == two_runs[1]
    assert link(at)["run"] == two_runs[1] and "cal_run" not in link(at)


def test_calibration_share_link_holds_every_choice(two_runs):
    at = open_page("calibration", {"run": two_runs[1]})
    at.select_slider(key="cal_T").set_value(4.0).run()
    at.number_input(key="cal_image").set_value(17.0).run()
    assert not at.exception
    shared = link_lists(at)
    newest_first = [two_runs[0], two_runs[1]]  # the default comparison: the newest runs
    assert shared == {"run": [two_runs[1]], "cal_T": ["4"], "cal_image": ["17"], "cal_compare": newest_first}
    again = open_page("calibration", shared)
    assert again.select_slider(key="cal_T").value == 4.0 and again.number_input(key="cal_image").value == 17
    assert again.selectbox(key="cal_run").value == two_runs[1]
    assert again.multiselect(key="cal_compare").value == newest_first


def test_the_compared_runs_stay_as_chosen_when_newer_runs_arrive(env, fmnist, two_runs):
    at = open_page("calibration", {"run": two_runs[1]})
    at.multiselect(key="cal_compare").set_value([two_runs[1]]).run()
    assert link_lists(at)["cal_compare"] == [two_runs[1]]
    at.multiselect(key="cal_compare").set_value([]).run()
    emptied = link_lists(at)
    assert emptied["cal_compare"] == [""]  # none, not "the default list"
    store_run(env, fmnist, TrainConfig(epochs=EPOCHS, seed=2), 2)  # a newer run: the default list changes
    assert open_page("calibration", emptied).multiselect(key="cal_compare").value == []
    again = open_page("calibration", {"run": two_runs[1], "cal_compare": [two_runs[1]]})
    assert again.multiselect(key="cal_compare").value == [two_runs[1]]
    assert at.query_params["cal_compare"] in ("", [""])  # the address holds it too


def test_an_unknown_compared_run_is_named_and_the_known_ones_kept(two_runs):
    at = open_page("calibration", {"cal_compare": ["nope", two_runs[1], "<b>x</b>"]})
    assert not at.exception
    assert at.multiselect(key="cal_compare").value == [two_runs[1]]
    assert said(at, "cal_compare") and "1 more like it" in said(at, "cal_compare")[0]
    assert "`cal_compare=nope`" in said(at, "cal_compare")[0]  # the value as code, never as markup


@pytest.mark.parametrize(("text", "stop"), [("0.95", 1.0), ("0.93", 0.9), ("3.3", 3.15), ("0.105", 0.1)])
def test_a_temperature_between_the_sliders_stops_is_read_as_the_nearest_and_said(two_runs, text, stop):
    at = open_page("calibration", {"run": two_runs[1], "cal_T": text})
    assert not at.exception
    assert at.select_slider(key="cal_T").value == stop
    assert said(at, "cal_T") and f"was read as `{stop:g}`" in said(at, "cal_T")[0]
    assert at.query_params["cal_T"] in (f"{stop:g}", [f"{stop:g}"])  # the address shows what the page shows


@pytest.mark.parametrize("text", ["0.09", "10.5", "nan", "x"])
def test_a_temperature_outside_the_slider_is_dropped_and_said(two_runs, text):
    at = open_page("calibration", {"run": two_runs[1], "cal_T": text})
    assert not at.exception
    assert said(at, "cal_T") and "was ignored" in said(at, "cal_T")[0]
    assert "cal_T" not in at.query_params


# ---------------------------------------------------------------- inside the model: bounds from the run


@pytest.mark.parametrize("text", ["3.0", "03", "+3", "1e1", "200.0", "3", "-1", "2.5"])
def test_an_epoch_past_the_runs_last_is_named_and_dropped(two_runs, text):
    at = open_page("inside_model", {"run": two_runs[1], "in_epoch": text})
    assert not at.exception, at.exception  # was StreamlitValueAboveMaxError for 3.0, 03, +3, 1e1, 200.0
    slider = at.slider(key="in_epoch")
    assert (slider.max, slider.value) == (EPOCHS, EPOCHS if text != "2.5" else 2)
    assert said(at, "in_epoch"), messages(at)
    assert "in_epoch" not in at.query_params or text == "2.5"


@pytest.mark.parametrize(("text", "epoch"), [("1.0", 1), ("01", 1), ("0", 0)])
def test_an_epoch_in_another_form_is_read_and_the_address_shows_it(two_runs, text, epoch):
    at = open_page("inside_model", {"run": two_runs[1], "in_epoch": text})
    assert not at.exception
    assert at.slider(key="in_epoch").value == epoch and not said(at, "in_epoch")
    assert at.query_params["in_epoch"] in (str(epoch), [str(epoch)])


def test_inside_share_link_holds_every_choice_and_reopens_the_view(two_runs):
    at = open_page("inside_model", {"run": two_runs[1]})
    at.slider(key="in_epoch").set_value(1).run()
    at.number_input(key="in_image").set_value(42.0).run()
    at.toggle(key="in_rescale").set_value(True).run()
    assert not at.exception
    shared = link(at)
    assert shared == {"run": two_runs[1], "in_epoch": "1", "in_image": "42", "in_rescale": "true"}
    again = open_page("inside_model", shared)
    assert again.slider(key="in_epoch").value == 1 and again.number_input(key="in_image").value == 42
    assert again.toggle(key="in_rescale").value is True
    assert "Test image #42" in "".join(m.value for m in again.markdown)


def test_an_epoch_for_a_run_that_cannot_show_one_is_named(env, fmnist):
    at = open_page("inside_model", {"run": "not-a-run", "in_epoch": "1"})
    assert not at.exception
    assert said(at, "in_epoch")


def test_both_pages_have_a_share_row_and_presenter_mode_hides_it(two_runs):
    for page in ("calibration", "inside_model"):
        at = open_page(page, {"run": two_runs[1]})
        assert share_link(at)
        assert dict(parse_qsl(share_link(at).split("?", 1)[1]))["run"] == two_runs[1]
        at = open_page(page, {"run": two_runs[1], "present": "1"})
        with pytest.raises(AssertionError):
            share_link(at)
