"""The training process: the same run as training in the server, Stop, a failure, a killed child, and as a job."""

from __future__ import annotations

import os
import signal
import threading

import pytest
import torch

from softmax_core.jobs import TrainingJobs
from softmax_core.run_store import RunStore
from softmax_core.train_or_load import train_or_load
from softmax_core.training import TrainConfig
from softmax_core.training_process import ChildDied, TrainingProcess

SMALL = TrainConfig(epochs=2, batch_size=2048, seed=4)


@pytest.fixture(scope="module")
def process(shared_data_dir):
    trainer = TrainingProcess(shared_data_dir)
    trainer.start()
    yield trainer
    trainer.close()


def test_the_child_trains_the_same_run_as_the_server_would(process, fmnist, tmp_path):
    reports = []
    outcome = process.train_or_load(RunStore(tmp_path / "child"), SMALL, fmnist, progress=reports.append)
    here = train_or_load(RunStore(tmp_path / "here"), SMALL, fmnist)
    assert not outcome.cached and outcome.run.status == "finished"
    assert outcome.run.history[-1].epoch == 2
    for theirs, ours in zip(outcome.run.history, here.run.history, strict=True):
        assert (theirs.train_loss, theirs.train_acc, theirs.test_acc) == (
            ours.train_loss,
            ours.train_acc,
            ours.test_acc,
        )
    for theirs, ours in zip(outcome.run.load_weights(), here.run.load_weights(), strict=True):
        assert torch.equal(theirs, ours)
    assert torch.equal(outcome.run.confusion, here.run.confusion)
    assert [len(r.history) for r in reports if r.batch == r.batches] == [1, 2]  # every epoch's end arrives
    # Stored where the server reads: asking again is served from the store, by either path.
    assert process.train_or_load(RunStore(tmp_path / "child"), SMALL, fmnist).cached
    assert train_or_load(RunStore(tmp_path / "child"), SMALL, fmnist).cached


def test_stop_reaches_the_child_and_nothing_is_stored(process, fmnist, tmp_path):
    stop = threading.Event()
    config = TrainConfig(epochs=3, batch_size=16)  # about 20 s a run: Stop comes long before the end
    outcome = process.train_or_load(
        RunStore(tmp_path), config, fmnist, progress=lambda p: stop.set(), should_stop=stop.is_set
    )
    assert outcome.run.status == "cancelled" and "Stopped by request" in outcome.run.message
    assert RunStore(tmp_path).list_runs() == []
    # The child goes on serving: the next job trains.
    assert process.train_or_load(RunStore(tmp_path), SMALL, fmnist).run.status == "finished"


def test_a_failure_in_the_child_is_raised_in_the_server_with_its_type(process, fmnist, tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(OSError):
        process.train_or_load(RunStore(not_a_folder), SMALL, fmnist)
    assert process.train_or_load(RunStore(tmp_path / "runs"), SMALL, fmnist).run.status == "finished"


def test_a_killed_child_fails_its_job_and_the_next_job_gets_a_new_one(process, fmnist, tmp_path):
    process.start()
    first = process.pid()
    kill = threading.Timer(0.5, lambda: os.kill(first, signal.SIGKILL))
    kill.start()
    with pytest.raises(ChildDied, match="ended before the training did"):
        process.train_or_load(RunStore(tmp_path), TrainConfig(epochs=3, batch_size=16), fmnist)
    kill.join()
    assert process.train_or_load(RunStore(tmp_path), SMALL, fmnist).run.status == "finished"
    assert process.pid() not in (None, first)


def test_jobs_computed_in_the_process_end_stored_with_their_progress(process, fmnist, tmp_path):
    jobs = TrainingJobs(RunStore(tmp_path), fmnist, process=process)
    try:
        job = jobs.start(TrainConfig(epochs=2, batch_size=4096, seed=9), session="a")
        assert job.wait(120)
        snap = job.snapshot()
        assert snap.state == "done" and not snap.cached and len(snap.history) == 2
        assert snap.progress is not None and snap.progress.epoch == 2
        assert RunStore(tmp_path).get(job.key) is not None
    finally:
        jobs.shutdown()
