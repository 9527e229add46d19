"""Background trainings: one job per key, a fair queue with bounds, one job per student, Stop per student, a cost
bound, cancel, failures."""

from __future__ import annotations

import itertools
import threading

import pytest
import torch

from softmax_core import training
from softmax_core import training_queue as jobs_module
from softmax_core.run_store import RunStore, StoredRun, run_key
from softmax_core.training import Progress, TrainConfig, TrainResult
from softmax_core.training_queue import (
    DEFAULT_MAX_COST,
    DEFAULT_PER_ADDRESS,
    DEFAULT_QUEUED,
    JobSnapshot,
    QueueFull,
    SessionBusy,
    TooCostly,
    TrainingJobs,
    training_cost,
)
from tests.factories_training import ControlledTrain, make_result, queue_data

pytestmark = pytest.mark.unit


def test_start_twice_gives_the_same_job_and_one_training(tmp_path, monkeypatch):
    fake = ControlledTrain()
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=fake)
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

    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=broken_train)
    job = jobs.start(TrainConfig())
    assert job.wait(30)
    snap = job.snapshot()
    assert snap.state == "failed" and "out of memory" in snap.error and snap.result is None


def test_bad_config_is_refused_before_a_job_starts(tmp_path):
    jobs = TrainingJobs(RunStore(tmp_path), queue_data())
    with pytest.raises(ValueError, match="batch size"):
        jobs.start(TrainConfig(batch_size=0))
    assert jobs.running() == []


def test_second_key_waits_for_a_slot_and_can_be_cancelled_while_waiting(tmp_path, monkeypatch):
    fake = ControlledTrain()
    store = RunStore(tmp_path)
    jobs = TrainingJobs(store, queue_data(), max_parallel=1, trainer=fake)
    first = jobs.start(TrainConfig(seed=1))
    assert fake.started.wait(30)
    queued = jobs.start(TrainConfig(seed=2))
    assert queued is not first
    snap = queued.snapshot()
    assert snap.state == "running" and snap.progress is None and snap.place == 1 and "place 1" in snap.waiting
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
    job = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=fake).start(TrainConfig())
    assert fake.started.wait(30)
    before = job.snapshot()
    fake.release.set()
    assert job.wait(30)
    assert before.state == "running" and job.snapshot().state == "done"
    with pytest.raises(AttributeError):
        before.state = "done"
    assert int(job.snapshot().result.confusion.sum()) == 50  # the 50 fake test images


# ---------------------------------------------------------------- a class on one server


def test_thirty_configs_train_in_the_order_they_were_pressed_and_all_are_stored(tmp_path, monkeypatch):
    fake = ControlledTrain()
    store = RunStore(tmp_path)
    jobs = TrainingJobs(store, queue_data(), max_parallel=1, trainer=fake)
    seeds = [int(s) for s in torch.randperm(1000, generator=torch.Generator().manual_seed(3))[:30]]
    started = [jobs.start(TrainConfig(seed=seed), session=f"student-{i}") for i, seed in enumerate(seeds)]
    assert fake.started.wait(30)
    places = [job.snapshot().place for job in started]
    assert places == [0, *range(1, 30)]  # the first computes, the others wait in order
    waits = [job.snapshot().wait_seconds for job in started[1:]]
    assert all(a < b for a, b in itertools.pairwise(waits)), waits  # later in the queue, longer wait
    fake.release.set()
    assert all(job.wait(60) for job in started)
    assert fake.order == seeds
    assert all(job.snapshot().state == "done" for job in started)
    assert {r.key for r in store.list_runs()} == {job.key for job in started}


def test_identical_settings_join_one_training_from_other_sessions(tmp_path, monkeypatch):
    fake = ControlledTrain()
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=fake)
    first = jobs.start(TrainConfig(seed=5), session="a")
    assert fake.started.wait(30)
    assert jobs.start(TrainConfig(seed=5), session="b") is first
    assert jobs.of_session("a") is first and jobs.of_session("b") is first
    fake.release.set()
    assert first.wait(30) and fake.calls == 1
    assert jobs.of_session("a") is None  # ended: the session may start another
    assert jobs.start(TrainConfig(seed=5), session="a").snapshot().cached  # now stored: shown at once


def test_one_session_has_at_most_one_training_and_may_cancel_it(tmp_path, monkeypatch):
    fake = ControlledTrain()
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=fake)
    first = jobs.start(TrainConfig(seed=1), session="a")
    assert fake.started.wait(30)
    queued = jobs.start(TrainConfig(seed=2), session="b")
    with pytest.raises(SessionBusy) as busy:
        jobs.start(TrainConfig(seed=3), session="a")
    assert busy.value.job is first
    with pytest.raises(SessionBusy) as busy:
        jobs.start(TrainConfig(seed=4), session="b")  # a queued job counts too
    assert busy.value.job is queued
    assert jobs.start(TrainConfig(seed=1), session="a") is first  # pressing Train again on the same settings
    busy.value.job.cancel()  # "cancel the first": a queued job leaves the queue at once
    assert queued.wait(5) and queued.snapshot().state == "cancelled"
    other = jobs.start(TrainConfig(seed=4), session="b")
    assert other.snapshot().place == 1
    fake.release.set()
    assert first.wait(30) and other.wait(30)
    assert fake.order == [1, 4]


def test_cost_bound_refuses_with_a_sentence_naming_the_bound(tmp_path, monkeypatch):
    fake = ControlledTrain()
    fake.release.set()
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=fake)
    assert jobs.max_cost == DEFAULT_MAX_COST
    chapter = TrainConfig()  # 10 epochs of 235 steps of 256
    assert training_cost(chapter) == 10 * (60_000 + 60 * 235)
    assert training_cost(TrainConfig(batch_size=1, epochs=1)) > 10 * training_cost(
        TrainConfig(batch_size=256, epochs=1)
    )
    with pytest.raises(TooCostly, match=f"at most {DEFAULT_MAX_COST:,} per training"):
        jobs.start(TrainConfig(batch_size=1, epochs=200), session="a")
    assert jobs.running() == [] and fake.calls == 0
    assert jobs.start(chapter, session="a").wait(30) and fake.calls == 1
    monkeypatch.setenv("SOFTMAX_MAX_TRAINING_COST", "1000")
    with pytest.raises(TooCostly, match="at most 1,000 per"):
        TrainingJobs(RunStore(tmp_path / "other"), queue_data(), trainer=fake).start(TrainConfig(epochs=1))
    # a stored run is shown whatever the bound: it costs nothing
    assert TrainingJobs(RunStore(tmp_path), queue_data(), max_cost=1, trainer=fake).start(chapter).snapshot().cached


def test_the_wait_counts_down_from_measured_epochs(tmp_path, monkeypatch):
    gate = threading.Event()

    def epochs_of_one_second_each(config, data, progress=None, should_stop=None, progress_every=20):
        history = ()
        for epoch in range(1, config.epochs + 1):
            history = (*history, training.EpochMetrics(epoch, 0.5, 0.8, 0.8, seconds=1.0))
            progress(Progress(epoch, config.epochs, 10, 10, history))
            while not gate.wait(0.01):
                if should_stop():
                    return make_result(config=config, status="cancelled")
            gate.clear()
        return make_result(config=config, losses=(0.5,) * config.epochs)

    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=epochs_of_one_second_each)
    running = jobs.start(TrainConfig(epochs=4, seed=1))
    queued = jobs.start(TrainConfig(epochs=4, seed=2))
    for _ in range(500):
        if running.snapshot().history:
            break
        threading.Event().wait(0.01)
    first = queued.snapshot().wait_seconds
    gate.set()  # one more epoch done
    for _ in range(500):
        if len(running.snapshot().history) >= 2:
            break
        threading.Event().wait(0.01)
    second = queued.snapshot().wait_seconds
    assert 0 < second < first
    assert queued.snapshot().waiting.startswith("Queued: place 1, starts in about ")
    running.cancel()
    queued.cancel()
    assert running.wait(10) and queued.wait(10)


def test_a_started_job_reports_progress_before_its_first_batches(tmp_path, monkeypatch):
    release = threading.Event()

    def silent_train(config, data, progress=None, should_stop=None, progress_every=20):
        release.wait(30)
        return make_result(config=config)

    job = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=silent_train).start(
        TrainConfig(epochs=2, batch_size=1000)
    )
    for _ in range(500):
        if job.snapshot().progress is not None:
            break
        threading.Event().wait(0.01)
    progress = job.snapshot().progress
    release.set()
    assert progress is not None and (progress.epoch, progress.batch, progress.batches) == (1, 0, 60)
    assert job.wait(30)


def test_ended_jobs_are_let_go_beyond_a_bound(tmp_path, monkeypatch):
    fake = ControlledTrain()
    fake.release.set()
    monkeypatch.setattr(jobs_module, "KEEP_ENDED", 2)
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=fake)
    started = [jobs.start(TrainConfig(seed=seed), session=f"s{seed}") for seed in range(5)]
    assert all(job.wait(30) for job in started)
    assert jobs.get(started[0].key) is None and jobs.get(started[-1].key) is started[-1]
    assert fake.calls == 5 and len(RunStore(tmp_path).list_runs()) == 5  # forgotten by the queue, kept in the store
    assert jobs.start(TrainConfig(seed=0)).snapshot().cached


# ---------------------------------------------------------------- shared jobs: Stop takes one student out


def test_stop_takes_one_student_out_and_the_job_goes_on_for_the_others(tmp_path, monkeypatch):
    fake = ControlledTrain()
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=fake)
    job = jobs.start(TrainConfig(seed=5), session="a")
    assert fake.started.wait(30)
    assert jobs.start(TrainConfig(seed=5), session="b") is job and job.snapshot().waiters == 2
    assert jobs.leave(job, "a") is False  # a's Stop: b still waits
    assert job.is_active() and not job.cancel_requested() and job.snapshot().waiters == 1
    assert not jobs.is_waiting(job, "a") and jobs.is_waiting(job, "b")
    assert jobs.of_session("a") is None and jobs.of_session("b") is job
    other = jobs.start(TrainConfig(seed=6), session="a")  # a is free to train something else (queued)
    assert other is not job and other.snapshot().place == 1
    fake.release.set()
    assert job.wait(30) and job.snapshot().state == "done"
    assert other.wait(30) and fake.order == [5, 6]


def test_the_job_stops_when_its_last_student_stops_waiting(tmp_path, monkeypatch):
    fake = ControlledTrain()
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=fake)
    job = jobs.start(TrainConfig(seed=5), session="a")
    assert fake.started.wait(30)
    jobs.start(TrainConfig(seed=5), session="b")
    assert jobs.leave(job, "b") is False
    assert jobs.leave(job, "b") is False  # leaving twice changes nothing
    assert jobs.leave(job, "a") is True
    assert job.wait(30) and job.snapshot().state == "cancelled"
    assert RunStore(tmp_path).get(job.key) is None


def test_a_queued_job_nobody_waits_for_leaves_the_queue_at_once(tmp_path, monkeypatch):
    fake = ControlledTrain()
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=fake)
    first = jobs.start(TrainConfig(seed=1), session="a")
    assert fake.started.wait(30)
    queued = jobs.start(TrainConfig(seed=2), session="b")
    assert jobs.leave(queued, "b") is True
    assert queued.wait(5) and queued.snapshot().state == "cancelled" and queued.snapshot().result is None
    fake.release.set()
    assert first.wait(30) and fake.order == [1]


def test_twelve_students_join_the_fit_and_eleven_stops_do_not_end_it(tmp_path, monkeypatch):
    """A hostile viewer who joins and stops over and over never stops a job that others wait for."""
    fake = ControlledTrain()
    store = RunStore(tmp_path)
    jobs = TrainingJobs(store, queue_data(), trainer=fake)
    students = [f"student-{i}" for i in range(12)]
    fit = [jobs.start(TrainConfig(seed=9), session=s) for s in students][0]
    assert fake.started.wait(30) and fit.snapshot().waiters == 12
    for _ in range(3):  # the same viewer, again and again
        jobs.start(TrainConfig(seed=9), session="hostile")
        assert jobs.leave(fit, "hostile") is False
    for student in students[:11]:
        assert jobs.leave(fit, student) is False
    assert fit.is_active() and not fit.cancel_requested() and fit.snapshot().waiters == 1
    fake.release.set()
    assert fit.wait(30) and fit.snapshot().state == "done" and store.get(fit.key) is not None
    assert fake.calls == 1


def test_a_job_started_without_a_session_is_not_stopped_by_a_student_who_joined_and_left(tmp_path, monkeypatch):
    fake = ControlledTrain()
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=fake)
    job = jobs.start(TrainConfig(seed=3))  # a script's job
    assert fake.started.wait(30)
    assert jobs.start(TrainConfig(seed=3), session="a") is job
    assert jobs.leave(job, "a") is False and job.is_active()
    fake.release.set()
    assert job.wait(30) and job.snapshot().state == "done"


# ---------------------------------------------------------------- a fair queue, bounded per address and in all


def test_a_client_with_forty_jobs_delays_the_next_student_by_one(tmp_path, monkeypatch):
    fake = ControlledTrain()
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=fake)
    flood = [jobs.start(TrainConfig(seed=100 + i), session=f"x{i}", address="203.0.113.9") for i in range(1)]
    assert fake.started.wait(30)
    flood += [jobs.start(TrainConfig(seed=100 + i), session=f"x{i}", address="203.0.113.9") for i in range(1, 40)]
    student = jobs.start(TrainConfig(seed=7), session="s", address="198.51.100.4")
    later = jobs.start(TrainConfig(seed=8), session="t", address="198.51.100.5")
    # every address's first queued job before anyone's second: rounds 1, 2, 3 of the flood around the two
    assert [j.snapshot().place for j in flood[1:4]] == [1, 4, 5]
    assert student.snapshot().place == 2 and later.snapshot().place == 3
    assert student.snapshot().wait_seconds < flood[2].snapshot().wait_seconds
    fake.release.set()
    assert all(j.wait(60) for j in [*flood, student, later])
    assert fake.order[:5] == [100, 101, 7, 8, 102]
    assert sorted(fake.order) == sorted([*range(100, 140), 7, 8])


def test_one_address_is_served_first_come_first_served(tmp_path, monkeypatch):
    fake = ControlledTrain()
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=fake)
    first = jobs.start(TrainConfig(seed=0), session="s0", address="192.0.2.1")
    assert fake.started.wait(30)
    rest = [jobs.start(TrainConfig(seed=i), session=f"s{i}", address="192.0.2.1") for i in range(1, 10)]
    assert [j.snapshot().place for j in rest] == list(range(1, 10))
    fake.release.set()
    assert all(j.wait(30) for j in [first, *rest]) and fake.order == list(range(10))


def test_the_queue_is_bounded_per_address_and_joining_is_never_refused(tmp_path, monkeypatch):
    fake = ControlledTrain()
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), max_per_address=3, trainer=fake)
    mine = [jobs.start(TrainConfig(seed=i), session=f"m{i}", address="203.0.113.9") for i in range(3)]
    assert fake.started.wait(30)
    with pytest.raises(QueueFull, match="Your network address already has 3 trainings queued or running"):
        jobs.start(TrainConfig(seed=50), session="m50", address="203.0.113.9")
    assert jobs.of_session("m50") is None and len(jobs.running()) == 3
    assert jobs.start(TrainConfig(seed=1), session="m51", address="203.0.113.9") is mine[1]  # joins: no new work
    assert jobs.start(TrainConfig(seed=60), session="o", address="198.51.100.4").is_active()  # another address
    fake.release.set()
    assert all(j.wait(30) for j in mine)
    assert jobs.start(TrainConfig(seed=50), session="m50", address="203.0.113.9").wait(30)  # room again


def test_the_queue_is_bounded_in_all(tmp_path, monkeypatch):
    fake = ControlledTrain()
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), max_queued=2, trainer=fake)
    computing = jobs.start(TrainConfig(seed=0), session="a", address="192.0.2.1")
    assert fake.started.wait(30)
    queued = [jobs.start(TrainConfig(seed=i), session=f"s{i}", address=f"192.0.2.{i + 1}") for i in (1, 2)]
    with pytest.raises(QueueFull, match="queue is full: 2 trainings are waiting"):
        jobs.start(TrainConfig(seed=3), session="s3", address="192.0.2.9")
    assert jobs.start(TrainConfig(seed=1), session="s4", address="192.0.2.9") is queued[0]  # joining still works
    assert jobs.start(TrainConfig(seed=0), session="s5", address="192.0.2.9") is computing
    fake.release.set()
    assert all(j.wait(30) for j in [computing, *queued])


def test_a_class_of_a_hundred_behind_one_address_may_all_queue_at_once(tmp_path, monkeypatch):
    fake = ControlledTrain()
    monkeypatch.delenv("SOFTMAX_QUEUE_PER_ADDRESS", raising=False)
    monkeypatch.delenv("SOFTMAX_QUEUE_TOTAL", raising=False)
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=fake)
    assert (jobs.max_per_address, jobs.max_queued) == (DEFAULT_PER_ADDRESS, DEFAULT_QUEUED)
    class_ = [jobs.start(TrainConfig(seed=i), session=f"s{i}", address="192.0.2.1") for i in range(100)]
    assert len(jobs.running()) == 100
    with pytest.raises(QueueFull):  # one more from that address than a class
        jobs.start(TrainConfig(seed=100), session="s100", address="192.0.2.1")
    jobs.shutdown()
    assert all(j.wait(30) for j in class_)


def test_the_bounds_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SOFTMAX_QUEUE_PER_ADDRESS", "7")
    monkeypatch.setenv("SOFTMAX_QUEUE_TOTAL", "11")
    jobs = TrainingJobs(RunStore(tmp_path), queue_data())
    assert (jobs.max_per_address, jobs.max_queued) == (7, 11)


def test_only_max_parallel_jobs_compute_at_once(tmp_path, monkeypatch):
    fake = ControlledTrain()
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), max_parallel=1, trainer=fake)
    started = [jobs.start(TrainConfig(seed=i), session=f"s{i}", address=f"192.0.2.{i}") for i in range(4)]
    assert fake.started.wait(30)
    assert len(jobs.computing()) == 1 and len(jobs.running()) == 4
    fake.release.set()
    assert all(j.wait(30) for j in started) and jobs.computing() == []
