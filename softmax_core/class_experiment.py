"""A lecture room's class experiment: the runs its students chose, read from the run store."""

from __future__ import annotations

from softmax_core.figures.class_figures import ClassPoint, class_points
from softmax_core.lecture_rooms import RoomStore
from softmax_core.run_store import RunStore


def room_points(rooms: RoomStore, store: RunStore, code: str) -> list[ClassPoint]:
    """One point per stored run the room's students trained or opened; runs of other rooms never show."""
    entries = rooms.class_runs(code)
    runs = {key: run for key in {entry.key for entry in entries} if (run := store.get(key)) is not None}
    return class_points(entries, runs)
