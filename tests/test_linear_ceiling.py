"""The linear ceiling: config, the L-BFGS fit against a plain one, beating the chapter's SGD, store and CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from softmax_core import linear_ceiling as lc
from softmax_core import training
from softmax_core.data import FashionMNIST
from softmax_core.run_store import RunStore, run_key
from softmax_core.train_or_load import train_or_load
from softmax_core.training import TrainConfig


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
    fit = lc.fit_lbfgs(X, y, l2, 300)
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


def test_store_and_best_linear_run(fmnist, tmp_path):
    small = subset(fmnist, 2_000)
    store = RunStore(tmp_path)
    run, cached, _ = train_or_load(store, lc.ceiling_config(1e-3, 10), small)
    assert not cached and run.config.impl == "lbfgs" and run.config.l2 == 1e-3
    again, cached, _ = train_or_load(store, lc.ceiling_config(1e-3, 10), small)
    assert cached and again.key == run.key == run_key(lc.ceiling_config(1e-3, 10), small.fingerprint)
    assert lc.best_linear_run(store.list_runs(), small.fingerprint).key == run.key
    assert lc.best_linear_run(store.list_runs(), "other data") is None
    assert lc.best_linear_label(run) == f"best linear: {run.history[-1].test_acc:.4f}"


def test_cli_trains_and_stores_an_lbfgs_run(shared_data_dir, tmp_path, capsys):
    from softmax_core.train import main

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
