"""The linear ceiling goes the one way every run goes: train_or_load, the server's queue, the CLI, the store."""

from __future__ import annotations

import json
import threading

import pytest

from softmax_core import cli, training
from softmax_core import linear_ceiling as lc
from softmax_core.run_store import RunStore, run_key
from softmax_core.train_or_load import train_or_load
from softmax_core.training import EpochMetrics, Progress, TrainConfig
from softmax_core.training_queue import DEFAULT_MAX_COST, TooCostly, TrainingJobs, training_cost
from tests.factories_training import ControlledTrain, make_result, queue_data

pytestmark = pytest.mark.unit

FEW = 3  # L-BFGS iterations: enough to store a real run, quick on 60,000 images


def refuse_to_train(*args, **kwargs):
    raise AssertionError("a stored run was trained again")


def test_the_ceiling_costs_its_iterations_times_the_training_images():
    default = lc.ceiling_config()
    assert training_cost(default) == lc.DEFAULT_ITERATIONS * 60_000
    assert training_cost(default) <= DEFAULT_MAX_COST  # the page's fit fits a hosted server's default bound
    assert training_cost(lc.ceiling_config(iterations=20), n_train=1_000) == 20 * 1_000


def test_a_ceiling_over_the_bound_gets_a_sentence_about_iterations(tmp_path):
    jobs = TrainingJobs(RunStore(tmp_path), queue_data())
    with pytest.raises(TooCostly, match="L-BFGS iterations x 60,000 images.*use fewer iterations"):
        jobs.start(lc.ceiling_config(iterations=200), session="a")
    assert jobs.running() == []


def test_identical_ceiling_requests_join_one_job_and_another_session_waits_its_turn(tmp_path, monkeypatch):
    fake = ControlledTrain()
    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), max_parallel=1, trainer=fake)
    sgd = jobs.start(TrainConfig(seed=7), session="student-1")  # someone's training holds the slot
    assert fake.started.wait(30)
    ceiling = jobs.start(lc.ceiling_config(), session="student-2")
    for student in range(3, 32):  # 30 students press "fit" within a second: one fit, joined by all
        assert jobs.start(lc.ceiling_config(), session=f"student-{student}") is ceiling
    assert len(jobs.running()) == 2
    snap = ceiling.snapshot()
    assert snap.state == "running" and snap.place == 1 and snap.waiting.startswith("Queued: place 1")
    fake.release.set()
    assert sgd.wait(30) and ceiling.wait(30)
    assert fake.calls == 2 and fake.order == [7, 0]  # first come, first served; the ceiling trained once
    assert ceiling.snapshot().state == "done" and ceiling.key == run_key(lc.ceiling_config(), "fp-test")


def test_a_real_ceiling_job_reports_iterations_and_is_stored_under_its_key(tmp_path, fmnist):
    store = RunStore(tmp_path)
    jobs = TrainingJobs(store, fmnist)
    config = lc.ceiling_config(1e-3, FEW)
    job = jobs.start(config, session="a")
    assert job.wait(300)
    snap = job.snapshot()
    assert snap.state == "done" and not snap.cached, snap.error
    assert snap.key == run_key(config, fmnist.fingerprint)  # the key every earlier ceiling run was stored under
    run = store.get(snap.key)
    assert run.config == config.validated() and run.status == "finished" and run.history[-1].epoch <= FEW
    again = jobs.start(config, session="b")
    assert again.snapshot().cached


def test_stop_ends_a_real_ceiling_fit_and_stores_nothing(tmp_path, fmnist):
    store = RunStore(tmp_path)
    jobs = TrainingJobs(store, fmnist, max_cost=0)  # no bound: 200 iterations run long enough to be stopped
    job = jobs.start(lc.ceiling_config(1e-4, 200), session="a")
    for _ in range(6000):
        snap = job.snapshot()
        if snap.history or job.wait(0.05):
            break
    assert snap.history and snap.progress.epochs == 200, snap  # a first report (every 5 iterations) came
    job.cancel()
    assert job.wait(60)
    snap = job.snapshot()
    assert snap.state == "cancelled" and snap.result.status == "cancelled"
    assert "Stopped by request" in snap.result.message
    assert store.list_runs() == []


def test_a_ceiling_stored_the_earlier_way_is_loaded_not_refitted(tmp_path, monkeypatch):
    """``store.save`` under ``run_key(config, fingerprint)`` is how store_ceiling stored it: still found."""
    data = queue_data()
    store = RunStore(tmp_path)
    config = lc.ceiling_config()
    result = make_result(config=config, losses=(0.5, 0.4))
    store.save(run_key(config, data.fingerprint), result, training.confusion_matrix(
        result.weight, result.bias, data.test_images, data.test_labels), data.fingerprint)  # fmt: skip
    outcome = train_or_load(store, config, data)
    assert outcome.cached and outcome.run.key == run_key(config, data.fingerprint)
    job = TrainingJobs(store, data, max_cost=1, trainer=refuse_to_train).start(
        config, session="a"
    )  # stored: no bound, no queue
    assert job.snapshot().state == "done" and job.snapshot().cached


def test_the_cli_stores_the_ceiling_and_reads_it_back(shared_data_dir, tmp_path, capsys, monkeypatch):
    args = ["--impl", "lbfgs", "--l2", "1e-3", "--iterations", str(FEW), "--data-dir", str(shared_data_dir),
            "--runs-dir", str(tmp_path), "--json"]  # fmt: skip
    assert cli.main(args) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert not first["cached"] and first["status"] == "finished" and first["replaced_broken"] is None
    run = RunStore(tmp_path).get(first["key"])
    assert run.config == lc.ceiling_config(1e-3, FEW)
    monkeypatch.setattr(training, "train", refuse_to_train)
    assert cli.main(args) == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert second["cached"] and second["key"] == first["key"] and second["test_acc"] == first["test_acc"]


def test_the_cli_replaces_a_broken_stored_ceiling(shared_data_dir, tmp_path, capsys):
    """The validation train_or_load gives every run (store_ceiling skipped it): damaged weights are fitted again."""
    args = ["--impl", "lbfgs", "--l2", "1e-3", "--iterations", str(FEW), "--data-dir", str(shared_data_dir),
            "--runs-dir", str(tmp_path), "--json"]  # fmt: skip
    assert cli.main(args) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = RunStore(tmp_path).get(first["key"])
    (run.path / run.weights_file).write_bytes(b"damaged")
    assert cli.main(args) == 0
    out, err = capsys.readouterr()
    again = json.loads(out.strip().splitlines()[-1])
    assert not again["cached"] and again["replaced_broken"] and "was broken and was trained again" in err
    RunStore(tmp_path).get(first["key"]).validate()


def test_the_wait_estimate_counts_an_lbfgs_entry_as_the_iterations_it_spans(tmp_path, monkeypatch):
    """The L-BFGS history has one entry per 5 iterations: 1 s for 5 iterations is not 1 s per iteration."""
    gate = threading.Event()

    def five_iterations_per_second(config, data, progress=None, should_stop=None):
        history = (EpochMetrics(5, 0.5, 0.8, 0.8, seconds=1.0),)
        progress(Progress(5, config.epochs, 1, 1, history))
        gate.wait(30)
        return make_result(config=config)

    jobs = TrainingJobs(RunStore(tmp_path), queue_data(), trainer=five_iterations_per_second)
    before = jobs._seconds_per_cost
    job = jobs.start(lc.ceiling_config(iterations=20))
    for _ in range(500):
        if job.snapshot().history:
            break
        threading.Event().wait(0.01)
    measured = 1.0 / (5 * 60_000)  # seconds per unit of cost: 5 iterations of 60,000 images took 1 s
    assert jobs._seconds_per_cost == pytest.approx(0.7 * before + 0.3 * measured)
    gate.set()
    assert job.wait(30)
