"""Background trainings: one job per key, cancel, results land in the store, failures reported."""

from __future__ import annotations

import threading

import pytest

from softmax_core import training
from softmax_core.data import load_fashion_mnist
from softmax_core.jobs import JobSnapshot, TrainingJobs
from softmax_core.run_store import RunStore, StoredRun, run_key
from softmax_core.training import Progress, TrainConfig, TrainResult
from tests.test_run_store import make_result
from tests.test_run_store import fake_data as _fake_data


class ControlledTrain:
    """A stand-in for training.train that reports one epoch, then waits to be released or stopped."""

    def __init__(self):
        self.calls = 0
        self.started = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, config, data, progress=None, should_stop=None, progress_every=20):
        with self._lock:
            self.calls += 1
        first = make_result(config=config, losses=(0.9,)).history
        if progress is not None:
            progress(Progress(epoch=1, epochs=config.epochs, batch=10, batches=10, history=first))
        self.started.set()
        while not self.release.wait(0.02):
            if should_stop is not None and should_stop():
                result = make_result(config=config, status="cancelled", losses=(0.9,))
                return result
        return make_result(config=config, losses=(0.9, 0.7))


def test_start_twice_gives_the_same_job_and_one_training(tmp_path, monkeypatch):
    fake = ControlledTrain()
    monkeypatch.setattr(training, "train", fake)
    jobs = TrainingJobs(RunStore(tmp_path), _fake_data())
    config = TrainConfig(epochs=2)
    job = jobs.start(config)
    assert fake.started.wait(30)
    assert jobs.start(TrainConfig(epochs=2.0, impl="Scratch")) is job
    assert jobs.get(job.key) is job and job.key == run_key(config, "fp-test")
    snap = job.snapshot()
    assert isinstance(snap, JobSnapshot)
    assert snap.state == "running" and not snap.finished and snap.result is None
    assert snap.progress.epoch == 1 and [m.train_loss for m in snap.history] == [0.9]
    assert snap.waiting == ""
    fake.release.set()
    assert job.wait(30)
    assert fake.calls == 1
    done = job.snapshot()
    assert done.state == "done" and not done.cached and done.finished
    assert isinstance(done.result, StoredRun) and [m.train_loss for m in done.history] == [0.9, 0.7]


def test_finished_job_result_is_in_the_store_and_restarting_reads_it(tmp_path, fmnist):
    store = RunStore(tmp_path)
    jobs = TrainingJobs(store, fmnist)
    config = TrainConfig(epochs=1, batch_size=2048)
    job = jobs.start(config)
    assert job.wait(300)
    snap = job.snapshot()
    assert snap.state == "done" and snap.error == "" and not snap.cached
    stored = store.get(job.key)
    assert isinstance(stored, StoredRun) and stored.history == snap.result.history == snap.history
    assert 0.5 < stored.history[0].test_acc < 1.0
    again = jobs.start(config)
    assert again is not job and again.wait(60)
    snap2 = again.snapshot()
    assert snap2.state == "done" and snap2.cached and snap2.result.history == stored.history


def test_cancel_stops_a_real_training_and_stores_nothing(tmp_path, fmnist):
    store = RunStore(tmp_path)
    jobs = TrainingJobs(store, fmnist)
    job = jobs.start(TrainConfig(epochs=50, batch_size=256))
    # wait for the first progress report, then stop
    for _ in range(3000):
        if job.snapshot().progress is not None or job.wait(0.05):
            break
    assert job.snapshot().progress is not None, job.snapshot()
    job.cancel()
    assert job.wait(60)
    snap = job.snapshot()
    assert snap.state == "cancelled"
    assert isinstance(snap.result, TrainResult) and snap.result.status == "cancelled"
    assert len(snap.result.history) < 50
    assert store.list_runs() == [] and store.get(job.key) is None
    # starting the same settings again after a cancel trains anew (a new job)
    assert jobs.start(TrainConfig(epochs=50, batch_size=256)) is not job
    jobs.get(job.key).cancel()
    assert jobs.get(job.key).wait(60)


def test_failure_becomes_a_message_not_a_crash(tmp_path, monkeypatch):
    def broken_train(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(training, "train", broken_train)
    jobs = TrainingJobs(RunStore(tmp_path), _fake_data())
    job = jobs.start(TrainConfig())
    assert job.wait(30)
    snap = job.snapshot()
    assert snap.state == "failed" and "out of memory" in snap.error and snap.result is None


def test_bad_config_is_refused_before_a_job_starts(tmp_path):
    jobs = TrainingJobs(RunStore(tmp_path), _fake_data())
    with pytest.raises(ValueError, match="batch size"):
        jobs.start(TrainConfig(batch_size=0))
    assert jobs.running() == []


def test_second_key_waits_for_a_slot_and_can_be_cancelled_while_waiting(tmp_path, monkeypatch):
    fake = ControlledTrain()
    monkeypatch.setattr(training, "train", fake)
    store = RunStore(tmp_path)
    jobs = TrainingJobs(store, _fake_data(), max_parallel=1)
    first = jobs.start(TrainConfig(seed=1))
    assert fake.started.wait(30)
    queued = jobs.start(TrainConfig(seed=2))
    assert queued is not first
    snap = queued.snapshot()
    assert snap.state == "running" and snap.progress is None and "slot" in snap.waiting
    assert {j.key for j in jobs.running()} == {first.key, queued.key}
    queued.cancel()
    assert queued.wait(30)
    assert queued.snapshot().state == "cancelled" and queued.snapshot().result is None
    fake.release.set()
    assert first.wait(30)
    assert fake.calls == 1
    assert [r.key for r in store.list_runs()] == [first.key]


def test_snapshot_is_a_frozen_copy(tmp_path, monkeypatch):
    fake = ControlledTrain()
    monkeypatch.setattr(training, "train", fake)
    job = TrainingJobs(RunStore(tmp_path), _fake_data()).start(TrainConfig())
    assert fake.started.wait(30)
    before = job.snapshot()
    fake.release.set()
    assert job.wait(30)
    assert before.state == "running" and job.snapshot().state == "done"
    with pytest.raises(AttributeError):
        before.state = "done"
    assert int(job.snapshot().result.confusion.sum()) == 50  # the 50 fake test images
