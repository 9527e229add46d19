"""The run store: keys, round trips, atomic writes under SIGKILL, damaged entries, single flight."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from softmax_core import run_store, training, training_settings
from softmax_core.run_store import RunStore, StoredRun, default_runs_dir, run_key
from softmax_core.train_or_load import train_or_load
from softmax_core.training import TrainConfig, TrainResult
from tests.factories_training import fake_data, make_confusion, make_result, warnings_as_errors

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- keys and locations


def test_default_runs_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SOFTMAX_RUNS_DIR", str(tmp_path / "mine"))
    assert default_runs_dir() == tmp_path / "mine"
    assert RunStore().root == tmp_path / "mine"
    monkeypatch.delenv("SOFTMAX_RUNS_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert default_runs_dir() == tmp_path / "cache" / "softmax-dashboard" / "runs"


def test_run_key_covers_config_data_and_code_version(monkeypatch):
    base = TrainConfig()
    key = run_key(base, "abc")
    assert key == run_key(TrainConfig(), "abc")
    # the same settings typed differently are the same run
    assert key == run_key(TrainConfig(lr=0.1, batch_size=256.0, epochs="10", impl=" Scratch "), "abc")
    others = [
        run_key(TrainConfig(impl="concise"), "abc"),
        run_key(TrainConfig(lr=0.2), "abc"),
        run_key(TrainConfig(batch_size=128), "abc"),
        run_key(TrainConfig(epochs=3), "abc"),
        run_key(TrainConfig(seed=1), "abc"),
        run_key(TrainConfig(init_std=0.1), "abc"),
        run_key(base, "abd"),
    ]
    monkeypatch.setattr(training_settings, "TRAINING_CODE_VERSION", training.TRAINING_CODE_VERSION + "-next")
    others.append(run_key(base, "abc"))
    assert len({key, *others}) == len(others) + 1
    assert all(len(k) == 20 and all(c in "0123456789abcdef" for c in k) for k in others)


def test_run_key_rejects_bad_config():
    with pytest.raises(ValueError, match="learning rate"):
        run_key(TrainConfig(lr=-1), "abc")


# ---------------------------------------------------------------- round trip


def test_save_then_get_round_trips_everything(tmp_path):
    store = RunStore(tmp_path)
    result, confusion = make_result(), make_confusion()
    key = run_key(result.config, "fp")
    saved = store.save(key, result, confusion, "fp")
    got = store.get(key)
    assert isinstance(got, StoredRun)
    for run in (saved, got):
        assert run.key == key
        assert run.config == result.config
        assert run.history == result.history
        assert (run.status, run.message, run.train_seconds, run.data_fingerprint) == (
            "finished", "finished by hand", 3.0, "fp",
        )  # fmt: skip
        assert torch.equal(run.confusion, confusion) and run.confusion.dtype == torch.int64
        assert run.path == tmp_path / key
    weight, bias = got.load_weights()
    assert torch.equal(weight, result.weight) and torch.equal(bias, result.bias)
    assert weight.dtype == bias.dtype == torch.float32
    # ISO 8601 in UTC
    from datetime import datetime

    assert datetime.fromisoformat(got.created_at).utcoffset().total_seconds() == 0
    # the weights file is a plain dict of tensors that torch loads without unpickling code
    loaded = torch.load(got.path / got.weights_file, weights_only=True)
    assert set(loaded) == {"weight", "bias"}


def test_diverged_run_with_nan_loss_round_trips(tmp_path):
    store = RunStore(tmp_path)
    result = make_result(status="diverged", losses=(0.9, float("nan")))
    run = store.save("k1", result, make_confusion(), "fp")
    text = (run.path / "run.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    got = store.get("k1")
    assert got.status == "diverged"
    assert got.history[0] == result.history[0]
    assert math.isnan(got.history[1].train_loss)


def test_cancelled_runs_are_not_stored(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(ValueError, match="cancelled"):
        store.save("k", make_result(status="cancelled"), make_confusion(), "fp")
    assert store.list_runs() == [] and store.get("k") is None


@pytest.mark.parametrize("key", ["../outside", "a/b", "", ".locks", "x" * 101, None])
def test_keys_cannot_leave_the_store(tmp_path, key):
    store = RunStore(tmp_path / "runs")
    store.save("ok", make_result(), make_confusion(), "fp")
    (tmp_path / "outside").mkdir()
    assert store.get(key) is None
    with pytest.raises(ValueError, match="run key"):
        store.save(key, make_result(), make_confusion(), "fp")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "runs"]
    assert list((tmp_path / "outside").iterdir()) == []


def test_get_unknown_key_and_missing_root(tmp_path):
    store = RunStore(tmp_path / "not-yet")
    assert store.get("nothing") is None
    assert store.list_runs() == []


def test_list_runs_newest_first_and_resave_replaces(tmp_path):
    store = RunStore(tmp_path)
    for i in range(3):
        store.save(f"key{i}", make_result(seed=i), make_confusion(i), "fp")
        time.sleep(0.01)  # distinct created_at (millisecond resolution)
    assert [r.key for r in store.list_runs()] == ["key2", "key1", "key0"]
    newer = make_result(seed=9, losses=(0.5,))
    store.save("key0", newer, make_confusion(9), "fp")
    runs = store.list_runs()
    assert [r.key for r in runs] == ["key0", "key2", "key1"]
    assert runs[0].history == newer.history
    assert torch.equal(runs[0].load_weights()[0], newer.weight)
    # the replaced run's weights are gone; one weights file per run
    assert len(list((tmp_path / "key0").glob("weights-*.pt"))) == 1


# ---------------------------------------------------------------- damaged entries


def _store_with_two_runs(tmp_path) -> RunStore:
    store = RunStore(tmp_path)
    store.save("good", make_result(seed=1), make_confusion(1), "fp")
    store.save("bad", make_result(seed=2), make_confusion(2), "fp")
    return store


def _damage_garbage_json(folder: Path):
    (folder / "run.json").write_text("{not json")


def _damage_missing_weights(folder: Path):
    for f in folder.glob("weights-*.pt"):
        f.unlink()


def _damage_truncated_weights(folder: Path):
    for f in folder.glob("weights-*.pt"):
        f.write_bytes(f.read_bytes()[:1000])


def _damage_wrong_confusion(folder: Path):
    record = json.loads((folder / "run.json").read_text())
    record["confusion"] = [[1, 2], [3, 4]]
    (folder / "run.json").write_text(json.dumps(record))


def _damage_empty_json(folder: Path):
    (folder / "run.json").write_text("")


def _damage_unknown_config(folder: Path):
    record = json.loads((folder / "run.json").read_text())
    record["config"]["momentum"] = 0.9
    (folder / "run.json").write_text(json.dumps(record))


@pytest.mark.parametrize(
    "damage",
    [_damage_garbage_json, _damage_missing_weights, _damage_truncated_weights,
     _damage_wrong_confusion, _damage_empty_json, _damage_unknown_config],
)  # fmt: skip
def test_damaged_entries_are_skipped_with_a_warning(tmp_path, damage):
    store = _store_with_two_runs(tmp_path)
    damage(tmp_path / "bad")
    with pytest.warns(RuntimeWarning, match="Skipping damaged run .*bad"):
        runs = store.list_runs()
    assert [r.key for r in runs] == ["good"]
    with pytest.warns(RuntimeWarning, match="bad"):
        assert store.get("bad") is None
    assert store.get("good").load_weights()[1].shape == (10,)


def test_damaged_entry_is_replaced_by_a_new_save(tmp_path):
    store = _store_with_two_runs(tmp_path)
    _damage_truncated_weights(tmp_path / "bad")
    store.save("bad", make_result(seed=5), make_confusion(5), "fp")
    with warnings_as_errors():
        assert {r.key for r in store.list_runs()} == {"good", "bad"}


def test_folders_without_run_json_are_not_runs_and_not_warned_about(tmp_path):
    store = _store_with_two_runs(tmp_path)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "weights-0123.pt").write_bytes(b"partial")
    (tmp_path / "stray-file.txt").write_text("hello")
    with warnings_as_errors():
        assert {r.key for r in store.list_runs()} == {"good", "bad"}


def test_weights_that_would_run_code_are_refused(tmp_path):
    """A weights file carrying a pickled callable is not executed, even with a matching checksum; the run is
    skipped with a sentence that names neither a server path nor torch's advice to load it unsafely."""
    store = RunStore(tmp_path)
    run = store.save("k", make_result(), make_confusion(), "fp")
    marker = tmp_path / "code-ran"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    evil_path = run.path / run.weights_file
    torch.save({"weight": Evil(), "bias": torch.zeros(10)}, evil_path)
    raw = evil_path.read_bytes()
    record = json.loads((run.path / "run.json").read_text())
    record["weights"].update(bytes=len(raw), sha256=hashlib.sha256(raw).hexdigest())
    (run.path / "run.json").write_text(json.dumps(record))
    with pytest.warns(RuntimeWarning, match="cannot be read as plain tensors") as caught:
        assert store.get("k") is None
    said = str(caught[0].message)
    assert str(tmp_path) not in said and "weights_only" not in said and "pickle" not in said.lower()
    as_recorded = dataclasses.replace(
        run, weights=run_store.StoredFile(run.weights_file, len(raw), record["weights"]["sha256"])
    )
    with pytest.raises(ValueError, match="cannot be read"):
        as_recorded.load_weights()
    assert not marker.exists()


# ---------------------------------------------------------------- train_or_load and single flight


class CountingTrain:
    """A stand-in for training.train: counts calls, can block until told to go on."""

    def __init__(self, release: threading.Event | None = None, status="finished"):
        self.calls = 0
        self.release = release
        self.entered = threading.Event()
        self.status = status
        self._lock = threading.Lock()

    def __call__(self, config, data, progress=None, should_stop=None, progress_every=20):
        with self._lock:
            self.calls += 1
        self.entered.set()
        if self.release is not None:
            assert self.release.wait(30)
        return make_result(config=config, status=self.status, seed=self.calls)


def test_train_or_load_trains_once_then_reads(tmp_path, monkeypatch):
    fake = CountingTrain()
    monkeypatch.setattr(training, "train", fake)
    store, data, config = RunStore(tmp_path), fake_data(), TrainConfig(epochs=2)
    first, cached1, _ = train_or_load(store, config, data)
    second, cached2, _ = train_or_load(store, config, data)
    assert (fake.calls, cached1, cached2) == (1, False, True)
    assert isinstance(first, StoredRun) and isinstance(second, StoredRun)
    assert first.key == second.key == run_key(config, data.fingerprint)
    assert first.history == second.history
    # the stored confusion is that of the trained weights on the test set
    weight, bias = second.load_weights()
    expected = training.confusion_matrix(weight, bias, data.test_images, data.test_labels)
    assert torch.equal(second.confusion, expected) and int(second.confusion.sum()) == 50
    # refresh trains anew and replaces the stored run
    third, cached3, _ = train_or_load(store, config, data, refresh=True)
    assert (fake.calls, cached3) == (2, False)
    assert not torch.equal(third.load_weights()[0], weight)
    assert torch.equal(store.get(first.key).load_weights()[0], third.load_weights()[0])


def test_diverged_is_stored_cancelled_is_not(tmp_path, monkeypatch):
    store, data = RunStore(tmp_path), fake_data()
    monkeypatch.setattr(training, "train", CountingTrain(status="diverged"))
    run, cached, _ = train_or_load(store, TrainConfig(lr=50.0), data)
    assert isinstance(run, StoredRun) and run.status == "diverged" and not cached
    monkeypatch.setattr(training, "train", CountingTrain(status="cancelled"))
    result, cached, _ = train_or_load(store, TrainConfig(lr=0.2), data)
    assert isinstance(result, TrainResult) and result.status == "cancelled" and not cached
    assert [r.key for r in store.list_runs()] == [run.key]


def test_single_flight_two_threads(tmp_path, monkeypatch):
    release = threading.Event()
    fake = CountingTrain(release=release)
    monkeypatch.setattr(training, "train", fake)
    store, data, config = RunStore(tmp_path), fake_data(), TrainConfig(epochs=2)
    out = {}

    def ask(name):
        out[name] = train_or_load(store, config, data)[:2]

    first = threading.Thread(target=ask, args=("first",))
    first.start()
    assert fake.entered.wait(30)  # the first caller is training now, holding the key's lock
    second = threading.Thread(target=ask, args=("second",))
    second.start()
    second.join(0.5)
    assert second.is_alive(), "the second caller must wait for the first training, not return"
    release.set()
    first.join(30)
    second.join(30)
    assert fake.calls == 1
    (run1, cached1), (run2, cached2) = out["first"], out["second"]
    assert (cached1, cached2) == (False, True)
    assert run1.key == run2.key and run1.history == run2.history


def test_waiting_caller_can_be_stopped(tmp_path, monkeypatch):
    fake = CountingTrain()
    monkeypatch.setattr(training, "train", fake)
    store, data, config = RunStore(tmp_path), fake_data(), TrainConfig()
    stop = threading.Event()
    out = {}
    with store.lock(run_key(config, data.fingerprint)):  # someone else is training this key
        waiter = threading.Thread(
            target=lambda: out.update(r=train_or_load(store, config, data, should_stop=stop.is_set)[:2])
        )
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive()
        stop.set()
        waiter.join(30)
        assert not waiter.is_alive()
    result, cached = out["r"]
    assert isinstance(result, TrainResult) and result.status == "cancelled" and not cached
    assert fake.calls == 0 and store.list_runs() == []


# ---------------------------------------------------------------- with real training


def test_real_training_is_stored_and_read_back(tmp_path, fmnist):
    store = RunStore(tmp_path)
    config = TrainConfig(impl="concise", epochs=1, batch_size=2048, lr=0.3)
    run, cached, _ = train_or_load(store, config, fmnist)
    assert not cached and isinstance(run, StoredRun) and run.status == "finished"
    assert run.data_fingerprint == fmnist.fingerprint and len(run.history) == 1
    again, cached, _ = train_or_load(store, config, fmnist)
    assert cached and again.history == run.history and torch.equal(again.confusion, run.confusion)
    weight, bias = again.load_weights()
    # the stored confusion matrix is the stored weights' test-set confusion,
    # and its diagonal is the test accuracy the training reported
    assert torch.equal(again.confusion, training.confusion_matrix(weight, bias, fmnist.test_images, fmnist.test_labels))
    assert int(again.confusion.sum()) == 10_000
    assert int(again.confusion.trace()) / 10_000 == pytest.approx(run.history[-1].test_acc, abs=1e-12)
    # the test accuracy agrees with an independent computation from the weights
    logits = fmnist.test_images.reshape(-1, 784).float().div(255) @ weight + bias
    assert (logits.argmax(1) == fmnist.test_labels).float().mean().item() == pytest.approx(run.history[-1].test_acc)


def test_real_training_cancelled_stores_nothing(tmp_path, fmnist):
    store = RunStore(tmp_path)
    seen = []
    result, cached, _ = train_or_load(
        store, TrainConfig(epochs=3, batch_size=512), fmnist, progress=seen.append, should_stop=lambda: len(seen) >= 1
    )
    assert isinstance(result, TrainResult) and result.status == "cancelled" and not cached
    assert store.list_runs() == [] and store.get(run_key(result.config, fmnist.fingerprint)) is None


# ---------------------------------------------------------------- locks, cheap reads, broken runs, orphans


def with_snapshots(result: TrainResult, seed=0) -> TrainResult:
    g = torch.Generator().manual_seed(100 + seed)
    epochs = len(result.history)
    return dataclasses.replace(
        result, snapshots=(torch.randn(epochs + 1, 784, 10, generator=g), torch.randn(epochs + 1, 10, generator=g))
    )


def test_lock_files_do_not_pile_up_one_per_config(tmp_path):
    store = RunStore(tmp_path)
    for i in range(300):
        with store.lock(f"key{i}"):
            pass
    assert 0 < len(list((tmp_path / ".locks").iterdir())) <= run_store.LOCK_STRIPES < 300


def test_lock_excludes_another_thread_and_waiting_can_be_cancelled(tmp_path):
    store, stop, events = RunStore(tmp_path), threading.Event(), []

    def wait_for_it():
        try:
            with store.lock("k", should_stop=stop.is_set):
                events.append("acquired")
        except run_store.Cancelled:
            events.append("cancelled")

    with store.lock("k"):
        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive() and events == []
        stop.set()
        waiter.join(10)
    assert events == ["cancelled"]
    stop.clear()
    wait_for_it()
    assert events == ["cancelled", "acquired"]


def test_a_weights_file_with_flipped_bytes_is_never_served(tmp_path):
    """64 bytes flipped, size unchanged: only the checksum can tell, and reading a run checks it."""
    store = RunStore(tmp_path)
    run = store.save("k", make_result(), make_confusion(), "fp")
    path = run.path / run.weights_file
    raw = bytearray(path.read_bytes())
    for i in range(len(raw) - 200, len(raw) - 136):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.warns(RuntimeWarning, match=r"Skipping damaged run k: .*is damaged \(checksum differs\)") as caught:
        assert RunStore(tmp_path).get("k") is None
        assert store.list_runs() == []
    assert all(str(tmp_path) not in str(w.message) for w in caught)
    with pytest.raises(ValueError, match="checksum differs"):
        run.load_weights()
    path.write_bytes(bytes(raw[:-1]))  # a size change is caught without hashing
    with pytest.warns(RuntimeWarning, match="truncated or changed"):
        assert store.get("k") is None


def test_a_run_is_checked_once_per_file_not_per_read(tmp_path, monkeypatch):
    """Reading a run hashes and loads its tensor files once; again only after one of its files changed."""
    store = RunStore(tmp_path)
    run = store.save("k", with_snapshots(make_result()), make_confusion(), "fp")
    monkeypatch.setattr(run_store, "_listing", {})  # a new process
    loads = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **kw: loads.append(1) or real_load(*a, **kw))
    for _ in range(3):
        assert RunStore(tmp_path).get("k") is not None and len(RunStore(tmp_path).list_runs()) == 1
    assert len(loads) == 2  # the weights and the snapshots, once
    path = run.path / run.weights_file
    raw = bytearray(path.read_bytes())
    raw[-30] ^= 0xFF
    path.write_bytes(bytes(raw))  # a new mtime: checked again, and the verdict is kept too
    for _ in range(3):
        with pytest.warns(RuntimeWarning, match="checksum differs"):
            assert RunStore(tmp_path).get("k") is None
    assert len(loads) == 2  # the checksum failed before any load, and only the first read hashed


def test_listing_again_reads_only_the_runs_that_changed(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    for i in range(3):
        store.save(f"key{i}", make_result(seed=i), make_confusion(i), "fp")
    reads = []  # the runs whose record (run.json) was read from disk
    real_read_bytes = Path.read_bytes
    monkeypatch.setattr(
        Path,
        "read_bytes",
        lambda path: (reads.append(path.parent.name) if path.name == "run.json" else None) or real_read_bytes(path),
    )
    first = store.list_runs()
    reads.clear()
    assert RunStore(tmp_path).list_runs() == first and reads == []  # a rerun: nothing parsed again
    store.save("key1", make_result(seed=7, losses=(0.3, 0.2)), make_confusion(7), "fp")  # reads what it wrote
    again = RunStore(tmp_path).list_runs()
    assert reads == ["key1"] and again[0].key == "key1" and again[0].history[0].train_loss == 0.3


def _save_with_matching_checksum(run: StoredRun, weight, bias, entry: str = "weights") -> None:
    """Replace a run's weights (or snapshots) and fix run.json's size and checksum, as a careless tool would."""
    path = run.path / getattr(run, entry).name
    torch.save({"weight": weight, "bias": bias}, path)
    raw = path.read_bytes()
    record = json.loads((run.path / "run.json").read_text())
    record[entry].update(bytes=len(raw), sha256=hashlib.sha256(raw).hexdigest())
    (run.path / "run.json").write_text(json.dumps(record))


@pytest.mark.parametrize(
    "weight, bias, why",
    [
        (torch.zeros(10, 784), torch.zeros(10), "shapes"),
        (torch.full((784, 10), float("nan")), torch.zeros(10), "inf or nan"),
    ],
)
def test_a_broken_stored_run_is_trained_again_and_reported_never_served(tmp_path, monkeypatch, weight, bias, why):
    fake = CountingTrain()
    monkeypatch.setattr(training, "train", fake)
    store, data, config = RunStore(tmp_path), fake_data(), TrainConfig(epochs=2)
    run, cached, replaced = train_or_load(store, config, data)
    assert (cached, replaced, fake.calls) == (False, "", 1)
    _save_with_matching_checksum(run, weight, bias)
    with pytest.warns(RuntimeWarning, match=why):
        assert store.get(run.key) is None  # the checksum matches, the tensors do not: never served
    again, cached, replaced = train_or_load(store, config, data)
    assert fake.calls == 2 and cached is False and why in replaced
    assert isinstance(again, StoredRun) and again.load_weights()[0].shape == (784, 10)
    again.validate()
    assert train_or_load(store, config, data)[1:] == (True, "") and fake.calls == 2


def test_a_save_that_fails_after_the_weights_leaves_no_orphan(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    old = store.save("k", with_snapshots(make_result(seed=1)), make_confusion(1), "fp")
    before = sorted(p.name for p in old.path.iterdir())

    def disk_full(step):
        if step == "replace run.json":
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(run_store, "_before_step", disk_full)
    for key in ("k", "new"):
        with pytest.raises(OSError, match="No space left"):
            store.save(key, with_snapshots(make_result(seed=2)), make_confusion(2), "fp")
    assert sorted(p.name for p in old.path.iterdir()) == before  # the old run, untouched
    assert list((tmp_path / "new").iterdir()) == []
    monkeypatch.setattr(run_store, "_before_step", None)
    with warnings_as_errors():
        assert torch.equal(store.get("k").load_weights()[0], old.load_weights()[0])


def test_orphans_left_by_killed_writers_are_swept_on_start(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    kept = store.save("kept", with_snapshots(make_result(seed=1)), make_confusion(1), "fp")
    committed = sorted(p.name for p in kept.path.iterdir())
    (kept.path / "weights-0dead0.pt").write_bytes(b"x" * 1000)  # a save killed before its commit
    (kept.path / "snapshots-0dead0.pt").write_bytes(b"x" * 1000)
    (kept.path / ".tmp-0dead0-run.json").write_text("{")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "weights-0123.pt").write_bytes(b"partial")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "weights-4567.pt").write_bytes(b"being written")
    with store.lock("busy"):  # a writer at work (in another process, say): its folder is left alone
        monkeypatch.setattr(run_store, "_swept", set())  # a new process
        # Its first write sweeps. The two keys have locks of their own: were they to share one, this would be
        # cancelled, not wait forever.
        with store.lock("other", should_stop=lambda: True):
            pass
    assert sorted(p.name for p in kept.path.iterdir()) == committed
    assert not (tmp_path / "half").exists()
    assert (tmp_path / "busy" / "weights-4567.pt").exists()
    with warnings_as_errors():
        assert [r.key for r in store.list_runs()] == ["kept"]
    assert torch.equal(store.get("kept").load_snapshots()[0], with_snapshots(make_result(seed=1)).snapshots[0])


# ---------------------------------------------------------------- snapshots and the divergence record


def test_snapshots_round_trip_in_a_weights_only_file(tmp_path):
    store = RunStore(tmp_path)
    result = with_snapshots(make_result())
    run = store.save("k", result, make_confusion(), "fp")
    weight, bias = store.get("k").load_snapshots()
    assert torch.equal(weight, result.snapshots[0]) and torch.equal(bias, result.snapshots[1])
    assert weight.shape == (3, 784, 10) and bias.shape == (3, 10) and weight.dtype == torch.float32
    stored = torch.load(run.path / run.snapshots.name, weights_only=True)
    assert set(stored) == {"weight", "bias"}
    assert len(list(run.path.glob("snapshots-*.pt"))) == 1
    store.save("k", with_snapshots(make_result(seed=3), seed=3), make_confusion(), "fp")
    assert len(list(run.path.glob("snapshots-*.pt"))) == 1  # the replaced run's snapshots are gone


def test_snapshots_of_the_wrong_shape_are_a_sentence(tmp_path):
    store = RunStore(tmp_path)
    run = store.save("k", with_snapshots(make_result()), make_confusion(), "fp")
    weight, bias = run.load_snapshots()
    _save_with_matching_checksum(run, weight[..., :9], bias, entry="snapshots")  # a class lost
    with pytest.warns(RuntimeWarning, match=r"holds shapes \(\d+, 784, 9\) .* train this run again"):
        assert store.get("k") is None
    _save_with_matching_checksum(run, weight[1:], bias[1:], entry="snapshots")  # an epoch lost
    with pytest.warns(RuntimeWarning, match="expected"):
        assert store.get("k") is None


def test_runs_stored_before_snapshots_still_open(tmp_path):
    store = RunStore(tmp_path)
    run = store.save("k", make_result(), make_confusion(), "fp")  # no snapshots
    record = json.loads((run.path / "run.json").read_text())
    for field in ("snapshots", "batch_losses", "diverged_at"):  # what older code wrote lacks these fields
        del record[field]
    (run.path / "run.json").write_text(json.dumps(record))
    with warnings_as_errors():
        got = store.get("k")
    assert got.load_snapshots() is None and got.batch_losses == () and got.diverged_at is None
    got.validate()
    assert torch.equal(got.load_weights()[0], run.load_weights()[0])


def test_a_diverged_run_keeps_its_batch_losses_and_where_it_blew_up(tmp_path):
    store = RunStore(tmp_path)
    result = dataclasses.replace(
        make_result(status="diverged", losses=()), batch_losses=(2.30, 1.9, 7.5, float("inf")), diverged_at=(2, 3)
    )
    run = store.save("k", result, make_confusion(), "fp")
    json.loads((run.path / "run.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-standard {c}"))
    got = RunStore(tmp_path).get("k")
    assert got.diverged_at == (2, 3) and got.batch_losses[:3] == (2.30, 1.9, 7.5) and math.isnan(got.batch_losses[3])
    got.validate()  # a diverged run is served as it is


# ---------------------------------------------------------------- a readable but odd run.json


def _edit_record(folder: Path, change) -> None:
    """Change run.json as a careless tool (or a hostile one with write access) would; Python writes NaN and
    huge integers as they are."""
    record = json.loads((folder / "run.json").read_text())
    change(record)
    (folder / "run.json").write_text(json.dumps(record))


def _diverged_with(**fields):
    return lambda r: r.update(status="diverged", **fields)


ODD_RECORDS = {
    "finished with an empty history": lambda r: r.update(history=[]),
    "an epoch of 10**400": lambda r: r["history"][0].update(epoch=10**400),
    "an epoch beyond the run's epochs": lambda r: r["history"][1].update(epoch=3),
    "a test accuracy of 10**400": lambda r: r["history"][1].update(test_acc=10**400),
    "a train loss of Infinity": lambda r: r["history"][1].update(train_loss=float("inf")),
    "a NaN training time": lambda r: r.update(train_seconds=float("nan")),
    "a negative training time": lambda r: r.update(train_seconds=-1.0),
    "a training time as text": lambda r: r.update(train_seconds="1.5"),
    "2,000,000 batch losses": _diverged_with(batch_losses=[1] * 2_000_000),
    "one batch loss more than the writer keeps": _diverged_with(batch_losses=[1.0] * (training.MAX_BATCH_LOSSES + 1)),
    "batch losses in a finished run": lambda r: r.update(batch_losses=[1.0, 2.0]),
    "a divergence point past the run": _diverged_with(diverged_at=[3, 1]),
    "a divergence point past the epoch's batches": _diverged_with(diverged_at=[1, 10**6]),
    "a status the store never writes": lambda r: r.update(status="stopped"),
    "a message longer than the writer's limit": lambda r: r.update(message="x" * (run_store.MAX_MESSAGE + 1)),
    "a time that is not a time": lambda r: r.update(created_at="[yesterday](https://evil.example)"),
    "a negative confusion count": lambda r: r["confusion"][0].__setitem__(0, -1),
    "a confusion count of true": lambda r: r["confusion"][0].__setitem__(0, True),
    "the format as true": lambda r: r.update(format=True),
    "a weights file outside its folder": lambda r: r["weights"].update(file="../good/" + r["weights"]["file"]),
    "a weights size of 10**400": lambda r: r["weights"].update(bytes=10**400),
    "a history row that is a list": lambda r: r["history"].__setitem__(0, [1, 0.5, 0.5, 0.5, 1.0]),
}


@pytest.mark.parametrize("change", ODD_RECORDS.values(), ids=ODD_RECORDS.keys())
def test_an_odd_record_is_skipped_with_a_short_sentence(tmp_path, change):
    store = _store_with_two_runs(tmp_path)
    _edit_record(tmp_path / "bad", change)
    with pytest.warns(RuntimeWarning, match="Skipping damaged run bad: ") as caught:
        assert [r.key for r in RunStore(tmp_path).list_runs()] == ["good"]
        assert store.get("bad") is None
    for warning in caught:
        said = str(warning.message)
        assert str(tmp_path) not in said and len(said) < 300 and "evil" not in said, said


def test_a_record_over_the_size_limit_is_not_parsed(tmp_path, monkeypatch):
    store = _store_with_two_runs(tmp_path)
    _edit_record(tmp_path / "bad", lambda r: r.update(padding=" " * run_store.MAX_RECORD_BYTES))
    parsed = []
    real_loads = json.loads
    monkeypatch.setattr(json, "loads", lambda *a, **kw: parsed.append(1) or real_loads(*a, **kw))
    with pytest.warns(RuntimeWarning, match="is at most"):
        assert store.get("bad") is None
    assert parsed == []


def test_what_the_writer_stores_always_fits_the_reader(tmp_path):
    """One schema: a result the reader would refuse is refused before the commit, and nothing is left."""
    store = RunStore(tmp_path)
    past = dataclasses.replace(make_result(status="diverged"), diverged_at=(5, 1))  # the run has 2 epochs
    with pytest.raises(ValueError, match="diverged_at"):
        store.save("k", past, make_confusion(), "fp")
    assert store.get("k") is None and list((tmp_path / "k").iterdir()) == []
    chatty = dataclasses.replace(make_result(), message="y" * 10 * run_store.MAX_MESSAGE)
    assert len(store.save("k", chatty, make_confusion(), "fp").message) == run_store.MAX_MESSAGE  # cut, stored


@pytest.mark.parametrize(
    "change",
    [ODD_RECORDS["finished with an empty history"], ODD_RECORDS["a NaN training time"],
     ODD_RECORDS["2,000,000 batch losses"]],
    ids=["empty history", "NaN time", "2,000,000 losses"],
)  # fmt: skip
def test_an_odd_record_is_trained_again_and_replaced(tmp_path, monkeypatch, change):
    fake = CountingTrain()
    monkeypatch.setattr(training, "train", fake)
    store, data, config = RunStore(tmp_path), fake_data(), TrainConfig(epochs=2)
    run = train_or_load(store, config, data).run
    _edit_record(run.path, change)
    again, cached, replaced = train_or_load(store, config, data)
    assert fake.calls == 2 and not cached and f"Run {run.key} cannot be served: its record (run.json)" in replaced
    with warnings_as_errors():
        assert store.get(run.key).history == again.history


def test_nan_snapshots_behind_a_matching_checksum_are_never_served(tmp_path):
    store = RunStore(tmp_path)
    run = store.save("k", with_snapshots(make_result()), make_confusion(), "fp")
    weight, bias = run.load_snapshots()
    weight[1, 0, 0] = float("nan")
    _save_with_matching_checksum(run, weight, bias, entry="snapshots")
    with pytest.warns(RuntimeWarning, match="snapshots file of run k holds inf or nan"):
        assert store.get("k") is None


@pytest.mark.parametrize(
    "tensors, why",
    [
        ({"weight": [[0.0] * 10] * 784, "bias": [0.0] * 10}, "does not hold tensors"),
        ({"weight": torch.zeros(784, 10, dtype=torch.int64), "bias": torch.zeros(10)}, "real numbers"),
        ({"bias": torch.zeros(10)}, "cannot be read as plain tensors"),
        ([torch.zeros(784, 10), torch.zeros(10)], "cannot be read as plain tensors"),
    ],
    ids=["lists", "integers", "no weight", "a list"],
)
def test_a_weights_file_without_the_two_tensors_is_never_served(tmp_path, tensors, why):
    store = RunStore(tmp_path)
    run = store.save("k", make_result(), make_confusion(), "fp")
    path = run.path / run.weights_file
    torch.save(tensors, path)
    raw = path.read_bytes()
    _edit_record(run.path, lambda r: r["weights"].update(bytes=len(raw), sha256=hashlib.sha256(raw).hexdigest()))
    with pytest.warns(RuntimeWarning, match=why):
        assert store.get("k") is None


# ---------------------------------------------------------------- the queue's path


def test_the_queue_trains_a_damaged_run_again_instead_of_serving_it(tmp_path, monkeypatch):
    """Train on the page goes through TrainingJobs.start: a stored run with flipped bytes is not "Cached"."""
    from softmax_core.training_queue import TrainingJobs

    fake = CountingTrain()
    monkeypatch.setattr(training, "train", fake)
    store, config = RunStore(tmp_path), TrainConfig(epochs=2)
    data = SimpleNamespace(**vars(fake_data()), train_images=torch.zeros(60, 28, 28, dtype=torch.uint8))
    run = train_or_load(store, config, data).run
    path = run.path / run.weights_file
    raw = bytearray(path.read_bytes())
    for i in range(len(raw) - 200, len(raw) - 136):  # 64 bytes flipped, size unchanged
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    jobs = TrainingJobs(store, data)
    try:
        job = jobs.start(config, session="a")
        assert job.wait(30)
        snap = job.snapshot()
        assert snap.state == "done" and not snap.cached and fake.calls == 2
        assert isinstance(snap.result, StoredRun) and snap.result.weights != run.weights
        again = jobs.start(config, session="a")  # now stored and sound: served at once
        assert again.snapshot().cached and fake.calls == 2
    finally:
        jobs.shutdown()
