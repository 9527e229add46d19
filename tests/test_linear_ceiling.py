"""The linear ceiling: config, the L-BFGS fit against a plain one, beating the chapter's SGD, store and CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from softmax_core import lbfgs_trainer, training
from softmax_core import linear_ceiling as lc
from softmax_core.cli import main
from softmax_core.data import FashionMNIST
from softmax_core.run_store import RunStore, run_key
from softmax_core.train_or_load import train_or_load
from softmax_core.training import TrainConfig
from tests.factories_training import (
    ROOT,
    assert_one_line_error,
    run_cli,
    run_cli_here,
    stored_lbfgs,
    unwritable_folder,
)

pytestmark = pytest.mark.process


def subset(data: FashionMNIST, n_train: int, seed: int = 0) -> FashionMNIST:
    """The first ``n_train`` of a seeded shuffle of the training images; the full test set."""
    index = torch.randperm(len(data.train_images), generator=torch.Generator().manual_seed(seed))[:n_train]
    return replace(data, train_images=data.train_images[index], train_labels=data.train_labels[index],
                   fingerprint=f"{data.fingerprint}-subset{n_train}-{seed}")  # fmt: skip


def objective(w, b, X, y, l2):
    return float(F.cross_entropy(X @ w + b, y) + 0.5 * l2 * (w * w).sum())


def test_ceiling_config_is_valid_and_keeps_sgd_keys_stable():
    config = lc.ceiling_config(3e-4, 40)
    assert (config.impl, config.l2, config.epochs, config.batch_size) == ("lbfgs", 3e-4, 40, 60_000)
    assert config.to_dict()["l2"] == 3e-4
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert "l2" not in TrainConfig().to_dict()  # the SGD runs' keys do not change
    assert run_key(lc.ceiling_config(1e-4, 40), "d") != run_key(lc.ceiling_config(3e-4, 40), "d")


@pytest.mark.parametrize("bad, match", [
    (dict(impl="scratch", l2=1e-4), "0 unless lbfgs"),
    (dict(impl="lbfgs", l2=-1.0, batch_size=60_000), "L2 penalty"),
    (dict(impl="lbfgs", l2=float("nan"), batch_size=60_000), "L2 penalty"),
    (dict(impl="lbfgs", l2=1e-4, batch_size=256), "full batch"),
])  # fmt: skip
def test_bad_ceiling_settings_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**bad).validated()


def test_preconditioned_fit_reaches_the_same_minimum_as_plain_lbfgs(fmnist):
    """The standardised coordinates are a change of variables: same objective, same optimum."""
    small = subset(fmnist, 1_000, seed=1)
    X = training.as_pixels(small.train_images.reshape(-1, 784))
    y, l2 = small.train_labels, 1e-2
    fit = lbfgs_trainer.fit_lbfgs(X, y, l2, 300)
    w = torch.zeros(784, 10, requires_grad=True)
    b = torch.zeros(10, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=1500, max_eval=2000, history_size=50, tolerance_grad=1e-9,
                            tolerance_change=1e-14, line_search_fn="strong_wolfe")  # fmt: skip

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(X @ w + b, y) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    with training.one_thread():
        opt.step(closure)
    assert objective(fit.weight, fit.bias, X, y, l2) == pytest.approx(objective(w.detach(), b.detach(), X, y, l2),
                                                                      abs=2e-4)  # fmt: skip
    # and it is a minimum: autograd's gradient of the objective at the fit is small
    wg, bg = fit.weight.clone().requires_grad_(True), fit.bias.clone().requires_grad_(True)
    (F.cross_entropy(X @ wg + bg, y) + 0.5 * l2 * (wg * wg).sum()).backward()
    assert float(wg.grad.abs().max()) < 1e-3 and float(bg.grad.abs().max()) < 1e-3


def test_ceiling_beats_the_chapters_sgd_on_the_same_data(fmnist):
    """Reduced but honest: both train on the same 10,000 training images and are scored on all 10,000 test images."""
    small = subset(fmnist, 10_000)
    sgd = training.train(TrainConfig(impl="concise", epochs=10, batch_size=256, lr=0.1), small)
    ceiling = training.train(lc.ceiling_config(1e-3, 60), small)
    assert sgd.status == ceiling.status == "finished"
    assert ceiling.history[-1].test_acc > sgd.history[-1].test_acc
    assert ceiling.history[-1].train_loss < sgd.history[-1].train_loss
    # history: iteration numbers as "epochs", the last one the fit's final iteration
    assert [m.epoch for m in ceiling.history] == sorted({m.epoch for m in ceiling.history})
    assert ceiling.history[-1].epoch <= 60


def test_a_stop_request_cancels_the_fit(fmnist):
    small = subset(fmnist, 1_000)
    calls = []
    result = training.train(lc.ceiling_config(1e-3, 50), small, should_stop=lambda: len(calls) > 3 or calls.append(1))
    assert result.status == "cancelled"


def test_penalty_search_never_looks_at_the_test_set(fmnist):
    small = subset(fmnist, 3_000)
    poisoned = replace(small, test_images=torch.zeros_like(small.test_images[:0]), test_labels=small.test_labels[:0])
    search = lc.search_penalty(poisoned, penalties=(1e-4, 1e-2), iterations=20, validation_size=1_000)
    assert search.best_l2 in (1e-4, 1e-2)
    assert (search.train_size, search.validation_size) == (2_000, 1_000)
    fit_index, val_index = lc.validation_split(3_000, 1_000)
    assert len(set(fit_index.tolist()) & set(val_index.tolist())) == 0


def test_store_and_best_linear_run(fmnist, tmp_path, monkeypatch):
    monkeypatch.setattr(lc, "DEFAULT_L2", 1e-3)  # the rule, made cheap: 10 iterations on 2,000 images
    monkeypatch.setattr(lc, "DEFAULT_ITERATIONS", 10)
    small = subset(fmnist, 2_000)
    store = RunStore(tmp_path)
    run, cached, _ = train_or_load(store, lc.ceiling_config(), small)
    assert not cached and run.config.impl == "lbfgs" and run.config.l2 == 1e-3 and run.config.epochs == 10
    again, cached, _ = train_or_load(store, lc.ceiling_config(1e-3, 10), small)
    assert cached and again.key == run.key == run_key(lc.ceiling_config(1e-3, 10), small.fingerprint)
    assert lc.best_linear_run(store.list_runs(), small.fingerprint).key == run.key
    assert lc.best_linear_run(store.list_runs(), "other data") is None
    assert lc.best_linear_label(run) == f"best linear (L2 0.001): {run.history[-1].test_acc:.4f}"


# ---------------------------------------------------------------- one rule (issue 17, item 3)


def test_no_argument_means_the_recorded_choice_and_the_record_fits_the_search_it_records():
    assert lc.ceiling_config() == lc.ceiling_config(lc.CHOSEN.l2, lc.DEFAULT_ITERATIONS)
    assert lc.DEFAULT_L2 == lc.CHOSEN.l2 and lc.CHOSEN.l2 in lc.CHOSEN.penalties
    assert lc.CHOSEN.penalties == lc.PENALTIES and lc.CHOSEN.iterations == lc.DEFAULT_ITERATIONS
    assert (lc.CHOSEN.fit_size, lc.CHOSEN.validation_size) == (60_000 - lc.VALIDATION_SIZE, lc.VALIDATION_SIZE)
    assert 0.8 < lc.CHOSEN.validation_accuracy < 0.9  # a measured accuracy, not a placeholder
    assert lc.CHOSEN.validation_accuracy * lc.CHOSEN.validation_size == pytest.approx(
        round(lc.CHOSEN.validation_accuracy * lc.CHOSEN.validation_size), abs=1e-3
    )  # a whole number of validation images


def test_the_best_linear_model_is_the_rules_run_not_the_best_test_score(tmp_path):
    """Picking the L-BFGS run with the best test accuracy chose on the test set and moved with who fitted what."""
    store = RunStore(tmp_path)
    rule = stored_lbfgs(store, "fp", lc.ceiling_config(), 0.8574)
    stored_lbfgs(store, "fp", lc.ceiling_config(1e-3), 0.8700)  # fitted by hand, scores higher on the test set
    stored_lbfgs(store, "fp", lc.ceiling_config(iterations=100), 0.8600)
    stored_lbfgs(store, "other data", lc.ceiling_config(), 0.9)
    runs = store.list_runs()
    assert lc.best_linear_run(runs, "fp").key == rule.key
    assert lc.best_linear_label(lc.best_linear_run(runs, "fp")) == f"best linear (L2 {lc.DEFAULT_L2:g}): 0.8574"
    assert lc.best_linear_run([r for r in runs if r.key != rule.key], "fp") is None


def test_the_sentences_read_every_figure_from_the_run_and_the_record(tmp_path):
    store = RunStore(tmp_path)
    run = stored_lbfgs(store, "fp", lc.ceiling_config(2e-3, 40), 0.8123, iterations_done=37, seconds=7.46)
    assert lc.fit_sentence(run, 60_000) == (
        "L2 penalty 0.002, 37 L-BFGS iterations (converged before 40) on all 60,000 training images (7.5\u00a0s): "
        "test accuracy 0.8123, train loss 0.4567, train accuracy 0.8321."
    )
    record = lc.PenaltyChoice(2e-3, 0.4321, (1e-3, 2e-3), 25, 40_000, 20_000)
    assert lc.choice_sentence(run.config.l2, record) == (
        "The penalty 0.002 is the one of 0.001, 0.002 that scored best on 20,000 training images held out from a fit "
        "on the other 40,000 (25 iterations each; validation accuracy 0.4321). The test set was never used to choose."
    )
    assert lc.choice_sentence(5e-4, record) == "The penalty 0.0005 was set by hand; the validation search chose 0.002."


def test_a_search_result_is_recorded_in_the_form_chosen_keeps():
    trials = (lc.PenaltyTrial(1e-4, 0.80, 0.5, 9, 1.0), lc.PenaltyTrial(1e-3, 0.85, 0.45, 10, 1.0))
    search = lc.PenaltySearch(trials, 1e-3, 50_000, 10_000, 2.0)
    assert search.choice() == lc.PenaltyChoice(1e-3, 0.85, (1e-4, 1e-3), 10, 50_000, 10_000)


def test_cli_trains_and_stores_an_lbfgs_run(shared_data_dir, tmp_path, capsys):
    code = main(["--impl", "lbfgs", "--l2", "1e-4", "--iterations", "3", "--data-dir", str(shared_data_dir),
                 "--runs-dir", str(tmp_path), "--json"])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["config"]["impl"] == "lbfgs" and out["config"]["l2"] == 1e-4 and out["config"]["epochs"] == 3
    assert out["config"]["batch_size"] == 60_000 and out["status"] == "finished"
    assert RunStore(tmp_path).get(out["key"]).config.l2 == 1e-4


def test_a_stored_ceiling_run_is_served_from_the_store_not_refitted(fmnist, tmp_path):
    """An L-BFGS run logs every few iterations, not one row per 'epoch': it must still validate as cached."""
    store = RunStore(tmp_path)
    config = lc.ceiling_config(l2=1e-3, iterations=12)
    first = train_or_load(store, config, fmnist)
    assert first.run.status == "finished" and not first.cached
    assert len(first.run.history) != config.epochs  # the case the check must allow
    again = train_or_load(store, config, fmnist)
    assert again.cached and again.replaced_broken == ""


def test_softmax_train_impl_lbfgs_fits_the_rule_by_default(shared_data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(lc, "DEFAULT_L2", 2e-3)  # the rule, made cheap: read when the CLI runs, not when imported
    monkeypatch.setattr(lc, "DEFAULT_ITERATIONS", 3)
    code = main(["--impl", "lbfgs", "--data-dir", str(shared_data_dir), "--runs-dir", str(tmp_path), "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert TrainConfig.from_dict(out["config"]) == lc.ceiling_config() == lc.ceiling_config(2e-3, 3)


def test_search_reports_against_the_record_and_stores_nothing(shared_data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SOFTMAX_RUNS_DIR", str(tmp_path / "runs"))
    args = ["--search", "--iterations", "2", "--penalties", "1e-2", "1", "--data-dir", str(shared_data_dir), "--json"]
    assert main(args) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out.strip().splitlines()[-1])
    assert [t["l2"] for t in out["trials"]] == [1e-2, 1.0] and out["chosen"]["l2"] in (1e-2, 1.0)
    best = max(out["trials"], key=lambda t: (t["validation_accuracy"], -t["validation_nll"]))
    assert out["chosen"] == {"l2": best["l2"], "validation_accuracy": best["validation_accuracy"],
                             "penalties": [1e-2, 1.0], "iterations": best["iterations"], "fit_size": 50_000,
                             "validation_size": 10_000}  # fmt: skip
    assert out["recorded"]["l2"] == lc.CHOSEN.l2 and out["agrees"] is False  # neither penalty is the recorded one
    assert f"the recorded choice {lc.CHOSEN.l2:g}" in captured.err
    assert not (tmp_path / "runs").exists()


# ---------------------------------------------------------------- the command line checks first (issue 18, item 8)


def run_ceiling_cli(*args: str):
    """The command line fitting (or, with --search, choosing the penalty of) the best linear model, run in this
    process (the refusals below need no new Python; the real command's is tested once, just after)."""
    return run_cli_here("--impl", "lbfgs", *args)


def test_the_real_command_refuses_a_bad_argument_in_one_line(no_data):
    proc = run_cli("--impl", "lbfgs", "--iterations", "0", "--data-dir", str(no_data), timeout=120)
    assert_one_line_error(proc, "--iterations must be between 1 and 200, got 0")


@pytest.fixture
def no_data(tmp_path) -> Path:
    """A data folder that does not exist: an argument error that names the argument came before any data was read."""
    return tmp_path / "no-such-data"


@pytest.mark.parametrize("args, expected", [
    (["--iterations", "0"], "--iterations must be between 1 and 200, got 0"),
    (["--iterations", "-5"], "--iterations must be between 1 and 200, got -5"),
    (["--iterations", "100000"], "--iterations must be between 1 and 200, got 100000"),
    (["--iterations", "abc"], "argument --epochs/--iterations: invalid int value: 'abc'"),
    (["--l2", "-1"], "--l2: a penalty must be a finite number >= 0, got -1.0"),
    (["--l2", "nan"], "--l2: a penalty must be a finite number >= 0, got nan"),
    (["--l2", "inf"], "--l2: a penalty must be a finite number >= 0, got inf"),
    (["--search", "--penalties", "1e-4", "-1"], "--penalties: a penalty must be a finite number >= 0, got -1.0"),
    (["--search", "--penalties", "nan"], "--penalties: a penalty must be a finite number >= 0, got nan"),
    (["--search", "--iterations", "0"], "--iterations must be between 1 and 200, got 0"),
    (["--search", "--l2", "1e-4"], "--search chooses the penalty and --l2 sets it"),
    (["--search", "--no-cache"], "--search stores nothing"),
    (["--penalties", "1e-4"], "--penalties is the grid of --search"),
    (["--threads", "3"], "argument --threads: invalid choice: 3"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])  # fmt: skip
def test_a_bad_argument_fails_in_one_line_before_the_data_is_read(no_data, args, expected):
    line = assert_one_line_error(run_ceiling_cli(*args, "--data-dir", str(no_data)), expected)
    assert "Fashion-MNIST" not in line


def test_a_runs_dir_that_is_a_file_fails_in_one_line_before_the_data_is_read(no_data, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    assert_one_line_error(run_ceiling_cli("--runs-dir", str(a_file), "--data-dir", str(no_data)),
                          f"cannot use the run store {a_file}: it is a file, not a folder")  # fmt: skip
    inside = a_file / "runs"
    assert_one_line_error(run_ceiling_cli("--runs-dir", str(inside), "--data-dir", str(no_data)),
                          f"cannot use the run store {inside}: {a_file} is a file")  # fmt: skip


@pytest.fixture
def unwritable_dir(tmp_path) -> Path:
    with unwritable_folder(tmp_path) as folder:
        yield folder


def test_a_read_only_runs_dir_fails_in_one_line_before_the_data_is_read(no_data, unwritable_dir):
    assert_one_line_error(run_ceiling_cli("--runs-dir", str(unwritable_dir), "--data-dir", str(no_data)),
                          f"cannot use the run store {unwritable_dir}: cannot write there")  # fmt: skip
    below = unwritable_dir / "runs" / "ceiling"
    assert_one_line_error(run_ceiling_cli("--runs-dir", str(below), "--data-dir", str(no_data)),
                          f"cannot use the run store {below}: cannot write there (it would be created inside "
                          f"{unwritable_dir})")  # fmt: skip


def test_good_arguments_reach_the_data_and_a_missing_folder_is_one_line_too(no_data, tmp_path):
    assert_one_line_error(run_ceiling_cli("--runs-dir", str(tmp_path / "runs"), "--data-dir", str(no_data)),
                          "Fashion-MNIST not found", str(no_data))  # fmt: skip
    assert_one_line_error(run_ceiling_cli("--search", "--data-dir", str(no_data)), "Fashion-MNIST not found")
    assert not (tmp_path / "runs").exists()


def test_ctrl_c_during_the_search_ends_in_one_line(shared_data_dir):
    proc = subprocess.Popen([sys.executable, "-m", "softmax_core.cli", "--search", "--data-dir",
                             str(shared_data_dir)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout.readline().startswith("Searching the penalty")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and err.strip() == "Stopped." and "chosen" not in out
