"""What sign-in adds: a stored run remembers the signed-in name of who trained it (shown where runs are
compared), and with sign-in on only a signed-in user on the access list starts a lecture or fits the
best linear model."""

from __future__ import annotations

import json

import pytest
import torch
from streamlit.testing.v1 import AppTest

from softmax_core import training
from softmax_core.run_store import RunStore, run_key
from softmax_core.training import TrainConfig
from softmax_core.training_queue import TrainingJobs
from tests.apptest_helpers import page_test
from tests.conftest import ROOT
from tests.factories import SIGN_IN_SETTINGS
from tests.factories_training import TWO_EPOCHS, ControlledTrain, calibration_weights, make_result, queue_data

pytestmark = pytest.mark.app

ON = {"auth": SIGN_IN_SETTINGS, "access": {"allowed": ["@uni.edu"]}}
ANA = {"is_logged_in": True, "email": "ana@uni.edu", "name": "Ana Lima"}
EVE = {"is_logged_in": True, "email": "eve@elsewhere.com", "name": "Eve"}
SIGNED_OUT = {"is_logged_in": False}


def test_a_stored_run_keeps_the_name_and_older_runs_read_as_nobody(tmp_path):
    store = RunStore(tmp_path)
    named = store.save("a" * 64, make_result(), torch.eye(10, dtype=torch.int64), "fp", trained_by="Ana Lima")
    plain = store.save("b" * 64, make_result(seed=1), torch.eye(10, dtype=torch.int64), "fp")
    assert named.trained_by == "Ana Lima" and plain.trained_by == ""
    assert json.loads((named.path / "run.json").read_text())["trained_by"] == "Ana Lima"
    record = json.loads((plain.path / "run.json").read_text())
    del record["trained_by"]  # a run stored before sign-in existed
    (plain.path / "run.json").write_text(json.dumps(record))
    assert RunStore(tmp_path).get("b" * 64).trained_by == ""


def test_the_job_stores_the_name_of_who_started_it_and_a_joiner_does_not_replace_it(tmp_path, monkeypatch):
    fake = ControlledTrain()
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=fake)
    job = jobs.start(TWO_EPOCHS, session="s1", trained_by="Ana Lima")
    assert fake.started.wait(30)
    assert jobs.start(TWO_EPOCHS, session="s2", trained_by="Bob") is job  # identical settings join
    fake.release.set()
    assert job.wait(30)
    assert RunStore(tmp_path).get(job.key).trained_by == "Ana Lima"
    other = jobs.start(TrainConfig(epochs=1, seed=5), session="s3")  # sign-in off: no name
    assert other.wait(30)
    assert RunStore(tmp_path).get(other.key).trained_by == ""


def _start_button():
    from dashboard.lecture import start_button

    start_button()


def _press_start():
    import streamlit as st

    from dashboard.lecture import CODE, NOTICE, start_lecture

    start_lecture()
    st.text(f"room={st.session_state.get(CODE)} notice={st.session_state.get(NOTICE)}")


def lecture_app(script, secrets: dict | None, user: dict | None) -> AppTest:
    at = AppTest.from_function(script, default_timeout=30)
    for name, section in (secrets or {}).items():
        at.secrets[name] = section
    if user is not None:
        at.user = user
    return at.run()


@pytest.mark.parametrize(
    ("secrets", "user", "may"),
    [(None, None, True), (ON, ANA, True), (ON, EVE, False), (ON, SIGNED_OUT, False)],
)
def test_only_a_signed_in_user_on_the_list_starts_a_lecture(env, secrets, user, may):
    at = lecture_app(_start_button, secrets, user)
    assert not at.exception
    assert ("Start a lecture" in [b.label for b in at.sidebar.button]) is may
    at = lecture_app(_press_start, secrets, user)  # the callback checks too, not only the button
    assert not at.exception
    [shown] = [t.value for t in at.text]
    if may:
        assert shown.startswith("room=") and "room=None" not in shown
    else:
        assert shown == "room=None notice=Sign in with an account on the access list to start a lecture."


def calibration(secrets: dict | None, user: dict | None) -> AppTest:
    at = page_test(ROOT / "pages" / "calibration.py", timeout=120)
    for name, section in (secrets or {}).items():
        at.secrets[name] = section
    if user is not None:
        at.user = user
    return at.run()


@pytest.mark.parametrize(("secrets", "user", "may"), [(None, None, True), (ON, ANA, True), (ON, EVE, False)])
def test_only_a_signed_in_user_on_the_list_fits_the_best_linear_model(env, secrets, user, may):
    at = calibration(secrets, user)
    assert not at.exception
    assert ("cal_fit_ceiling" in [b.key for b in at.button]) is may
    if not may:
        assert "Sign in with an account on the access list to fit it from here." in [i.value for i in at.info]


def test_the_compared_runs_show_who_trained_them(env, fmnist):
    store = RunStore(env)
    for seed, name in ((0, "Ana Lima"), (1, "")):
        config = TrainConfig(epochs=1, batch_size=2048, seed=seed).validated()
        w, b = calibration_weights(seed, 0.05)
        result = training.TrainResult(
            config, (training.EpochMetrics(1, 0.5, 0.8, 0.8, 0.1),), "finished", "", w, b, 1.0
        )
        store.save(run_key(config, fmnist.fingerprint), result, torch.eye(10, dtype=torch.int64), fmnist.fingerprint,
                   trained_by=name)  # fmt: skip
    at = page_test(ROOT / "pages" / "calibration.py", timeout=120).run()
    assert not at.exception
    table = at.dataframe[-1].value
    assert list(table["trained by"]) in (["Ana Lima", "–"], ["–", "Ana Lima"])
    at = page_test(ROOT / "pages" / "training.py", timeout=120)
    at.session_state["train_compare"] = [k for k in (r.key for r in store.list_runs())]
    at.run()
    assert not at.exception
    [compare] = [d.value for d in at.dataframe if "trained by" in d.value.columns]
    assert sorted(compare["trained by"]) == ["Ana Lima", "–"]
