"""The calibration page's "fit the best linear model" in AppTest: a job of the server's one training queue."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from softmax_core.run_store import RunStore, run_key
from tests.apptest_helpers import open_calibration_page, poll_until, texts
from tests.conftest import ROOT
from tests.factories_training import store_calibration_run, stored_lbfgs

pytestmark = pytest.mark.app


@pytest.fixture
def runs(monkeypatch, tmp_path, shared_data_dir, clear_streamlit_caches):
    """The shared Fashion-MNIST and a fresh run store (returned), caches cold."""
    monkeypatch.setenv("SOFTMAX_DATA_DIR", str(shared_data_dir))
    monkeypatch.setenv("SOFTMAX_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


TRAINING_PAGE = str(ROOT / "pages" / "training.py")
FEW = 3  # L-BFGS iterations for the page's fit in these tests


def progress_texts(at: AppTest) -> list[str]:
    return [p.proto.text for p in at.get("progress")]


@pytest.fixture
def few_iterations(monkeypatch):
    from softmax_core import linear_ceiling

    monkeypatch.setattr(linear_ceiling, "DEFAULT_ITERATIONS", FEW)
    return linear_ceiling.ceiling_config(linear_ceiling.DEFAULT_L2, FEW)


def test_the_fit_is_a_queued_job_and_the_stored_ceiling_is_shown(runs, fmnist, few_iterations):
    from dashboard.training_jobs import training_jobs

    at = open_calibration_page().run()
    at.button(key="cal_fit_ceiling").click().run()
    assert not at.exception
    poll_until(at, lambda at: "Fitted just now" in texts(at.success))
    assert not at.exception
    key = run_key(few_iterations, fmnist.fingerprint)
    assert at.selectbox(key="cal_run").value == key  # the page now calibrates the ceiling
    run = RunStore(runs).get(key)
    assert run.config == few_iterations and run.status == "finished"
    assert f"best linear (L2 {run.config.l2:g}): {run.history[-1].test_acc:.4f}" in texts(at.info)
    assert "cal_fit_ceiling" not in [b.key for b in at.button]  # stored: nothing left to fit
    # it ran as a job of the server's one queue, the training page's
    job = training_jobs(str(runs), fmnist.fingerprint, fmnist).get(key)
    assert job is not None and job.snapshot().state == "done" and not job.snapshot().cached


def test_identical_fits_join_one_job_and_wait_behind_the_training_page(runs, few_iterations, held_training):
    trainer = AppTest.from_file(TRAINING_PAGE, default_timeout=120)
    trainer.query_params["train_seed"] = "5"
    trainer.run().button(key="train_submit").click().run()
    assert held_training.started.wait(60)  # the training page's job holds the only slot
    first, second = open_calibration_page().run(), open_calibration_page().run()  # two students on the calibration page
    first.button(key="cal_fit_ceiling").click().run()
    second.button(key="cal_fit_ceiling").click().run()  # queued meanwhile: the page offers to wait for it too
    assert "cal_ceiling_stop" not in [b.key for b in second.button]  # not theirs to stop until they join
    second.button(key="cal_ceiling_stop_join").click().run()
    for at in (first, second):
        assert not at.exception
        assert any(t.startswith("Queued: place 1") for t in progress_texts(at)), progress_texts(at)
        assert at.button(key="cal_ceiling_stop")
    held_training.release.set()
    poll_until(first, lambda at: "Fitted just now" in texts(at.success))
    poll_until(second, lambda at: "Fitted just now" in texts(at.success))
    assert held_training.calls == 2 and held_training.order == [5, 0]  # first come, first served; one fit
    assert [r.config.impl for r in RunStore(runs).list_runs()].count("lbfgs") == 1


def test_stop_ends_the_fit_and_nothing_is_stored(runs, few_iterations, held_training):
    at = open_calibration_page().run()
    at.button(key="cal_fit_ceiling").click().run()
    assert held_training.started.wait(60)
    at.run()
    assert progress_texts(at) and not at.exception
    at.button(key="cal_ceiling_stop").click().run()
    poll_until(at, lambda at: "Nothing was stored" in texts(at.info))
    assert not at.exception and not at.get("progress")
    assert at.button(key="cal_fit_ceiling")  # it can be asked for again
    assert RunStore(runs).list_runs() == []


def test_one_training_per_student_across_pages(runs, few_iterations, held_training):
    trainer = AppTest.from_file(TRAINING_PAGE, default_timeout=120)
    trainer.session_state["train_session"] = "student-1"
    trainer.run().button(key="train_submit").click().run()
    assert held_training.started.wait(60)
    at = open_calibration_page()
    at.session_state["train_session"] = "student-1"  # the same browser session on the calibration page
    at.run().button(key="cal_fit_ceiling").click().run()
    assert not at.exception
    assert "You already have a training queued or running" in texts(at.warning) and not at.get("progress")
    at.button(key="cal_cancel_other").click().run()
    at.button(key="cal_fit_ceiling").click().run()
    assert "You already have" not in texts(at.warning) and at.get("progress")
    at.button(key="cal_ceiling_stop").click().run()


def test_a_stored_ceiling_is_shown_not_fitted_again(runs, fmnist, monkeypatch):
    from softmax_core import training
    from softmax_core.linear_ceiling import DEFAULT_ITERATIONS, DEFAULT_L2, ceiling_config

    def refuse(*args, **kwargs):
        raise AssertionError("the stored ceiling was fitted again")

    monkeypatch.setattr(training, "train", refuse)
    stored = store_calibration_run(runs, fmnist, ceiling_config(DEFAULT_L2, DEFAULT_ITERATIONS), seed=3)
    at = open_calibration_page().run()
    assert not at.exception
    assert "cal_fit_ceiling" not in [b.key for b in at.button] and not at.get("progress")
    assert "best linear" in texts(at.info) and at.selectbox(key="cal_run").value == stored.key


# ---------------------------------------------------------------- one rule, described by the stored run (issue 17, item 3)


@pytest.fixture
def rule(monkeypatch):
    """The one rule made cheap and unlike any real figure: L2 0.002, FEW iterations, validation accuracy 0.4321."""
    from dataclasses import replace

    from softmax_core import linear_ceiling

    monkeypatch.setattr(linear_ceiling, "DEFAULT_L2", 2e-3)
    monkeypatch.setattr(linear_ceiling, "DEFAULT_ITERATIONS", FEW)
    monkeypatch.setattr(linear_ceiling, "CHOSEN", replace(linear_ceiling.CHOSEN, l2=2e-3, validation_accuracy=0.4321))
    return linear_ceiling.ceiling_config()


def markdown_texts(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown) + " " + texts(at.info) + " " + " ".join(b.label for b in at.button)


def ceiling_info(at: AppTest) -> str:
    return next(i.value for i in at.info if "best linear" in i.value)


def test_the_section_describes_the_stored_run_and_how_its_penalty_was_chosen(runs, fmnist, rule):
    run = stored_lbfgs(RunStore(runs), fmnist.fingerprint, rule, 0.8123, seconds=7.46)
    at = open_calibration_page().run()
    assert not at.exception
    info = ceiling_info(at)
    assert "**best linear (L2 0.002): 0.8123**" in info
    assert (f"L2 penalty 0.002, {FEW} L-BFGS iterations on all 60,000 training images (7.5\u00a0s): test accuracy 0.8123, "
            "train loss 0.4567, train accuracy 0.8321.") in info  # fmt: skip
    assert ("scored best on 10,000 training images held out from a fit on the other 50,000 (60 iterations each; "
            "validation accuracy 0.4321)") in info  # fmt: skip
    assert "cal_fit_ceiling" not in [b.key for b in at.button]
    assert at.selectbox(key="cal_run").value == run.key
    assert at.selectbox(key="cal_run").options == [f"L-BFGS (best linear) · L2 0.002 · {FEW} it"]


def test_the_cli_and_the_button_fit_one_and_the_same_run(runs, fmnist, shared_data_dir, rule, capsys):
    """`softmax-train --impl lbfgs` (no other argument) stores what the page calls the best linear model."""
    import json

    from softmax_core.cli import main as softmax_train

    before = open_calibration_page().run()
    assert (
        before.button(key="cal_fit_ceiling").label == f"Fit the best linear model (L2 0.002, {FEW} L-BFGS iterations)"
    )
    assert (
        softmax_train(["--impl", "lbfgs", "--data-dir", str(shared_data_dir), "--runs-dir", str(runs), "--json"]) == 0
    )
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert cli["best_linear"] is True and cli["key"] == run_key(rule, fmnist.fingerprint)
    at = open_calibration_page().run()
    assert not at.exception
    assert "cal_fit_ceiling" not in [b.key for b in at.button]  # the page found the CLI's run: nothing to fit
    assert f"best linear (L2 0.002): {cli['test_acc']:.4f}" in ceiling_info(at)
    assert (
        softmax_train(["--impl", "lbfgs", "--data-dir", str(shared_data_dir), "--runs-dir", str(runs), "--json"]) == 0
    )
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["cached"] is True and again["key"] == cli["key"]


def test_a_hand_fitted_lbfgs_run_is_not_the_best_linear_model(runs, fmnist, rule):
    """Another penalty, even with a better test score, neither hides the button nor becomes the reference."""
    from softmax_core import linear_ceiling

    hand = stored_lbfgs(RunStore(runs), fmnist.fingerprint, linear_ceiling.ceiling_config(1e-3, FEW), 0.99)
    at = open_calibration_page().run()
    assert not at.exception
    assert at.button(key="cal_fit_ceiling") and not any("best linear" in i.value for i in at.info)
    assert "Not stored yet. The button fits L2 penalty 0.002 for 3 L-BFGS iterations" in markdown_texts(at)
    assert at.selectbox(key="cal_run").value == hand.key  # still a run to calibrate, not called the best linear
    assert at.selectbox(key="cal_run").options == [f"L-BFGS · L2 0.001 · {FEW} it"]
