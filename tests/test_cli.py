"""``python -m softmax_core.cli`` (``softmax-train``) as a lecturer runs it: JSON out, cache hits, clear errors."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from softmax_core import lbfgs_trainer, sgd_trainer, training
from softmax_core.cli import build_parser, checked_plan, main, trainer_of
from softmax_core.linear_ceiling import ceiling_config
from softmax_core.run_store import RunStore
from softmax_core.training import ALL_IMPLS, IMPL_NAMES, TRAINERS, TrainConfig
from tests.factories_training import ROOT, assert_one_line_error, last_json, run_cli, run_cli_here, unwritable_folder

pytestmark = pytest.mark.process

QUICK = ["--epochs", "1", "--batch-size", "1024"]


def test_json_output_then_cached_then_no_cache(tmp_path, shared_data_dir):
    runs = tmp_path / "runs"
    args = [*QUICK, "--json", "--data-dir", str(shared_data_dir), "--runs-dir", str(runs)]
    first = last_json(run_cli(*args))
    assert first["cached"] is False and first["status"] == "finished"
    chapter = {"impl": "scratch", "lr": 0.1, "batch_size": 1024, "epochs": 1, "seed": 0, "init_std": 0.01}
    assert first["config"] == chapter
    assert [set(e) for e in first["epochs"]] == [{"epoch", "train_loss", "train_acc", "test_acc", "seconds"}]
    epoch = first["epochs"][0]
    assert epoch["epoch"] == 1 and 0 < epoch["train_loss"] < 2.31 and 0.5 < epoch["test_acc"] < 1
    assert first["train_seconds"] > 0

    # the JSON is what the store holds
    stored = RunStore(runs).get(first["key"])
    assert [m.test_acc for m in stored.history] == [epoch["test_acc"]]
    assert stored.history[0].train_loss == epoch["train_loss"]

    second = last_json(run_cli(*args))
    assert second["cached"] is True
    same = ("key", "epochs", "train_seconds")
    assert [second[name] for name in same] == [first[name] for name in same]

    fresh = last_json(run_cli(*args, "--no-cache"))
    assert fresh["cached"] is False and fresh["key"] == first["key"]
    # same seed, same data: the retrained run reaches the same metrics (timings aside)
    assert [e["test_acc"] for e in fresh["epochs"]] == [e["test_acc"] for e in first["epochs"]]
    assert RunStore(runs).get(first["key"]).created_at > stored.created_at


def test_env_vars_choose_the_folders_and_the_table_output(tmp_path, shared_data_dir):
    runs = tmp_path / "runs"
    env = {"SOFTMAX_DATA_DIR": str(shared_data_dir), "SOFTMAX_RUNS_DIR": str(runs)}
    out = last_json(run_cli(*QUICK, "--impl", "concise", "--lr", "0.3", "--seed", "2", "--json", env=env))
    assert out["config"]["impl"] == "concise" and out["config"]["seed"] == 2 and out["config"]["lr"] == 0.3
    assert [r.key for r in RunStore(runs).list_runs()] == [out["key"]]
    same = ["--impl", "concise", "--lr", "0.3", "--seed", "2"]
    human = run_cli(*QUICK, *same, env=env)  # without --json: a table on stdout, read from the same store
    assert human.returncode == 0, human.stderr
    assert "read from the store" in human.stdout and "test acc" in human.stdout and out["key"] in human.stdout
    assert f"{out['epochs'][0]['test_acc']:.4f}" in human.stdout


def test_diverged_run_is_reported_and_stored(tmp_path, shared_data_dir):
    runs = tmp_path / "runs"
    proc = run_cli(*QUICK, "--lr", "100", "--json", "--data-dir", str(shared_data_dir), "--runs-dir", str(runs))
    out = last_json(proc)  # strict JSON even though the loss blew up
    assert out["status"] == "diverged" and "lower the learning rate" in proc.stderr
    stored = RunStore(runs).get(out["key"])
    assert stored.status == "diverged" and out["diverged_at"] == list(stored.diverged_at)
    epoch, batch = stored.diverged_at
    assert len(out["batch_losses"]) == (epoch - 1) * 59 + batch - 1 == len(stored.batch_losses)


def test_a_broken_stored_run_is_retrained_and_reported(tmp_path, shared_data_dir):
    """Wrong-shaped weights with a matching checksum: trained again, never reported as cached."""
    runs = tmp_path / "runs"
    args = [*QUICK, "--json", "--data-dir", str(shared_data_dir), "--runs-dir", str(runs)]
    first = last_json(run_cli(*args))
    run = RunStore(runs).get(first["key"])
    path = run.path / run.weights_file
    torch.save({"weight": torch.zeros(10, 784), "bias": torch.zeros(10)}, path)
    record = json.loads((run.path / "run.json").read_text())
    record["weights"].update(bytes=path.stat().st_size, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    (run.path / "run.json").write_text(json.dumps(record))
    proc = run_cli(*args)
    again = last_json(proc)
    assert again["cached"] is False and again["status"] == "finished" and "shapes" in again["replaced_broken"]
    assert "was broken" in proc.stderr
    assert [e["test_acc"] for e in again["epochs"]] == [e["test_acc"] for e in first["epochs"]]
    RunStore(runs).get(first["key"]).validate()
    third = last_json(run_cli(*args))
    assert third["cached"] is True and third["replaced_broken"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lr", "-1"], "learning rate must be a positive"),
        (["--lr", "nan"], "learning rate must be a positive"),
        (["--lr", "abc"], "invalid float value: 'abc'"),
        (["--epochs", "0"], "epochs must be between"),
        (["--batch-size", "0"], "batch size must be between"),
        (["--impl", "keras"], "invalid choice: 'keras'"),
        (["--seed", "-3"], "seed must be"),
        (["--seed", str(2**31)], "seed must be a whole number from 0 to 2,147,483,647"),
        (["--lr", "101"], "learning rate must be between"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(tmp_path, args, message):
    proc = run_cli_here(*args, "--data-dir", str(tmp_path), "--runs-dir", str(tmp_path / "runs"))
    assert proc.returncode == 2 and message in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "runs").exists()


def test_bad_lr_in_a_real_process_has_no_traceback(tmp_path):
    proc = run_cli("--lr", "0", "--runs-dir", str(tmp_path / "runs"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: learning rate must be a positive finite number, got 0.0"
    assert proc.stdout == ""


def test_missing_data_dir_exits_2_with_a_message(tmp_path):
    missing = tmp_path / "no-such-folder"
    proc = run_cli("--json", "--data-dir", str(missing), "--runs-dir", str(tmp_path / "runs"))
    assert proc.returncode == 2
    assert "Fashion-MNIST not found" in proc.stderr and str(missing) in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_data_dir_that_is_a_file_is_called_a_file(tmp_path):
    a_file = tmp_path / "fashion-mnist.zip"
    a_file.write_bytes(b"PK")
    proc = run_cli("--json", "--data-dir", str(a_file), "--runs-dir", str(tmp_path / "runs"))
    assert proc.returncode == 2
    assert f"{a_file} is a file, not a folder" in proc.stderr and "does not exist" not in proc.stderr


def test_unwritable_runs_dir_exits_2_with_a_message(tmp_path, shared_data_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = run_cli(*QUICK, "--data-dir", str(shared_data_dir), "--runs-dir", str(blocker / "runs"))
    assert proc.returncode == 2
    assert "cannot use the run store" in proc.stderr and "Traceback" not in proc.stderr


def test_progress_bar_only_on_a_terminal(tmp_path, shared_data_dir):
    args = [sys.executable, "-m", "softmax_core.cli", *QUICK, "--json", "--no-cache",
            "--data-dir", str(shared_data_dir), "--runs-dir", str(tmp_path / "runs")]  # fmt: skip
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    stdout = proc.stdout.read().decode()
    assert proc.wait(timeout=300) == 0
    terminal = b"".join(chunks).decode()
    assert "epoch 1/1 [" in terminal and "batch 20/59" in terminal and "test acc" in terminal
    assert "\r" in terminal
    assert json.loads(stdout.strip().splitlines()[-1])["cached"] is False
    # without a terminal, stderr stays clean
    plain = run_cli(*QUICK, "--json", "--data-dir", str(shared_data_dir), "--runs-dir", str(tmp_path / "runs"))
    assert plain.returncode == 0 and "epoch 1/1" not in plain.stderr


# ---------------------------------------------------------------- checked before the data is read (issue 18, item 8)


@pytest.mark.parametrize("args, expected", [
    (["--lr", "abc"], "argument --lr: invalid float value: 'abc'"),
    (["--impl", "keras"], "argument --impl: invalid choice: 'keras'"),
    (["--epochs", "ten"], "argument --epochs/--iterations: invalid int value: 'ten'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])  # fmt: skip
def test_argparse_errors_are_one_line(tmp_path, args, expected):
    assert_one_line_error(run_cli_here(*args, "--data-dir", str(tmp_path / "no-data")), expected, "--help")


def test_a_runs_dir_that_is_a_file_is_refused_before_the_data_is_read(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    no_data = tmp_path / "no-such-data"  # reading it would fail: the runs folder must be refused first
    line = assert_one_line_error(run_cli_here("--runs-dir", str(a_file), "--data-dir", str(no_data)),
                                 f"cannot use the run store {a_file}: it is a file, not a folder")  # fmt: skip
    assert "Fashion-MNIST" not in line
    inside = a_file / "runs"
    assert_one_line_error(run_cli_here("--runs-dir", str(inside), "--data-dir", str(no_data)),
                          f"cannot use the run store {inside}: {a_file} is a file")  # fmt: skip
    assert_one_line_error(run_cli_here("--runs-dir", " ", "--data-dir", str(no_data)), "--runs-dir is empty")


@pytest.fixture
def unwritable_dir(tmp_path) -> Path:
    with unwritable_folder(tmp_path) as folder:
        yield folder


def test_a_read_only_runs_dir_is_refused_before_the_data_is_read(tmp_path, unwritable_dir):
    no_data = tmp_path / "no-such-data"
    line = assert_one_line_error(run_cli_here("--runs-dir", str(unwritable_dir), "--data-dir", str(no_data)),
                                 f"cannot use the run store {unwritable_dir}: cannot write there")  # fmt: skip
    assert "Fashion-MNIST" not in line


# ---------------------------------------------------------------- one program for every kind (issue 19)


@pytest.mark.parametrize("args, message", [
    (["--search", "--impl", "scratch"], "--search chooses the penalty of an lbfgs fit: --impl scratch does not apply"),
    (["--search", "--lr", "1", "--seed", "2"], "--search fits with the best linear model's settings: --lr, --seed belong"),
    (["--search", "--runs-dir", "x"], "--search stores nothing"),
    (["--threads", "2"], "--threads is for lbfgs fits and --search"),
    (["--impl", "concise", "--penalties", "1e-3"], "--penalties is the grid of --search"),
])  # fmt: skip
def test_options_of_another_kind_are_refused_before_the_data_is_read(tmp_path, capsys, args, message):
    code = main([*args, "--data-dir", str(tmp_path / "no-data")])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.strip().startswith(f"error: {message}")


def test_each_kind_has_its_trainer_and_lbfgs_starts_from_the_best_linear_model(tmp_path):
    assert set(TRAINERS) == set(ALL_IMPLS)
    assert {TRAINERS[impl] for impl in IMPL_NAMES} == {sgd_trainer.train} and TRAINERS["lbfgs"] is lbfgs_trainer.train
    args = build_parser().parse_args(["--impl", "lbfgs", "--runs-dir", str(tmp_path)])
    assert checked_plan(args).config == ceiling_config()
    args = build_parser().parse_args(["--runs-dir", str(tmp_path)])
    assert checked_plan(args).config == TrainConfig()


def test_threads_reach_the_lbfgs_trainer_and_every_other_fit_goes_through_training_train(tmp_path):
    parse = build_parser().parse_args
    two = checked_plan(parse(["--impl", "lbfgs", "--threads", "2", "--runs-dir", str(tmp_path)]))
    assert trainer_of(two).func is lbfgs_trainer.train and trainer_of(two).keywords == {"threads": 2}
    for args in (["--impl", "lbfgs"], ["--impl", "lbfgs", "--threads", "1"], ["--impl", "byhand"]):
        assert trainer_of(checked_plan(parse([*args, "--runs-dir", str(tmp_path)]))) is training.train
