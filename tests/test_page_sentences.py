"""Sentences that must say what the page shows, and presenter mode without captions (issue 17 items 5 and 6).

AppTests on a run store made for each test; the sentences are checked against the core's own numbers.
"""

from __future__ import annotations

import functools
import json
import re

import numpy as np
import pytest
import torch

from dashboard.catalog import PAGES
from softmax_core import calibration as cal
from softmax_core.figures.calibration_figures import sparse_mce_note
from softmax_core.gradient_step import gradient_steps
from softmax_core.run_store import RunStore, run_key
from softmax_core.training import TrainConfig, TrainResult, train
from tests.apptest_helpers import chart_specs, page_test, page_through_app, texts
from tests.conftest import ROOT

pytestmark = pytest.mark.app


def page(name: str, query: dict | None = None):
    """A page as an AppTest; the pages with links to other pages run through the app's navigation."""
    if name in ("inside_model", "home"):
        return page_through_app(f"pages/{name}.py", query, timeout=120)
    return page_test(ROOT / "pages" / f"{name}.py", query, timeout=120)


@functools.cache
def chapter_run(data) -> TrainResult:
    """The chapter's setting, trained for real (about 2 s): its calibration has the one-image bin of the issue."""
    return train(TrainConfig().validated(), data)


def store(runs_dir, data, result: TrainResult):
    key = run_key(result.config, data.fingerprint)
    return RunStore(runs_dir).save(key, result, torch.eye(10, dtype=torch.int64) * 1000, data.fingerprint)


def diverged(impl: str) -> TrainResult:
    config = TrainConfig(impl=impl, lr=100.0, epochs=1).validated()
    return TrainResult(config, (), "diverged", "Loss became inf in epoch 1 (batch 2): lower the learning rate.",
                       torch.zeros(784, 10), torch.zeros(10), 0.1, batch_losses=(2.34,), diverged_at=(1, 2))  # fmt: skip


# ---------------------------------------------------------------- softmax: tied top logits


def test_tied_top_logits_are_said_and_shown_to_split_not_to_become_one_hot(clear_streamlit_caches):
    """Logits (3, 3, 1): the page said T -> 0 gives "the one-hot argmax" while its curve went to 0.5 / 0.5."""
    at = page("softmax_temperature", {"sm_logits": "3, 3, 1", "sm_preset": "custom"}).run()
    assert not at.exception
    [vectors] = [latex.value for latex in at.latex if r"\operatorname{hardmax}" in latex.value]
    assert r"\lim_{T \to 0}" in vectors and r"\left(0.50,\ 0.50,\ 0.00\right)" in vectors
    words = texts(at.markdown)
    assert "2 logits tie for the largest" in words and "1/2 each" in words
    assert "the top class takes everything" not in words
    [curves] = [c for c in chart_specs(at) if any("current T" in a["text"] for a in c["layout"].get("annotations", []))]
    assert any(a["text"] == "T → 0: the 2 tied top classes get 1/2 each" for a in curves["layout"]["annotations"])

    untied = page("softmax_temperature").run()  # the chapter's 1, 2, 3: one top class, hardmax is the limit
    assert "the top class takes everything" in texts(untied.markdown)
    assert not any(r"\lim_{T \to 0}" in latex.value for latex in untied.latex)


# ---------------------------------------------------------------- calibration


def test_an_mce_set_by_a_nearly_empty_bin_is_warned_about(env, fmnist):
    """The chapter's run: MCE rises from about 0.22 to 0.80 after scaling, because one bin holds one image."""
    result = chapter_run(fmnist)
    store(env, fmnist, result)
    at = page("calibration", {"cal_T": "1"}).run()
    assert not at.exception
    logits = cal.logits_on_images(result.weight, result.bias, fmnist.test_images)
    report = cal.calibrate(logits, fmnist.test_labels.numpy())
    fitted = f"T = {report.fit.temperature:.3g}"
    expected = sparse_mce_note({"T = 1": report.before.bins, fitted: report.after.bins})
    assert expected is not None and f"at {fitted}, the bin" in expected  # this run has the one-image bin
    assert expected in [w.value for w in at.warning]
    mce = at.dataframe[0].value.set_index("metric").loc["MCE"]
    assert mce[f"{fitted} (fit)"] == pytest.approx(report.after.mce)


def test_the_test_image_input_never_shows_an_image_of_the_calibration_half(env, fmnist):
    """+ from an evaluation image stepped into the calibration half (T was fitted on those images)."""
    store(env, fmnist, chapter_run(fmnist))
    split = cal.split_test_set()
    evaluation, calibration = set(split.evaluation.tolist()), set(split.calibration.tolist())
    start = next(i for i in sorted(evaluation) if i + 1 in calibration)
    after = min(i for i in evaluation if i > start + 1)
    at = page("calibration").run()
    at.number_input(key="cal_image").set_value(float(start)).run()
    at.number_input(key="cal_image").set_value(float(start + 1)).run()  # the + button: one step up
    assert not at.exception
    assert at.number_input(key="cal_image").value == after
    assert f"Image #{after} is" in texts(at.caption)
    at.number_input(key="cal_image").set_value(float(after - 1)).run()  # the - button steps down over it
    assert at.number_input(key="cal_image").value in evaluation and at.number_input(key="cal_image").value <= start

    linked = page("calibration", {"cal_image": str(start + 1)}).run()  # a link to a calibration-half image
    assert not linked.exception
    assert f"Test image #{start + 1} is in the calibration half" in texts(linked.info)
    assert f"Image #{after} is" in texts(linked.caption)


# ---------------------------------------------------------------- training


def test_enter_in_a_training_field_does_not_start_a_training(env):
    """The form submitted on Enter: a student changing the epochs started a training."""
    at = page("training").run()
    forms = _forms(at.main)
    assert [form.proto.form.form_id for form in forms] == ["train_form"]
    assert forms[0].proto.form.enter_to_submit is False


def _forms(node) -> list:
    found = []
    for child in getattr(node, "children", {}).values():
        if getattr(child, "type", None) == "form":
            found.append(child)
        found += _forms(child)
    return found


@pytest.mark.parametrize("impl", ["scratch", "concise"])
def test_a_diverged_scratch_run_says_why_it_reads_inf_where_the_chapters_code_reads_nan(env, fmnist, impl):
    store(env, fmnist, diverged(impl))
    at = page("training", {"train_impl": impl, "train_lr": "100", "train_epochs": "1"}).run()
    assert not at.exception and "Diverged" in texts(at.warning)
    note = "its loss reads **nan**; here `exp` never overflows"
    assert (note in texts(at.markdown)) is (impl == "scratch")
    [losses] = [c for c in chart_specs(at) if "blew up" in json.dumps(c["layout"].get("title", ""))]
    assert losses["layout"]["yaxis"]["range"][0] == 0 and losses["layout"]["xaxis"]["range"] == [0.5, 2.5]


# ---------------------------------------------------------------- presenter mode: no captions


@pytest.mark.parametrize("name", ["calibration", "inside_model", "training"])
def test_presenter_mode_leaves_out_every_caption(env, fmnist, name):
    """The README promises no explanatory captions in presenter mode; these three pages kept theirs."""
    store(env, fmnist, chapter_run(fmnist))
    normal = page(name).run()
    shown = page(name, {"present": "1"}).run()
    assert not normal.exception and not shown.exception
    assert normal.caption and not shown.caption
    assert len(chart_specs(shown)) == len(chart_specs(normal)) > 0


def test_an_ankle_boot_is_an_ankle_boot(env, fmnist):
    """ "Test image #0 is a Ankle boot": the article follows the class name (the calibration page's too)."""
    store(env, fmnist, chapter_run(fmnist))
    inside = page("inside_model", {"in_image": "0"}).run()
    assert not inside.exception and int(fmnist.test_labels[0]) == 9
    assert "Test image #0 is an **Ankle boot**" in texts(inside.markdown)
    pullover = page("inside_model", {"in_image": "1"}).run()
    assert "Test image #1 is a **Pullover**" in texts(pullover.markdown)


# ---------------------------------------------------------------- cross-entropy


def test_the_float64_path_prints_a_one_hot_line_that_gives_float64():
    at = page("cross_entropy_steps", {"yhat": "1e-50,0.5,0.5;0.3,0.2,0.5", "y": "0,2", "step": "4"}).run()
    assert not at.exception
    [code] = [c.value for c in at.code if c.language == "python"]  # the other is the share link
    assert ">>> F.one_hot(y, 3).to(y_hat.dtype)\n" in code and "dtype=torch.float64" in code
    assert ".float()" not in code
    chapter = page("cross_entropy_steps", {"step": "4"}).run()
    assert any(">>> F.one_hot(y, 3).float()\n" in c.value for c in chapter.code)  # float32: the chapter's line


def test_show_all_runs_the_steps_across_the_whole_width():
    """Beside the table, all steps left the table's column empty down the page."""
    at = page("cross_entropy_steps", {"all": "1"}).run()
    top_level = [c.value for c in at.main.children.values() if type(c).__name__ == "Subheader"]
    assert top_level == ["1. Pick the cells", "2. Read them out", "3. Take −log", "4. Average", "5. From logits"]
    one = page("cross_entropy_steps", {"step": "3"}).run()
    assert not [c for c in one.main.children.values() if type(c).__name__ == "Subheader"]  # beside the table


# ---------------------------------------------------------------- home


def test_the_home_page_says_when_l2_leaps_past_l1():
    """'L2 leaps and L1 creeps' holds only for |d| > 1: the sentence says so, and one step under each agrees."""
    [losses] = [p.teaches for p in PAGES if p.path.endswith("loss_curves.py")]
    assert "|d| > 1" in losses
    for d in np.linspace(-3, 3, 61):
        l2, l1, _ = gradient_steps(float(d), 0.0, 0.1)
        if abs(d) > 1:
            assert abs(l2.step) > abs(l1.step)
        elif 0 < abs(d) < 1:
            assert abs(l2.step) < abs(l1.step)
    at = page("home").run()
    assert re.search(r"\|d\| > 1", texts(at.markdown))
