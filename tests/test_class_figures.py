"""The class experiment: points from a store holding runs of two rooms, and the figure drawn from them."""

from __future__ import annotations

import html
import secrets

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from softmax_core.class_experiment import room_points
from softmax_core.figures.class_figures import (
    DIVERGED_FLOOR,
    ClassPoint,
    as_plotly_text,
    class_experiment_alt,
    class_experiment_figure,
)
from softmax_core.figures.style import PALETTE_SIZE, drawn_traces
from softmax_core.lecture_rooms import RoomStore, clean_nickname
from softmax_core.run_store import RunStore, run_key
from softmax_core.training import EpochMetrics, TrainConfig, TrainResult

pytestmark = pytest.mark.unit

FINGERPRINT = "fp-class"


def stored(store: RunStore, config: TrainConfig, accuracies, status="finished", diverged_at=None) -> str:
    """A run saved to the store as training would save it: its key."""
    history = tuple(
        EpochMetrics(epoch=i + 1, train_loss=1.0 / (i + 1), train_acc=acc, test_acc=acc, seconds=1.0)
        for i, acc in enumerate(accuracies)
    )
    result = TrainResult(
        config=config,
        history=history,
        status=status,
        message=status,
        weight=torch.zeros(784, 10),
        bias=torch.zeros(10),
        train_seconds=2.0,
        diverged_at=diverged_at,
        batch_losses=(2.3, float("inf")) if status == "diverged" else (),
    )
    key = run_key(config, FINGERPRINT)
    store.save(key, result, torch.zeros(10, 10, dtype=torch.int64), FINGERPRINT)
    return key


@pytest.fixture
def two_rooms(tmp_path):
    store, rooms = RunStore(tmp_path), RoomStore(tmp_path)
    chapter = stored(store, TrainConfig(epochs=2), [0.80, 0.83])
    small_lr = stored(store, TrainConfig(lr=0.01, batch_size=64, epochs=2), [0.70, 0.76])
    blown = stored(store, TrainConfig(lr=50.0, epochs=2), [float("nan")], status="diverged", diverged_at=(1, 7))
    other_rooms_run = stored(store, TrainConfig(lr=0.3, batch_size=1024, epochs=2), [0.79, 0.81])
    never_chosen = stored(store, TrainConfig(lr=0.05, epochs=1), [0.78])
    ours, _ = rooms.create("lecturer A")
    theirs, _ = rooms.create("lecturer B")
    ann, bo, cy = (secrets.token_urlsafe(12) for _ in range(3))
    rooms.record_run(ours.code, chapter, ann, nickname="Ann")
    rooms.record_run(ours.code, chapter, bo)
    rooms.record_run(ours.code, small_lr, bo)
    rooms.record_run(ours.code, blown, cy)
    rooms.record_run(ours.code, "ee" * 32, cy)  # a training still running: not stored yet
    rooms.record_run(theirs.code, other_rooms_run, ann)
    return (
        store,
        rooms,
        ours.code,
        theirs.code,
        dict(chapter=chapter, small_lr=small_lr, blown=blown, other=other_rooms_run, never=never_chosen),
    )


def test_only_the_rooms_runs_show_with_how_many_chose_them(two_rooms):
    store, rooms, ours, theirs, keys = two_rooms
    points = {p.key: p for p in room_points(rooms, store, ours)}
    assert set(points) == {keys["chapter"], keys["small_lr"], keys["blown"]}
    assert points[keys["chapter"]].students == 2 and points[keys["chapter"]].names == ("Ann",)
    assert points[keys["chapter"]].test_acc == pytest.approx(0.83)
    assert (points[keys["small_lr"]].lr, points[keys["small_lr"]].batch_size) == (0.01, 64)
    blown = points[keys["blown"]]
    assert blown.diverged and blown.test_acc is None and blown.diverged_at == (1, 7)
    assert [p.key for p in room_points(rooms, store, theirs)] == [keys["other"]]


def test_the_figure_draws_accuracy_against_log_lr_and_log_batch_size(two_rooms):
    store, rooms, ours, _, keys = two_rooms
    fig = class_experiment_figure(room_points(rooms, store, ours))
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis2.type == "log"
    by = {(t.name, t.xaxis): t for t in drawn_traces(fig)}
    finished_lr, diverged_lr = by[("finished", "x")], by[("diverged", "x")]
    assert list(finished_lr.x) == [0.01, 0.1] and list(finished_lr.y) == pytest.approx([0.76, 0.83])
    assert list(finished_lr.customdata) == [keys["small_lr"], keys["chapter"]]
    assert list(finished_lr.text) == ["", "2"]  # identical settings: one point, labelled with the count
    assert list(by[("finished", "x2")].x) == [64, 256]
    assert list(diverged_lr.x) == [50.0] and list(diverged_lr.y) == [DIVERGED_FLOOR]
    assert diverged_lr.marker.symbol == "x" and "diverged in epoch 1, batch 7" in diverged_lr.hovertext[0]
    assert "Ann" in finished_lr.hovertext[1]
    # wrapped to fit a phone, each count kept with its noun (a no-break space)
    assert fig.layout.title.text == "The class's runs: 3\u00a0settings,<br>4\u00a0choices"
    # no colour of our own; each outcome takes one theme colour slot in both panels
    slots = {(t.name, t.xaxis): i % PALETTE_SIZE for i, t in enumerate(fig.data) if t in drawn_traces(fig)}
    assert (
        slots[("finished", "x")] == slots[("finished", "x2")] != slots[("diverged", "x")] == slots[("diverged", "x2")]
    )
    assert all(t.marker.color is None for t in fig.data)


def _point_chosen_by(*names: str) -> ClassPoint:
    return ClassPoint("k" * 64, "scratch, lr 0.1, batch 256", 0.1, 256, 0.8, None, False, len(names), names)


def _hover_of(point: ClassPoint) -> str:
    return next(t for t in drawn_traces(class_experiment_figure([point])) if t.name == "finished").hovertext[0]


def test_a_nickname_with_markup_is_shown_as_typed_in_the_hover():
    """Plotly reads <b>, <i>, <span style> and <a href> in a label as markup; a student's nickname must not style
    the lecturer's projector, so its characters go in as entities, which plotly shows as the characters."""
    hover = _hover_of(_point_chosen_by("<b>Ann</b>", 'A & <a href="x">B</a>'))
    assert hover.endswith('2 students: &lt;b&gt;Ann&lt;/b&gt;, A &amp; &lt;a href="x"&gt;B&lt;/a&gt;')
    assert "<b>" not in hover and "<a" not in hover


@settings(deadline=None)  # the first draw builds plotly's subplots once (over 200 ms)
@given(st.text(max_size=40))
def test_any_nickname_adds_no_markup_and_reads_back_as_typed(typed):
    name = clean_nickname(typed)
    shown = as_plotly_text(name)
    assert html.unescape(shown) == name  # what the entities decode to (the standard library's reading)
    hover = _hover_of(_point_chosen_by(name))
    assert "<" not in hover.replace("<br>", "")  # the only tags are the figure's own line breaks


def test_an_empty_room_draws_empty_axes():
    fig = class_experiment_figure([])
    assert all(len(t.x) == 0 for t in fig.data)
    assert fig.layout.title.text == "The class's runs"


def test_the_text_alternative_names_the_best_settings_the_counts_and_the_diverged(two_rooms):
    store, rooms, ours, _, keys = two_rooms
    points = room_points(rooms, store, ours)
    text = class_experiment_alt(points)
    chapter, small = store.get(keys["chapter"]), store.get(keys["small_lr"])
    assert "3 settings from 4 choices" in text  # the chapter's setting chosen twice counts once
    best_first = text.index(f"{chapter.history[-1].test_acc:.1%}") < text.index(f"{small.history[-1].test_acc:.1%}")
    assert best_first and "(2 students)" in text
    assert "1 diverged (learning rate 50)" in text
    assert class_experiment_alt([]) == "The class's runs: none yet."
