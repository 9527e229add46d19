"""The training page in a lecture (AppTest): a student's stored run joins the room; the lecturer's toggle draws the room's runs."""

from __future__ import annotations

import json
import secrets

import pytest

from softmax_core.figures.training_figures import config_label
from softmax_core.lecture_rooms import RoomStore
from softmax_core.training import TrainConfig
from tests.apptest_helpers import page_test
from tests.conftest import ROOT
from tests.factories_training import store_fake_run

pytestmark = pytest.mark.app

PAGE = str(ROOT / "pages" / "training.py")


def _as_follower(at, code: str, following: bool, nickname: str = ""):
    at.session_state["_lecture_code"] = code
    at.session_state["_lecture_following"] = following
    at.session_state["_lecture_id"] = secrets.token_urlsafe(12)
    at.session_state["_lecture_nickname"] = nickname
    return at


def test_a_student_exploring_on_their_own_adds_the_run_on_screen_and_a_follower_does_not(env, fmnist):
    mine = store_fake_run(env, fmnist, TrainConfig(lr=0.3, batch_size=512, epochs=2))
    rooms = RoomStore(env)
    room, _ = rooms.create("lecturer")
    query = {"train_lr": "0.3", "train_batch_size": "512", "train_epochs": "2"}

    following = _as_follower(page_test(PAGE, query), room.code, following=True).run()
    assert not following.exception
    assert rooms.class_runs(room.code) == ()  # the run on screen is the lecturer's choice, not theirs

    exploring = _as_follower(page_test(PAGE, query), room.code, following=False, nickname="Bo").run()
    assert not exploring.exception
    [entry] = rooms.class_runs(room.code)
    assert (entry.key, entry.nickname) == (mine.key, "Bo")
    assert not exploring.get("checkbox") and not [t for t in exploring.toggle if t.label == "Show the class's runs"]


def test_the_lecturer_shows_only_her_rooms_runs(env, fmnist):
    ours = store_fake_run(env, fmnist, TrainConfig(lr=0.3, batch_size=512, epochs=2))
    theirs = store_fake_run(env, fmnist, TrainConfig(lr=0.02, batch_size=64, epochs=2))
    rooms = RoomStore(env)
    room, key = rooms.create("lecturer")
    other, _ = rooms.create("another lecturer")
    rooms.record_run(room.code, ours.key, secrets.token_urlsafe(12))
    rooms.record_run(room.code, ours.key, secrets.token_urlsafe(12), nickname="Ann")
    rooms.record_run(other.code, theirs.key, secrets.token_urlsafe(12))

    at = page_test(PAGE)
    at.session_state["_lecture_code"], at.session_state["_lecture_key"] = room.code, key
    at.run()
    at.toggle(key="lecture_class_runs").set_value(True).run()
    assert not at.exception
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    [figure] = [s for s in specs if s["layout"].get("title", {}).get("text", "").startswith("The class's runs")]
    drawn = [t for t in figure["data"] if t.get("x")]
    assert {k for t in drawn for k in t["customdata"]} == {ours.key}
    title = figure["layout"]["title"]["text"].replace("<br>", " ").replace("\u00a0", " ")
    assert title == "The class's runs: 1 setting, 2 choices"
    [table] = [d for d in at.dataframe if "inside the model" in d.value.columns]
    assert list(table.value["inside the model"]) == [f"/inside_model?run={ours.key}"]
    assert list(table.value["students"]) == [2]

    at.checkbox(key="lecture_class_curves").check().run()
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    [curves] = [s for s in specs if s["layout"].get("title", {}).get("text") == "train loss"]
    assert [t["name"] for t in curves["data"] if t.get("x")] == [config_label(ours.config)]
