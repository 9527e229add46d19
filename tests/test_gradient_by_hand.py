"""The "by hand" implementation: its step against autograd, its runs against scratch and concise, the page and CLI.

The exact reference is float64 autograd through ``F.cross_entropy``. In float32, "equal to
rounding" is checked as: the by-hand step lands no further from the exact update than
autograd's own float32 update does (times 4), plus an ulp of what float32 cannot hold exactly:
the weights, and the scores as they reach the step (times the learning rate; for the summed loss,
times the batch). The two sum each score's 784 products in different orders, so their scores
differ by about an ulp of the scores; autograd's error in one small batch can be lucky and far
below that (hypothesis found batch 2 with scores near 29 whose by-hand bias error, 1.07e-6, was
six times autograd's, 1.8e-7, and within two ulps of the scores).
"""

from __future__ import annotations

import inspect
import json
import textwrap

import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st

from softmax_core import cli
from softmax_core.models import ByHandSoftmaxRegression
from softmax_core.run_store import run_key
from softmax_core.training import IMPL_NAMES, TrainConfig, train
from tests.apptest_helpers import open_inside_page, page_test, poll_until, texts
from tests.conftest import ROOT
from tests.factories_training import inside_parameters, store_inside_run
from tests.link import link

pytestmark = pytest.mark.app

EPS32 = torch.finfo(torch.float32).eps


def batch_of(seed: int, batch: int, std: float, bias_scale: float, dtype=torch.float64):
    """0-255 pixels (as floats), labels, W ~ N(0, std²) and b ~ N(0, bias_scale²), from one seed."""
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (batch, 784), generator=g).to(dtype)
    y = torch.randint(0, 10, (batch,), generator=g)
    W = (torch.randn(784, 10, generator=g, dtype=torch.float64) * std).to(dtype)
    b = (torch.randn(10, generator=g, dtype=torch.float64) * bias_scale).to(dtype)
    return pixels, y, W, b


def autograd_step(pixels, y, W, b, lr):
    """The chapter's concise update, spelled out: mean F.cross_entropy on pixels / 255, autograd, one SGD step."""
    W, b = W.clone().requires_grad_(), b.clone().requires_grad_()
    scores = (pixels / 255) @ W + b
    losses = F.cross_entropy(scores, y, reduction="none")
    gW, gb = torch.autograd.grad(losses.mean(), (W, b))
    correct = int((scores.argmax(1) == y).sum())
    return float(losses.detach().sum()), correct, (W - lr * gW).detach(), (b - lr * gb).detach()


def by_hand_step(pixels, y, W, b, lr):
    model = ByHandSoftmaxRegression(W, b, lr)
    loss, correct = model.step(pixels, y.reshape(1, -1))
    return (loss, correct, *model.parameters_784x10())


shapes_and_values = given(
    batch=st.integers(1, 300),
    seed=st.integers(0, 2**31 - 1),
    std=st.sampled_from([0.0, 1e-3, 0.01, 0.1, 1.0]),
    bias_scale=st.sampled_from([0.0, 0.1, 3.0, 30.0]),
    lr=st.floats(1e-3, 10.0),
)


@settings(max_examples=60, deadline=None)
@shapes_and_values
@example(batch=1, seed=0, std=0.0, bias_scale=0.0, lr=0.1)  # all scores tie: argmax takes class 0, as scratch's
@example(batch=256, seed=1, std=0.01, bias_scale=0.0, lr=0.1)  # the chapter's setting
def test_in_float64_the_step_is_autograds_sgd_step(batch, seed, std, bias_scale, lr):
    pixels, y, W, b = batch_of(seed, batch, std, bias_scale)
    loss, correct, W1, b1 = autograd_step(pixels, y, W, b, lr)
    hand_loss, hand_correct, hand_W1, hand_b1 = by_hand_step(pixels, y, W, b, lr)
    assert hand_loss == pytest.approx(loss, rel=1e-12, abs=1e-12)
    assert hand_correct == correct
    # The gradient itself, recovered from the step: X^T (y_hat - y) / B and mean(y_hat - y).
    torch.testing.assert_close((W - hand_W1) / lr, (W - W1) / lr, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close((b - hand_b1) / lr, (b - b1) / lr, rtol=1e-9, atol=1e-12)


@settings(max_examples=60, deadline=None)
@shapes_and_values
@example(batch=256, seed=1, std=0.01, bias_scale=0.0, lr=0.1)
@example(batch=2, seed=878, std=1.0, bias_scale=0.0, lr=1.0)  # autograd's bias error lucky: 1.8e-7 for 2 examples
def test_in_float32_the_step_is_as_close_to_exact_as_autograds(batch, seed, std, bias_scale, lr):
    pixels, y, W, b = batch_of(seed, batch, std, bias_scale, torch.float32)
    exact_loss, exact_correct, exact_W1, exact_b1 = autograd_step(pixels.double(), y, W.double(), b.double(), lr)
    auto_loss, _, auto_W1, auto_b1 = autograd_step(pixels, y, W, b, lr)
    hand_loss, hand_correct, hand_W1, hand_b1 = by_hand_step(pixels, y, W, b, lr)
    assert hand_W1.dtype == hand_b1.dtype == torch.float32

    scores = pixels.double() / 255 @ W.double() + b.double()
    score_ulp = EPS32 * scores.abs().max().item()  # how far two float32 sums of the same score may differ

    def no_worse_than_autograd(hand, auto, exact, carried_scores):
        hand_error = (hand.double() - exact).abs().max().item()
        auto_error = (auto.double() - exact).abs().max().item()
        allowed = 4 * auto_error + 4 * (EPS32 * exact.abs().max().item() + carried_scores * score_ulp)
        assert hand_error <= allowed, (hand_error, auto_error, allowed)

    no_worse_than_autograd(hand_W1, auto_W1, exact_W1, lr)  # a score's error moves the step by at most lr times it
    no_worse_than_autograd(hand_b1, auto_b1, exact_b1, lr)
    no_worse_than_autograd(torch.tensor(hand_loss), torch.tensor(auto_loss), torch.tensor(exact_loss), batch)
    margins = scores.sort(1).values
    if (margins[:, -1] - margins[:, -2]).min() > 1e-3:  # no near-tie that float32 could flip
        assert hand_correct == exact_correct


def test_a_probability_that_rounds_to_zero_still_gives_a_finite_loss_and_a_step():
    """Scores 200 apart: float32 softmax gives the true class 0 (scratch's -log is inf); log-sum-exp does not."""
    pixels, y, W, b = batch_of(0, 8, 0.01, 0.0, torch.float32)
    b[torch.arange(10) != y[0]] = 200.0
    assert (torch.softmax(pixels / 255 @ W + b, 1)[0, y[0]] == 0).item()
    loss, correct, W1, b1 = autograd_step(pixels, y, W, b, 0.1)
    hand_loss, hand_correct, hand_W1, hand_b1 = by_hand_step(pixels, y, W, b, 0.1)
    assert hand_loss == pytest.approx(loss, rel=1e-6) and hand_loss > 200
    assert hand_correct == correct
    torch.testing.assert_close(hand_W1, W1, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(hand_b1, b1, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_a_loss_that_is_not_finite_leaves_the_weights_alone(bad):
    pixels, y, W, b = batch_of(0, 16, 0.01, 0.0, torch.float32)
    b[3] = bad
    loss, correct, W1, b1 = by_hand_step(pixels, y, W, b, 0.1)
    assert loss != loss and correct == 0  # nan
    assert torch.equal(W1, W)
    torch.testing.assert_close(b1, b, rtol=0, atol=0, equal_nan=True)


def test_the_model_hands_out_copies_in_the_chapters_layout():
    pixels, y, W, b = batch_of(2, 4, 0.01, 0.5, torch.float32)
    model = ByHandSoftmaxRegression(W, b, 0.1)
    weight, bias = model.parameters_784x10()
    assert weight.shape == (784, 10) and weight.is_contiguous() and bias.shape == (10,)
    assert torch.equal(weight, W) and torch.equal(bias, b)
    model.step(pixels, y.reshape(1, -1))
    assert torch.equal(weight, W) and torch.equal(bias, b)  # the step did not write into the copies


# --- whole runs: where scratch and concise land ------------------------------------------------------

SEEDS = (0, 1, 2)
METRICS = ("train_loss", "train_acc", "test_acc")


@pytest.fixture(scope="module")
def chapter_runs(fmnist):
    """The chapter's setting (batch 256, lr 0.1, 10 epochs) for three seeds: scratch and by hand; concise for seed 0."""
    runs = {
        (impl, seed): train(TrainConfig(impl=impl, seed=seed), fmnist)
        for impl in ("scratch", "byhand")
        for seed in SEEDS
    }
    runs["concise", 0] = train(TrainConfig(impl="concise", seed=0), fmnist)
    return runs


def last(run) -> dict:
    return {m: getattr(run.history[-1], m) for m in METRICS}


def test_by_hand_runs_land_where_scratch_and_concise_do(chapter_runs):
    """The spread of scratch over three seeds is the tolerance; the same seed by hand is far closer than that."""
    scratch = [last(chapter_runs["scratch", seed]) for seed in SEEDS]
    spread = {m: max(r[m] for r in scratch) - min(r[m] for r in scratch) for m in METRICS}
    assert all(s > 0 for s in spread.values())  # three seeds do differ: the tolerance is not zero
    for seed, reference in zip(SEEDS, scratch, strict=True):
        run = chapter_runs["byhand", seed]
        assert run.status == "finished" and len(run.history) == 10
        for m in METRICS:
            assert abs(last(run)[m] - reference[m]) <= spread[m] / 2, (seed, m)
    concise, by_hand = last(chapter_runs["concise", 0]), last(chapter_runs["byhand", 0])
    for m in METRICS:
        assert abs(by_hand[m] - concise[m]) <= spread[m] / 2, m
    assert 0.84 < by_hand["test_acc"] < 0.86  # the chapter's 10 epochs: about 0.85


def test_by_hand_weights_follow_scratch_epoch_by_epoch(chapter_runs):
    """Same seed, same initial draw and batches: the snapshots differ by float rounding only."""
    for seed in SEEDS:
        mine, theirs = chapter_runs["byhand", seed].snapshots, chapter_runs["scratch", seed].snapshots
        assert torch.equal(mine[0][0], theirs[0][0])  # epoch 0: the same initial draw
        torch.testing.assert_close(mine[0], theirs[0], rtol=0, atol=1e-4)
        torch.testing.assert_close(mine[1], theirs[1], rtol=0, atol=1e-4)


# --- selectable wherever an implementation is ---------------------------------------------------------


def test_one_list_of_implementations_feeds_the_config_the_cli_and_the_store(fmnist, tmp_path, capsys):
    assert "byhand" in IMPL_NAMES
    assert TrainConfig(impl=" ByHand ").validated().impl == "byhand"
    parser = cli.build_parser()
    impl_action = next(a for a in parser._actions if a.dest == "impl")
    assert set(IMPL_NAMES) <= set(impl_action.choices)
    keys = {impl: run_key(TrainConfig(impl=impl), fmnist.fingerprint) for impl in IMPL_NAMES}
    assert len(set(keys.values())) == len(IMPL_NAMES)  # each implementation is its own stored run

    args = ["--impl", "byhand", "--epochs", "1", "--batch-size", "1024", "--seed", "3"]
    args += ["--data-dir", str(fmnist.source), "--runs-dir", str(tmp_path), "--json"]
    assert cli.main(args) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first["config"]["impl"] == "byhand" and first["status"] == "finished" and not first["cached"]
    assert first["key"] == run_key(TrainConfig(impl="byhand", epochs=1, batch_size=1024, seed=3), fmnist.fingerprint)
    assert cli.main(args) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["cached"] and again["key"] == first["key"] and again["epochs"] == first["epochs"]


PAGE = str(ROOT / "pages" / "training.py")


def test_the_page_shows_the_derivation_next_to_the_code_that_trains(env):
    at = page_test(PAGE, {"train_impl": "byhand"}).run()
    assert not at.exception
    assert at.radio(key="train_impl").value == "byhand"
    [section] = [e for e in at.expander if "softmax(o) − y" in e.label]
    assert section.proto.expanded
    formulas = [e.value for e in at.latex]
    assert any(r"\mathrm{softmax}(\mathbf{o})_j - y_j" in f for f in formulas)
    assert any(r"\mathbf{X}^\top(\hat{\mathbf{Y}} - \mathbf{Y})" in f for f in formulas)
    [code] = [c for c in at.code if "def step" in c.value]
    assert code.value == textwrap.dedent(inspect.getsource(ByHandSoftmaxRegression.step)).rstrip()
    assert "scatter_add_" in code.value and "addmm_" in code.value

    other = page_test(PAGE).run()  # scratch chosen: the section is there, closed
    [closed] = [e for e in other.expander if "softmax(o) − y" in e.label]
    assert not closed.proto.expanded


def test_train_by_hand_from_the_page_and_open_it_from_its_link(env):
    query = {"train_impl": "byhand", "train_epochs": "1", "train_batch_size": "1024"}
    at = page_test(PAGE, query).run()
    at.button(key="train_submit").click().run()
    poll_until(at, lambda at: len(at.success) > 0)
    assert not at.exception and "Trained just now: 1 epoch(s)" in at.success[0].value
    assert link(at) == {**query, "train_impl": IMPL_NAMES["byhand"]}
    from softmax_core.run_store import RunStore

    [run] = RunStore(env).list_runs()
    assert run.config == TrainConfig(impl="byhand", epochs=1, batch_size=1024)
    again = page_test(PAGE, {**query, "train_impl": IMPL_NAMES["byhand"]}).run()  # the link as shared
    assert not again.exception and "Trained just now" in texts(again.success)


def test_the_class_storm_can_train_by_hand(env):
    """``bench_class.py --storm-impl byhand``: every storm link opens the training page on the by-hand model."""
    from urllib.parse import parse_qsl

    from scripts.class_sessions import last_curves_after, storm_configs

    queries = storm_configs(3, "byhand")
    assert len(set(queries)) == 3 and storm_configs(3) == [q.replace("&train_impl=byhand", "") for q in queries]
    assert [q.rsplit("=", 1)[1] for q in queries] == ["1000", "1001", "1002"]  # the report reads the seed off the end
    at = page_test(PAGE, dict(parse_qsl(queries[0]))).run()
    assert not at.exception and at.radio(key="train_impl").value == "byhand"
    assert last_curves_after([{"pressed": 10.0, "done": 14.0}, {"pressed": 10.5, "done": 19.5}]) == 9.5
    assert last_curves_after([{"pressed": 10.0, "done": 14.0}, {"pressed": 10.5, "error": "timeout"}]) is None


def test_inside_the_model_puts_a_by_hand_run_beside_concise(env, fmnist):
    """The inside page's comparison takes a by-hand run (its counterpart is concise, the same update)."""
    weights, biases = inside_parameters(7)
    run = store_inside_run(env, fmnist, TrainConfig(impl="byhand", epochs=3), weights, biases)
    alone = open_inside_page({"run": run.key}).run()
    assert not alone.exception and "By hand against concise" in [h.value for h in alone.subheader]
    assert "Train the concise implementation with the same settings" in texts(alone.caption)
    store_inside_run(env, fmnist, TrainConfig(impl="concise", epochs=3), weights, biases)
    both = open_inside_page({"run": run.key}).run()
    assert not both.exception
    assert "largest difference over all 7,850 parameters is **0.00e+00**" in texts(both.markdown)
