"""Which poller a job's progress gets: once a second while its start is far, four times a second otherwise."""

from __future__ import annotations

import dataclasses

import pytest

from dashboard.training_jobs import POLL_SECONDS, SLOW_POLL_SECONDS, polls_slowly
from softmax_core.training import Progress, TrainConfig
from softmax_core.training_queue import JobSnapshot

pytestmark = pytest.mark.unit

QUEUED = JobSnapshot(
    key="k",
    config=TrainConfig(),
    state="running",
    progress=None,
    history=(),
    result=None,
    error="",
    cached=False,
    waiting="Queued: place 3, starts in about 12 s.",
    place=3,
    wait_seconds=12.0,
)


def test_the_slow_poll_is_slower_than_the_progress_poll():
    assert SLOW_POLL_SECONDS > POLL_SECONDS


@pytest.mark.parametrize(
    "change, slow",
    [
        ({}, True),  # far back in the queue
        ({"wait_seconds": 2 * SLOW_POLL_SECONDS + 0.5}, True),
        ({"wait_seconds": 2 * SLOW_POLL_SECONDS}, False),  # about to start: the fast poller sees it start
        ({"wait_seconds": 0.0, "place": 1}, False),  # submitted to a free slot
        ({"progress": Progress(1, 10, 0, 235, ()), "place": 0, "wait_seconds": 0.0}, False),  # computing
        ({"state": "done"}, False),
    ],
)
def test_only_a_job_whose_start_is_far_is_polled_slowly(change, slow):
    assert polls_slowly(dataclasses.replace(QUEUED, **change)) is slow
