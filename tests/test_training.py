"""Training: both models checked against torch.nn.functional + autograd, replayed step by step."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given
from hypothesis import strategies as st

from softmax_core import sgd_trainer, training
from softmax_core.data import FashionMNIST
from softmax_core.training import (
    IMPLS,
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_INIT_STD,
    MAX_LR,
    MAX_SEED,
    MIN_LR,
    TRAINING_CODE_VERSION,
    EpochMetrics,
    Progress,
    TrainConfig,
    TrainResult,
    confusion_matrix,
    predict_probs,
    train,
)

pytestmark = pytest.mark.unit


def subset(data: FashionMNIST, n_train: int, n_test: int) -> FashionMNIST:
    return dataclasses.replace(
        data,
        train_images=data.train_images[:n_train],
        train_labels=data.train_labels[:n_train],
        test_images=data.test_images[:n_test],
        test_labels=data.test_labels[:n_test],
    )


def pixels(images: torch.Tensor) -> torch.Tensor:
    """What ToTensor + flatten give: float32 in [0, 1], one row of 784 per image."""
    return images.reshape(len(images), -1).float() / 255


def reference_run(data: FashionMNIST, config: TrainConfig):
    """The contract, spelled out with F.cross_entropy and autograd: one generator draws W, then each epoch's order."""
    g = torch.Generator().manual_seed(config.seed)
    W = torch.normal(0.0, config.init_std, (784, 10), generator=g).requires_grad_()
    b = torch.zeros(10, requires_grad=True)
    X_all, y_all = pixels(data.train_images), data.train_labels
    history = []
    for _ in range(config.epochs):
        order = torch.randperm(len(X_all), generator=g)
        loss_sum, correct = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            scores = X_all[idx] @ W + b
            loss = F.cross_entropy(scores, y_all[idx])
            W.grad, b.grad = torch.autograd.grad(loss, (W, b))
            with torch.no_grad():
                W -= config.lr * W.grad
                b -= config.lr * b.grad
            loss_sum += loss.item() * len(idx)
            correct += int((scores.argmax(1) == y_all[idx]).sum())
        with torch.no_grad():
            test_acc = float(((pixels(data.test_images) @ W + b).argmax(1) == data.test_labels).float().mean())
        history.append((loss_sum / len(X_all), correct / len(X_all), test_acc))
    return W.detach(), b.detach(), history


# --- the config -------------------------------------------------------------------------------


def test_default_config_is_the_chapters_and_valid():
    config = TrainConfig()
    assert (config.impl, config.lr, config.batch_size, config.epochs, config.seed, config.init_std) == (
        "scratch", 0.1, 256, 10, 0, 0.01,
    )  # fmt: skip
    assert config.validated() is config
    assert IMPLS == ("scratch", "concise", "byhand") == tuple(training.IMPL_NAMES)
    assert isinstance(TRAINING_CODE_VERSION, str) and TRAINING_CODE_VERSION


def test_validated_coerces_types():
    config = TrainConfig(impl=" Concise ", lr="0.5", batch_size=128.0, epochs="3", seed=7.0, init_std=0)
    clean = config.validated()
    assert clean == TrainConfig("concise", 0.5, 128, 3, 7, 0.0)
    assert [type(v) for v in clean.to_dict().values()] == [str, float, int, int, int, float]
    assert TrainConfig(lr=1).validated().lr.__class__ is float  # 1 and 1.0 must hash alike in the run store
    assert TrainConfig(seed=str(2**31 - 1)).validated().seed == 2**31 - 1


def test_limits_are_the_ones_every_entry_point_uses():
    """One seed maximum everywhere (the page's widget and links carry 2**31 - 1); lr strictly positive."""
    assert MAX_SEED == 2**31 - 1 and MIN_LR > 0
    for edge in (
        dict(seed=MAX_SEED),
        dict(lr=MIN_LR),
        dict(lr=MAX_LR),
        dict(batch_size=MAX_BATCH_SIZE),
        dict(epochs=MAX_EPOCHS),
        dict(init_std=MAX_INIT_STD),
        dict(init_std=0.0),
    ):
        assert TrainConfig(**edge).validated() == TrainConfig(**edge)
    for beyond, message in (
        (dict(seed=MAX_SEED + 1), "seed must be a whole number from 0 to 2,147,483,647"),
        (dict(seed=2**63 - 1), "seed must be"),
        (dict(lr=MAX_LR * 1.01), "learning rate must be between"),
        (dict(lr=MIN_LR / 2), "learning rate must be between"),
        (dict(init_std=MAX_INIT_STD * 1.01), "init std must be"),
    ):
        with pytest.raises(ValueError, match=message):
            TrainConfig(**beyond).validated()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"impl": "keras"}, "impl must be one of scratch, concise"),
        ({"lr": 0}, "learning rate must be a positive finite number"),
        ({"lr": -0.1}, "learning rate must be a positive finite number"),
        ({"lr": float("nan")}, "learning rate must be a positive finite number"),
        ({"lr": float("inf")}, "learning rate must be a positive finite number"),
        ({"lr": "fast"}, "learning rate must be a number, got 'fast'"),
        ({"batch_size": 0}, "batch size must be between 1 and 60,000"),
        ({"batch_size": 60_001}, "batch size must be between 1 and 60,000"),
        ({"batch_size": 2.5}, "batch size must be a whole number"),
        ({"batch_size": True}, "batch size must be a whole number"),
        ({"epochs": 0}, "epochs must be between 1 and 200"),
        ({"epochs": 201}, "epochs must be between 1 and 200"),
        ({"epochs": None}, "epochs must be a whole number"),
        ({"seed": -1}, "seed must be a whole number from 0"),
        ({"init_std": -0.01}, "init std must be a finite number >= 0"),
        ({"init_std": float("inf")}, "init std must be a finite number >= 0"),
    ],
)
def test_bad_settings_get_clear_messages(change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**change).validated()


def test_from_dict():
    assert TrainConfig.from_dict({"impl": "concise", "lr": "0.2"}) == TrainConfig(impl="concise", lr=0.2)
    with pytest.raises(ValueError, match="unknown training setting.*momentum"):
        TrainConfig.from_dict({"momentum": 0.9})
    with pytest.raises(ValueError, match="must be a dict"):
        TrainConfig.from_dict(["scratch"])
    with pytest.raises(ValueError, match="learning rate"):
        TrainConfig.from_dict({"lr": -1})


@given(
    impl=st.sampled_from(IMPLS),
    lr=st.floats(min_value=MIN_LR, max_value=MAX_LR),
    batch_size=st.integers(1, MAX_BATCH_SIZE),
    epochs=st.integers(1, MAX_EPOCHS),
    seed=st.integers(0, MAX_SEED),
    init_std=st.floats(min_value=0, max_value=MAX_INIT_STD),
)
@example(impl="scratch", lr=1.0, batch_size=1, epochs=1, seed=2**31 - 1, init_std=0.0)
def test_dict_round_trip(impl, lr, batch_size, epochs, seed, init_std):
    config = TrainConfig(impl, lr, batch_size, epochs, seed, init_std)
    assert config.validated() is config
    again = TrainConfig.from_dict(config.to_dict())
    assert again == config and again.to_dict() == config.to_dict()


# --- the models against the reference ------------------------------------------------------------


@pytest.mark.parametrize("impl", IMPLS)
def test_one_full_batch_step_matches_autograd(fmnist, impl):
    data = subset(fmnist, 500, 300)
    config = TrainConfig(impl=impl, lr=0.3, batch_size=500, epochs=1, seed=3)
    result = train(config, data)
    g = torch.Generator().manual_seed(3)
    W0 = torch.normal(0.0, 0.01, (784, 10), generator=g).requires_grad_()
    b0 = torch.zeros(10, requires_grad=True)
    X, y = pixels(data.train_images), data.train_labels
    loss = F.cross_entropy(X @ W0 + b0, y)
    gW, gb = torch.autograd.grad(loss, (W0, b0))
    W1, b1 = W0.detach() - 0.3 * gW, b0.detach() - 0.3 * gb
    torch.testing.assert_close(result.weight, W1, rtol=0, atol=1e-7)
    torch.testing.assert_close(result.bias, b1, rtol=0, atol=1e-7)
    (epoch,) = result.history
    # Train metrics are taken on each batch before its update (the chapter's Accumulator): here, at W0.
    assert epoch.train_loss == pytest.approx(loss.item(), rel=1e-6)
    assert epoch.train_acc == int(((X @ W0 + b0).argmax(1) == y).sum()) / 500
    assert epoch.test_acc == int(((pixels(data.test_images) @ W1 + b1).argmax(1) == data.test_labels).sum()) / 300
    assert result.weight.shape == (784, 10) and result.weight.dtype == torch.float32 and result.weight.is_contiguous()
    assert result.bias.shape == (10,) and result.bias.dtype == torch.float32


@pytest.mark.parametrize("impl", IMPLS)
def test_minibatch_epochs_replay_the_reference(fmnist, impl):
    """Seeded order, a short last batch (600 = 2 x 256 + 88), two epochs: the same trajectory as autograd."""
    data = subset(fmnist, 600, 400)
    config = TrainConfig(impl=impl, lr=0.5, batch_size=256, epochs=2, seed=11)
    result = train(config, data)
    W, b, history = reference_run(data, config)
    torch.testing.assert_close(result.weight, W, rtol=0, atol=1e-6)
    torch.testing.assert_close(result.bias, b, rtol=0, atol=1e-6)
    for ours, (loss, acc, test_acc) in zip(result.history, history, strict=True):
        assert ours.train_loss == pytest.approx(loss, rel=1e-5)
        assert ours.train_acc == pytest.approx(acc, abs=1 / 600)
        assert ours.test_acc == pytest.approx(test_acc, abs=1 / 400)


def test_scratch_and_concise_agree_epoch_by_epoch(fmnist):
    """Same model, same seed: they differ only by float rounding.

    (softmax-then-log against the fused log-softmax, sum / n against the mean)
    """
    runs = {impl: train(TrainConfig(impl=impl, epochs=1), fmnist) for impl in IMPLS}
    a, b = runs["scratch"], runs["concise"]
    torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=1e-5)  # measured max difference: 1.2e-7
    torch.testing.assert_close(a.bias, b.bias, rtol=0, atol=1e-5)
    (ea,), (eb,) = a.history, b.history
    assert ea.train_loss == pytest.approx(eb.train_loss, rel=1e-5)
    assert ea.train_acc == pytest.approx(eb.train_acc, abs=1e-3)
    assert ea.test_acc == pytest.approx(eb.test_acc, abs=1e-3)


def test_one_epoch_lands_where_the_chapter_starts(fmnist):
    result = train(TrainConfig(impl="concise", epochs=1), fmnist)
    assert result.status == "finished" and "Finished 1 epoch" in result.message
    (epoch,) = result.history
    assert epoch.epoch == 1 and epoch.seconds > 0
    assert 0.70 < epoch.train_loss < 0.90  # d2l's first epoch: about 0.78
    assert 0.70 < epoch.train_acc < 0.80
    assert 0.77 < epoch.test_acc < 0.84
    assert result.train_seconds >= epoch.seconds


@pytest.mark.parametrize("impl", IMPLS)
def test_same_seed_reruns_bit_for_bit(fmnist, impl):
    data = subset(fmnist, 6000, 2000)
    config = TrainConfig(impl=impl, epochs=2, seed=5)
    first, second = train(config, data), train(config, data)
    strip = lambda r: [dataclasses.replace(e, seconds=0.0) for e in r.history]  # noqa: E731
    assert strip(first) == strip(second)
    assert torch.equal(first.weight, second.weight) and torch.equal(first.bias, second.bias)
    other = train(dataclasses.replace(config, seed=6), data)
    assert not torch.equal(other.weight, first.weight)


def test_init_std_zero_starts_from_zero_weights(fmnist):
    data = subset(fmnist, 256, 100)
    result = train(TrainConfig(init_std=0.0, batch_size=256, epochs=1), data)
    assert result.history[0].train_loss == pytest.approx(math.log(10), rel=1e-6)  # uniform softmax: -log(1/10)


# --- stopping: divergence, cancel, progress ------------------------------------------------------


def test_scratch_loss_becomes_inf_and_stops_as_diverged(fmnist):
    data = subset(fmnist, 2560, 100)
    result = train(TrainConfig(impl="scratch", lr=10.0, epochs=3), data)
    assert result.status == "diverged"
    assert result.message.startswith("Loss became inf in epoch 1 (batch 2): lower the learning rate.")
    assert "rounds the true class's probability to 0" in result.message
    assert result.history == ()
    assert torch.isfinite(result.weight).all()  # the update that would have produced nan is never made


def test_concise_with_an_absurd_learning_rate_diverges(fmnist):
    """The limits keep concise's log-sum-exp loss finite; the check stays as a guard, driven past them here."""
    data = subset(fmnist, 2560, 100)
    result = sgd_trainer._train(TrainConfig(impl="concise", lr=1e38, epochs=3), data, None, None, 20)
    assert result.status == "diverged"
    assert "lower the learning rate" in result.message and "epoch 1" in result.message


def test_huge_init_std_is_blamed(fmnist):
    result = train(TrainConfig(impl="scratch", init_std=MAX_INIT_STD, epochs=1), subset(fmnist, 512, 100))
    assert result.status == "diverged"
    assert "in epoch 1 (batch 1): the initial weights are too large: lower the init std." in result.message


def test_cancel_is_checked_before_every_batch(fmnist):
    data = subset(fmnist, 2560, 100)  # 10 batches of 256
    asked = []

    def should_stop():
        asked.append(1)
        return len(asked) == 14  # before batch 4 of epoch 2

    result = train(TrainConfig(epochs=3), data, should_stop=should_stop)
    assert result.status == "cancelled"
    assert result.message == "Stopped by request in epoch 2 (batch 3 of 10) after 1 full epoch(s)."
    assert len(result.history) == 1 and len(asked) == 14
    assert torch.isfinite(result.weight).all()


def test_cancel_before_the_first_batch_returns_the_initial_weights(fmnist):
    result = train(TrainConfig(seed=2), subset(fmnist, 512, 100), should_stop=lambda: True)
    assert result.status == "cancelled" and result.history == ()
    g = torch.Generator().manual_seed(2)
    assert torch.equal(result.weight, torch.normal(0.0, 0.01, (784, 10), generator=g))


def test_progress_every_few_batches_and_at_each_epoch_end(fmnist):
    data = subset(fmnist, 2560, 100)
    seen: list[Progress] = []
    result = train(TrainConfig(epochs=2), data, progress=seen.append, progress_every=3)
    assert [(p.epoch, p.batch, len(p.history)) for p in seen] == [
        (1, 3, 0), (1, 6, 0), (1, 9, 0), (1, 10, 1),
        (2, 3, 1), (2, 6, 1), (2, 9, 1), (2, 10, 2),
    ]  # fmt: skip
    assert all(p.epochs == 2 and p.batches == 10 for p in seen)
    assert seen[-1].history == result.history
    assert all(isinstance(e, EpochMetrics) for e in result.history)
    assert isinstance(result, TrainResult)


# --- using a trained model --------------------------------------------------------------------


def test_predict_probs_is_softmax_of_the_scores(fmnist):
    g = torch.Generator().manual_seed(0)
    W, b = torch.randn(784, 10, generator=g) * 0.05, torch.randn(10, generator=g)
    images = fmnist.test_images[:50]
    expected = F.softmax(pixels(images) @ W + b, dim=1)
    torch.testing.assert_close(predict_probs(W, b, images), expected)
    torch.testing.assert_close(predict_probs(W, b, images.float() / 255), expected)  # floats in [0, 1]
    torch.testing.assert_close(predict_probs(W, b, pixels(images)), expected)  # already flat
    with pytest.raises(ValueError, match=r"images must have shape \(n, 28, 28\) or \(n, 784\)"):
        predict_probs(W, b, torch.zeros(3, 100))
    with pytest.raises(ValueError, match=r"weight must be \(784, 10\)"):
        predict_probs(W.T, b, images)


def test_confusion_matrix_counts_true_rows_and_predicted_columns(fmnist):
    result = train(TrainConfig(impl="concise", epochs=1), subset(fmnist, 6000, 2000))
    images, labels = fmnist.test_images[:2000], fmnist.test_labels[:2000]
    matrix = confusion_matrix(result.weight, result.bias, images, labels)
    predicted = (pixels(images) @ result.weight + result.bias).argmax(1)
    expected = torch.zeros(10, 10, dtype=torch.int64)
    for true, guess in zip(labels.tolist(), predicted.tolist()):
        expected[true, guess] += 1
    assert matrix.dtype == torch.int64 and torch.equal(matrix, expected)
    assert matrix.sum(1).tolist() == labels.bincount(minlength=10).tolist()
    # The diagonal is what training reported as test accuracy (same scoring path, so exactly).
    trained_on_all = train(TrainConfig(impl="concise", epochs=1), subset(fmnist, 6000, 10_000))
    full = confusion_matrix(trained_on_all.weight, trained_on_all.bias, fmnist.test_images, fmnist.test_labels)
    assert full.sum() == 10_000 and full.trace().item() / 10_000 == trained_on_all.history[-1].test_acc
    with pytest.raises(ValueError, match="one label per image"):
        confusion_matrix(result.weight, result.bias, images, labels[:10])


def test_empty_dataset_is_a_clear_error(fmnist):
    with pytest.raises(ValueError, match="no training or no test images"):
        train(TrainConfig(epochs=1), subset(fmnist, 0, 100))


# --- what a run records besides its metrics: snapshots and the divergence point -------------------


@pytest.mark.parametrize("impl", IMPLS)
def test_epoch_k_snapshot_is_the_final_weights_of_a_k_epoch_run(fmnist, impl):
    data = subset(fmnist, 3000, 500)
    config = TrainConfig(impl=impl, epochs=3, batch_size=256, seed=4)
    result = train(config, data)
    weights, biases = result.snapshots
    assert weights.shape == (4, 784, 10) and biases.shape == (4, 10)
    assert weights.dtype == biases.dtype == torch.float32
    g = torch.Generator().manual_seed(4)
    assert torch.equal(weights[0], torch.normal(0.0, 0.01, (784, 10), generator=g))  # epoch 0: the initial draw
    assert torch.equal(biases[0], torch.zeros(10))
    for k in (1, 2):
        shorter = train(dataclasses.replace(config, epochs=k), data)
        assert torch.equal(weights[k], shorter.weight) and torch.equal(biases[k], shorter.bias)
    assert torch.equal(weights[3], result.weight) and torch.equal(biases[3], result.bias)
    assert result.batch_losses == () and result.diverged_at is None


def test_diverged_run_keeps_every_batch_loss_up_to_the_blow_up(fmnist):
    data = subset(fmnist, 2560, 100)
    config = TrainConfig(impl="scratch", lr=0.8, batch_size=64, epochs=3, seed=0)
    result = train(config, data)
    assert result.status == "diverged" and result.history == ()
    epoch, batch = result.diverged_at
    assert f"in epoch {epoch} (batch {batch})" in result.message
    batches = math.ceil(2560 / 64)
    assert len(result.batch_losses) == (epoch - 1) * batches + batch - 1 > 0
    assert all(math.isfinite(x) for x in result.batch_losses)
    assert result.snapshots[0].shape == (1, 784, 10)  # only the initial weights: no epoch finished
    # Replay with F.cross_entropy and autograd: the same batch losses, then a batch where float32
    # softmax rounds a true class's probability to 0 (scratch's -log then is inf).
    g = torch.Generator().manual_seed(0)
    W = torch.normal(0.0, 0.01, (784, 10), generator=g).requires_grad_()
    b = torch.zeros(10, requires_grad=True)
    X_all, y_all = pixels(data.train_images), data.train_labels
    order = torch.randperm(len(X_all), generator=g)
    for i, start in enumerate(range(0, len(order), 64)):
        idx = order[start : start + 64]
        scores = X_all[idx] @ W + b
        if i == len(result.batch_losses):
            true_prob = F.softmax(scores.detach(), dim=1)[torch.arange(len(idx)), y_all[idx]]
            assert (true_prob == 0).any()
            break
        loss = F.cross_entropy(scores, y_all[idx])
        assert result.batch_losses[i] == pytest.approx(loss.item(), rel=1e-4)
        gW, gb = torch.autograd.grad(loss, (W, b))
        with torch.no_grad():
            W -= config.lr * gW
            b -= config.lr * gb
    else:
        pytest.fail("the replay never reached the batch that blew up")


# --- the by-hand loop keeps the same books as the chapter's loop ----------------------------------


def test_by_hand_stops_cancels_and_reports_progress_as_the_chapters_loop_does(fmnist):
    data = subset(fmnist, 2560, 100)  # 10 batches of 256
    runs = {}
    for impl in ("scratch", "byhand"):
        asked, seen = [], []

        def should_stop(asked=asked):
            asked.append(1)
            return len(asked) == 14  # before batch 4 of epoch 2

        result = train(TrainConfig(impl=impl, epochs=3), data, seen.append, should_stop, progress_every=3)
        runs[impl] = (result, [(p.epoch, p.batch, len(p.history)) for p in seen])
    (scratch, scratch_seen), (by_hand, by_hand_seen) = runs["scratch"], runs["byhand"]
    assert by_hand.status == "cancelled" and by_hand.message == scratch.message
    assert by_hand.message == "Stopped by request in epoch 2 (batch 3 of 10) after 1 full epoch(s)."
    assert by_hand_seen == scratch_seen == [(1, 3, 0), (1, 6, 0), (1, 9, 0), (1, 10, 1), (2, 3, 1)]
    assert by_hand.history[0].train_loss == pytest.approx(scratch.history[0].train_loss, rel=1e-5)
    assert by_hand.history[0].train_acc == pytest.approx(scratch.history[0].train_acc, abs=1 / 2560)
    torch.testing.assert_close(by_hand.weight, scratch.weight, rtol=0, atol=1e-6)  # stopped mid-epoch 2 alike


def test_by_hand_with_an_absurd_learning_rate_diverges_with_finite_weights(fmnist):
    data = subset(fmnist, 2560, 100)
    result = sgd_trainer._train(TrainConfig(impl="byhand", lr=1e38, epochs=3), data, None, None, 20)
    assert result.status == "diverged" and result.history == ()
    epoch, batch = result.diverged_at
    assert result.message.startswith(f"Loss became nan in epoch {epoch} (batch {batch})")
    assert len(result.batch_losses) == batch - 1 + (epoch - 1) * 10
    assert all(math.isfinite(x) for x in result.batch_losses)
    assert torch.isfinite(result.weight).all() and torch.isfinite(result.bias).all()  # the bad update was not made


def test_by_hand_counts_ties_as_argmax_does(fmnist):
    """Zero weights: every score ties, argmax takes class 0, so train accuracy is the share of class 0."""
    data = subset(fmnist, 256, 100)
    runs = {impl: train(TrainConfig(impl=impl, init_std=0.0, epochs=1), data) for impl in ("scratch", "byhand")}
    (by_hand,), (scratch,) = runs["byhand"].history, runs["scratch"].history
    assert by_hand.train_loss == pytest.approx(math.log(10), rel=1e-6)
    assert by_hand.train_acc == scratch.train_acc == int((data.train_labels == 0).sum()) / 256


def test_by_hand_reads_float_pixels_in_0_1_as_the_chapters_loop_does(fmnist):
    data = subset(fmnist, 600, 100)
    floats = dataclasses.replace(data, train_images=data.train_images.float() / 255)
    from_bytes, from_floats = (train(TrainConfig(impl="byhand", epochs=1), d) for d in (data, floats))
    torch.testing.assert_close(from_floats.weight, from_bytes.weight, rtol=0, atol=1e-6)
    assert from_floats.history[0].train_loss == pytest.approx(from_bytes.history[0].train_loss, rel=1e-5)
