"""Damaged and odd stored runs on the pages that serve them: a sentence, never a crash, a path or torch's advice.

Issue 18: a weights file with 64 bytes flipped (size unchanged), or damage hidden behind a rewritten
checksum (wrong shapes, non-tensors, a pickle that would run code), crashed the training and
inside pages, and Train answered "Cached" again; a damaged concise run crashed its scratch twin's
inside page; a readable but odd ``run.json`` (an empty history, an epoch of 10**400, NaN snapshots,
a NaN training time) broke a page for everyone; a diverged run's message rendered as markdown; and
viewers saw absolute server paths.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import torch

from softmax_core.run_store import RunStore, StoredRun, run_key
from softmax_core.training import EpochMetrics, TrainConfig, TrainResult, confusion_matrix
from tests.apptest_helpers import page_test, page_through_app, poll_until, texts
from tests.conftest import ROOT
from tests.factories import live_markup

pytestmark = pytest.mark.app

SMALL = TrainConfig(epochs=1, batch_size=1024).validated()  # one quick epoch, if the page trains it again
SMALL_QUERY = {"train_epochs": "1", "train_batch_size": "1024"}


def store_run(runs_dir, data, config: TrainConfig, seed: int = 0, status="finished", message="") -> StoredRun:
    """A run with made-up weights and snapshots (one per epoch), as training would store it."""
    config = config.validated()
    g = torch.Generator().manual_seed(seed)
    epochs = config.epochs if status == "finished" else 0
    weights, biases = torch.randn(epochs + 1, 784, 10, generator=g) * 0.05, torch.randn(epochs + 1, 10, generator=g)
    history = tuple(EpochMetrics(e, 0.6, 0.8, 0.8, 0.2) for e in range(1, epochs + 1))
    result = TrainResult(
        config, history, status, message or f"{status} by hand", weights[-1], biases[-1], 1.5, (weights, biases)
    )
    confusion = confusion_matrix(weights[-1], biases[-1], data.test_images, data.test_labels)
    return RunStore(runs_dir).save(run_key(config, data.fingerprint), result, confusion, data.fingerprint)


def rewrite_with_checksum(run: StoredRun, contents, entry: str = "weights") -> None:
    """Replace a tensor file and rewrite run.json's size and checksum to match: damage only a load can see."""
    path = run.path / getattr(run, entry).name
    torch.save(contents, path)
    raw = path.read_bytes()
    edit_record(run, lambda r: r[entry].update(bytes=len(raw), sha256=hashlib.sha256(raw).hexdigest()))


def edit_record(run: StoredRun, change) -> None:
    record = json.loads((run.path / "run.json").read_text())
    change(record)
    (run.path / "run.json").write_text(json.dumps(record))


class Evil:
    marker: Path | None = None

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def flip_64_bytes(run: StoredRun) -> None:
    path = run.path / run.weights_file
    raw = bytearray(path.read_bytes())
    for i in range(len(raw) - 200, len(raw) - 136):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))


DAMAGE = {
    "64 bytes flipped": (flip_64_bytes, "is damaged (checksum differs)"),
    "wrong shapes": (
        lambda run: rewrite_with_checksum(run, {"weight": torch.zeros(10, 784), "bias": torch.zeros(10)}),
        "holds shapes (10, 784)",
    ),
    "not tensors": (
        lambda run: rewrite_with_checksum(run, {"weight": "W", "bias": [0.0] * 10}),
        "does not hold tensors",
    ),
    "a pickle that would run code": (
        lambda run: rewrite_with_checksum(run, {"weight": Evil(), "bias": torch.zeros(10)}),
        "cannot be read as plain tensors",
    ),
    "NaN snapshots": (
        lambda run: rewrite_with_checksum(
            run, {"weight": torch.full((2, 784, 10), float("nan")), "bias": torch.zeros(2, 10)}, entry="snapshots"
        ),
        "holds inf or nan",
    ),
}


def unescaped(markdown: str) -> str:
    """What a reader sees of markdown written by ``user_text.literal``: the backslash escapes removed."""
    return re.sub(r"\\(.)", r"\1", markdown)


def everything(at) -> str:
    groups = (at.error, at.warning, at.info, at.success, at.markdown, at.caption, at.text, at.exception)
    return "\n".join(texts(group) for group in groups)


def assert_nothing_of_the_server(at, runs_dir: Path) -> None:
    """No absolute path, no torch advice about unsafe loading, no trace of the would-be payload."""
    shown = everything(at)
    assert str(runs_dir.parent) not in shown and "weights_only=False" not in shown and "Unpickler" not in shown
    assert "Traceback" not in shown


def training_page(query):
    return page_test(ROOT / "pages" / "training.py", query).run()


@pytest.fixture
def evil_marker(tmp_path, monkeypatch):
    marker = tmp_path / "code-ran"
    monkeypatch.setattr(Evil, "marker", marker)
    yield marker
    assert not marker.exists(), "the pickle in the weights file ran"


# ---------------------------------------------------------------- the training page, then Train


@pytest.mark.parametrize("damage", DAMAGE, ids=DAMAGE)
def test_training_says_a_damaged_run_cannot_be_shown_and_train_replaces_it(env, fmnist, evil_marker, damage):
    spoil, why = DAMAGE[damage]
    run = store_run(env, fmnist, SMALL)
    spoil(run)
    at = training_page(SMALL_QUERY)
    assert not at.exception, at.exception
    said = unescaped(texts(at.warning))
    assert (
        f"The stored run for these settings cannot be shown. The {'snapshots' if 'snap' in damage else 'weights'}"
        in said
    )
    assert why in said and run.key in said and "Press Train to replace it" in said
    assert "**Cached**" not in texts(at.info) and not at.metric and not at.error
    assert_nothing_of_the_server(at, env)

    at.button(key="train_submit").click().run()
    poll_until(at, lambda at: len(at.success) > 0)
    assert not at.exception
    assert "Trained just now: 1 epoch(s)" in texts(at.success) and "**Cached**" not in texts(at.info)
    again = RunStore(env).get(run.key)
    assert again is not None and again.weights != run.weights and again.message.startswith("Finished 1 epoch")


# ---------------------------------------------------------------- the inside page


def inside(query):
    return page_through_app("pages/inside_model.py", query).run()


@pytest.mark.parametrize("damage", DAMAGE, ids=DAMAGE)
def test_inside_says_a_damaged_run_cannot_be_shown(env, fmnist, evil_marker, damage):
    spoil, why = DAMAGE[damage]
    run = store_run(env, fmnist, TrainConfig(epochs=1))
    spoil(run)
    at = inside({"run": run.key})
    assert not at.exception, at.exception
    said = unescaped(texts(at.error))
    assert "The run named in this link cannot be shown." in said and why in said and run.key in said
    assert not at.get("plotly_chart") and not at.slider
    assert "= +nan" not in everything(at)  # no "Σ x·w = +nan"
    assert_nothing_of_the_server(at, env)


@pytest.mark.parametrize("damage", DAMAGE, ids=DAMAGE)
def test_a_damaged_concise_twin_leaves_the_scratch_runs_inside_page_whole(env, fmnist, evil_marker, damage):
    spoil, why = DAMAGE[damage]
    scratch = store_run(env, fmnist, TrainConfig(epochs=1), seed=1)
    concise = store_run(env, fmnist, TrainConfig(impl="concise", epochs=1), seed=2)
    spoil(concise)
    at = inside({"run": scratch.key})
    assert not at.exception, at.exception
    said = unescaped(texts(at.warning))
    assert "The concise run of these settings cannot be shown beside this one." in said
    assert why in said and concise.key in said
    assert "Test image #0 is a" in texts(at.markdown) and at.slider  # the rest of the page is there
    assert_nothing_of_the_server(at, env)


# ---------------------------------------------------------------- a readable but odd run.json


def test_calibration_skips_a_finished_run_with_an_empty_history(env, fmnist):
    good = store_run(env, fmnist, TrainConfig(epochs=1), seed=1)
    odd = store_run(env, fmnist, TrainConfig(epochs=2), seed=2)
    edit_record(odd, lambda r: r.update(history=[]))
    at = page_test(ROOT / "pages" / "calibration.py", timeout=120).run()
    assert not at.exception, at.exception
    assert "A damaged run in the store was skipped" in texts(at.warning)
    assert any(odd.key in t.value and "a finished run must hold at least one row" in t.value for t in at.text)
    assert at.selectbox(key="cal_run").options == [good.key] or at.selectbox(key="cal_run").value == good.key
    assert_nothing_of_the_server(at, env)


@pytest.mark.parametrize(
    "change, why",
    [
        (lambda r: r["history"][0].update(epoch=10**400), "epoch must lie between 1 and 1"),
        (lambda r: r["history"][0].update(test_acc=10**400), "test accuracy must lie between 0 and 1"),
        (lambda r: r.update(train_seconds=float("nan")), "holds NaN"),
        (lambda r: r.update(status="diverged", batch_losses=[1] * 2_000_000), "is at most"),
    ],
    ids=["epoch 10**400", "accuracy 10**400", "NaN training time", "2,000,000 batch losses"],
)
def test_training_skips_an_odd_record_with_a_sentence(env, fmnist, change, why):
    run = store_run(env, fmnist, SMALL)
    edit_record(run, change)
    at = training_page(SMALL_QUERY)
    assert not at.exception, at.exception
    said = unescaped(texts(at.warning))
    assert f"Skipping damaged run {run.key}" in said and why in said  # the comparison lists what it skipped
    assert "The stored run for these settings cannot be shown." in said
    assert "nan s" not in everything(at) and "**Cached**" not in texts(at.info)
    assert_nothing_of_the_server(at, env)


# ---------------------------------------------------------------- stored and server text stays text


HOSTILE_MESSAGE = (
    "Loss became inf. [Log in again](https://evil.example/login) ![x](http://127.0.0.2/pixel.png) "
    "<img src=x onerror=alert(1)> **bold** `code`"
)


def test_a_diverged_runs_stored_message_is_shown_as_text(env, fmnist):
    run = store_run(env, fmnist, TrainConfig(lr=50.0, epochs=1), status="diverged", message=HOSTILE_MESSAGE)
    at = training_page({"train_lr": "50", "train_epochs": "1"})
    assert not at.exception
    [warning] = [w.value for w in at.warning if "Diverged" in w.value]
    assert not live_markup(warning), live_markup(warning)
    assert HOSTILE_MESSAGE in unescaped(warning).replace("\u200b", "")  # every word there, literally
    calibration = page_test(ROOT / "pages" / "calibration.py", {"run": run.key}, timeout=120).run()
    assert not calibration.exception
    assert HOSTILE_MESSAGE in [t.value for t in calibration.text]  # st.text: never markdown


def test_a_store_that_cannot_be_written_says_so_without_its_path(env, fmnist):
    """The run's folder holds a directory where run.json goes: the save fails, and the page says so in its words."""
    folder = env / run_key(SMALL, fmnist.fingerprint)
    (folder / "run.json").mkdir(parents=True)
    at = training_page(SMALL_QUERY)
    assert not at.exception
    at.button(key="train_submit").click().run()
    poll_until(at, lambda at: len(at.error) > 0)
    assert not at.exception
    said = unescaped(texts(at.error))
    assert "The run store cannot be read or written (Is a directory); nothing was stored." in said
    assert_nothing_of_the_server(at, env)
    assert ".tmp-" not in said and "IsADirectoryError" not in said
