"""Lecture rooms written by several processes at once: no class run is lost."""

from __future__ import annotations

import multiprocessing

import pytest

from softmax_core.lecture_rooms import RoomStore

pytestmark = pytest.mark.process


def _record_many(root, code, start):
    store = RoomStore(root)
    for i in range(start, start + 15):
        store.record_run(code, f"{i:064x}", "student-" + "x" * 8)


def test_records_from_several_processes_are_all_kept(tmp_path):
    store = RoomStore(tmp_path)
    room, _ = store.create("a")
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_record_many, args=(tmp_path, room.code, 100 * i)) for i in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert len(store.class_runs(room.code)) == 45
