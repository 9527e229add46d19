"""Every page that shows stored runs, on a store holding one run of every kind (tests/mixed_store.py).

Scratch, concise, the L-BFGS best linear model, an L-BFGS fit that converged before its
iteration limit, a diverged run and a run without snapshots: each page opens each of them
without an exception and says what kind of run it is. The home page lists no runs.
"""

from __future__ import annotations

import pytest

from tests import mixed_store
from tests.apptest_helpers import page_test, page_through_app, texts
from tests.conftest import ROOT

pytestmark = pytest.mark.app

FINISHED = [kind for kind in mixed_store.KINDS if kind != "diverged"]
SGD = ("scratch", "concise", "diverged", "no_snapshots")


@pytest.fixture(scope="module")
def filled(tmp_path_factory, fmnist):
    root = tmp_path_factory.mktemp("every-kind") / "runs"
    return root, mixed_store.fill(root, fmnist)


@pytest.fixture
def runs(env, filled):
    """The app's run store (``env``) holds one run of each kind; returns them by kind."""
    root, stored = filled
    mixed_store.copy(root, env)
    return stored


def everything(at) -> str:
    return "\n".join(texts(group) for group in (at.markdown, at.info, at.warning, at.error, at.caption, at.success))


# ---------------------------------------------------------------- inside the model


def inside(query=None, session=None):
    return page_through_app("pages/inside_model.py", query, session).run()


def test_inside_shows_the_newest_run_the_best_linear_model_without_a_crash(runs):
    at = inside()
    assert not at.exception, at.exception
    assert at.query_params["run"] == runs["lbfgs"].key
    shown = everything(at)
    assert "**W after 10 L-BFGS iterations**" in shown
    assert "older version" not in shown and "last epoch" not in shown
    assert "Test image #0 is a" in shown  # the explanation is there, and the downloads
    assert at.get("download_button")


@pytest.mark.parametrize("kind", mixed_store.KINDS)
def test_inside_opens_every_kind_and_says_what_it_is(runs, kind):
    run = runs[kind]
    at = inside({"run": run.key})
    assert not at.exception, at.exception
    shown = everything(at)
    if kind == "diverged":
        assert "This run diverged" in texts(at.warning)
        assert not at.get("plotly_chart")
        return
    assert "Test image #0 is a" in shown and not at.error
    if kind in ("scratch", "concise"):  # each has the other as its counterpart, epoch by epoch
        assert [s.max for s in at.slider] == [2]
        assert "**W after 2 epoch(s)**" in shown
        assert "largest difference over all 7,850 parameters" in shown and "after 2 epoch(s)" in shown
    elif kind == "no_snapshots":
        assert not at.slider
        assert "stored by an older version of the training code" in shown
        assert "**W after the last epoch (2)**" in shown
        assert "Train the concise implementation with the same settings" in shown  # concise has seed 0, not 1
    else:
        iterations = run.history[-1].epoch
        assert not at.slider
        assert f"**W after {iterations} L-BFGS iterations**" in shown
        assert "older version" not in shown and "largest difference" not in shown
        assert "keeps only its final weights" in shown
        assert "no scratch or concise twin" in shown
        if kind == "lbfgs_converged":
            assert f"converged after {iterations} of its {run.config.epochs} iterations" in shown
        else:
            assert "converged" not in shown


# ---------------------------------------------------------------- calibration


def calibration(query=None):
    return page_test(ROOT / "pages" / "calibration.py", query, timeout=120).run()


@pytest.mark.parametrize("kind", mixed_store.KINDS)
def test_calibration_opens_every_kind(runs, kind):
    run = runs[kind]
    at = calibration({"run": run.key})
    assert not at.exception, at.exception
    assert at.selectbox(key="cal_run").value == run.key
    assert not at.error
    if kind == "diverged":
        assert "This run diverged" in texts(at.warning)
        assert run.message in [t.value for t in at.text]
        assert not at.metric
    else:
        assert {m.label for m in at.metric} >= {"Fitted T", "ECE at fitted T", "NLL at fitted T"}


def test_calibration_compares_every_finished_kind(runs):
    at = calibration()
    assert not at.exception, at.exception
    compared = at.multiselect(key="cal_compare")
    assert sorted(compared.value) == sorted(runs[k].key for k in FINISHED)
    assert "1 diverged run(s) are left out" in texts(at.caption)
    table = at.dataframe[-1].value
    assert len(table) == len(FINISHED) and table["test acc"].between(0, 1).all()


# ---------------------------------------------------------------- training


def training_query(config) -> dict[str, str]:
    return {
        "train_impl": config.impl,
        "train_lr": f"{config.lr:g}",
        "train_batch_size": str(config.batch_size),
        "train_epochs": str(config.epochs),
        "train_seed": str(config.seed),
        "train_init_std": f"{config.init_std:g}",
    }


def training_page(query=None):
    return page_test(ROOT / "pages" / "training.py", query).run()


@pytest.mark.parametrize("kind", SGD)
def test_training_shows_every_kind_it_can_train(runs, kind):
    run = runs[kind]
    at = training_page(training_query(run.config))
    assert not at.exception, at.exception
    assert not at.error
    if kind == "diverged":
        assert "**Diverged**: diverged in epoch 1, batch" in texts(at.warning)
        assert not at.metric
    else:
        assert "**Cached**" in texts(at.info)
        assert {m.label: m.value for m in at.metric}["Test accuracy"] == f"{run.history[-1].test_acc:.1%}"


def test_training_refuses_an_lbfgs_link_with_a_sentence(runs):
    at = training_page({"train_impl": "lbfgs"})
    assert not at.exception
    assert "was ignored" in texts(at.warning)


def test_training_compares_every_kind_at_once(runs):
    at = training_page()
    assert not at.exception
    at.multiselect(key="train_compare").set_value([run.key for run in runs.values()]).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert len(table) == len(runs)
    cells = " ".join(str(v) for v in table.to_numpy().ravel())
    assert "None" not in cells and "nan" not in cells
    pairs = at.dataframe[-1].value  # scratch against concise: the one pair with equal settings
    assert len(pairs) == 1 and pairs["Δ test acc"].abs().iloc[0] < 0.01
