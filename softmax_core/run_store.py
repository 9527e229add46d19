"""Finished trainings on disk, so a run is trained once and then only read.

A run is identified by its key: a hash of the training config, the data
fingerprint and ``TRAINING_CODE_VERSION`` (change any of them and it is a
different run). Each run lives in one folder::

    <runs dir>/<key>/weights-<nonce>.pt    {"weight": (784, 10), "bias": (10,)}, torch.save
    <runs dir>/<key>/snapshots-<nonce>.pt  {"weight": (E+1, 784, 10), "bias": (E+1, 10)}: W, b after k epochs
    <runs dir>/<key>/run.json              config, metrics, confusion matrix, names + sizes + sha256 of both files

``run.json`` is written last and is the commit marker: every file is written
to a temp file in the same folder, fsynced, then ``os.replace``-d into place,
so a writer killed at any moment leaves either the old run or the new run,
never half of one. A save that fails removes the files it wrote; files left by
a writer that was killed are swept the first time this process writes to the
store. Tensor files load with ``torch.load(weights_only=True)``, which never
executes code from the file. Runs stored before snapshots existed have no
snapshots file and still open.

Two callers that want the same run at once (threads in a server, or the CLI
and the server) train it once: they take the key's lock (``filelock``; the key
hashes to one of 256 lock files, so lock files never pile up) and whoever comes
second waits, then reads. Deciding to train lives in
:mod:`softmax_core.train_or_load`; this module only reads and writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import threading
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from filelock import FileLock, Timeout

from softmax_core import training
from softmax_core.cache_dirs import folder_from_env
from softmax_core.json_safe import finite_or_none, none_to_nan

ENV_VAR = "SOFTMAX_RUNS_DIR"
RUN_FILE = "run.json"
LOCK_DIR = ".locks"
LOCK_STRIPES = 256  # lock files: at most this many, whatever the number of runs
FORMAT = 1  # snapshots, batch losses and the divergence point are optional fields of format 1
NUM_INPUTS, NUM_CLASSES = 784, 10
LOCK_POLL_SECONDS = 0.1

# Tests set this to pause, kill or fail a writer between two steps of a save; it is called with the
# step about to happen: "replace weights", "replace snapshots", "replace run.json", "cleanup".
_before_step = None


def default_runs_dir() -> Path:
    """``$SOFTMAX_RUNS_DIR``, else the per-user cache, e.g. ``~/.cache/softmax-dashboard/runs``."""
    return folder_from_env(ENV_VAR, "runs")


def run_key(config: training.TrainConfig, data_fingerprint: str) -> str:
    """Same config + same data + same training code -> same key (20 hex digits)."""
    identity = {
        "config": config.validated().to_dict(),
        "data": str(data_fingerprint),
        "code": training.TRAINING_CODE_VERSION,
    }
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class Cancelled(Exception):
    """Raised inside the store when ``should_stop`` became true while waiting for a lock."""


@dataclass(frozen=True)
class StoredFile:
    """A tensor file of a run, as ``run.json`` records it."""

    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class StoredRun:
    key: str
    config: training.TrainConfig
    history: tuple[training.EpochMetrics, ...]
    status: str  # "finished" | "diverged"
    message: str
    train_seconds: float
    created_at: str  # ISO 8601, UTC
    data_fingerprint: str
    path: Path  # the run's folder
    confusion: torch.Tensor  # (10, 10) int64 on the test set, rows = true class
    weights: StoredFile
    snapshots: StoredFile | None = None  # None for runs stored before snapshots existed
    batch_losses: tuple[float, ...] = ()  # a diverged run: mean loss per batch up to the blow-up
    diverged_at: tuple[int, int] | None = None  # a diverged run: (epoch, batch), 1-based
    trained_by: str = ""  # the signed-in name of who started the training; "" without sign-in

    @property
    def weights_file(self) -> str:
        return self.weights.name

    def load_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight (784, 10), bias (10,)) as float32, checksum checked; ``weights_only=True`` runs no code."""
        weight, bias = _load_tensors(self.path, self.weights, self.key)
        _check_shapes(self.path / self.weights.name, weight, bias, ())
        return weight, bias

    def load_snapshots(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """W and b after k epochs at index k: (E+1, 784, 10) and (E+1, 10) float32; None for older runs."""
        if self.snapshots is None:
            return None
        weight, bias = _load_tensors(self.path, self.snapshots, self.key)
        _check_shapes(self.path / self.snapshots.name, weight, bias, (len(self.history) + 1,))
        return weight, bias

    def validate(self) -> None:
        """Raise ValueError (a sentence) unless this run can be served as it is.

        Loads the weights (checksum, shapes) and the snapshots; a finished run
        must have finite weights and snapshots and one metrics row per epoch.
        """
        weight, bias = self.load_weights()
        snapshots = self.load_snapshots()
        if self.status == "finished":
            # SGD runs log one row per epoch; an L-BFGS run logs every few iterations and may converge early.
            if self.config.impl in training.IMPLS and len(self.history) != self.config.epochs:
                raise ValueError(
                    f"Run {self.key} says it finished {self.config.epochs} epoch(s) but holds "
                    f"{len(self.history)} row(s) of metrics: train it again."
                )
            tensors = (weight, bias, *(snapshots or ()))
            if not all(bool(torch.isfinite(t).all()) for t in tensors):
                raise ValueError(f"Run {self.key} is marked finished but its weights hold inf or nan: train it again.")


def _load_tensors(folder: Path, stored: StoredFile, key: str) -> tuple[torch.Tensor, torch.Tensor]:
    path = folder / stored.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"The file {path} of run {key} is missing: train it again.") from exc
    if len(raw) != stored.size or hashlib.sha256(raw).hexdigest() != stored.sha256:
        raise ValueError(f"The file {path} is damaged (checksum differs): train run {key} again.")
    try:
        tensors = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
        weight, bias = tensors["weight"], tensors["bias"]
    except Exception as exc:  # truncated zip, pickle refused by weights_only, missing entry
        raise ValueError(f"The file {path} cannot be read ({exc}): train this run again.") from exc
    if not (isinstance(weight, torch.Tensor) and isinstance(bias, torch.Tensor)):
        raise ValueError(f"The file {path} does not hold tensors: train this run again.")
    return weight.float(), bias.float()


def _check_shapes(path: Path, weight: torch.Tensor, bias: torch.Tensor, lead: tuple[int, ...]) -> None:
    want_w, want_b = (*lead, NUM_INPUTS, NUM_CLASSES), (*lead, NUM_CLASSES)
    if tuple(weight.shape) != want_w or tuple(bias.shape) != want_b:
        raise ValueError(
            f"The file {path} holds shapes {tuple(weight.shape)} and {tuple(bias.shape)}, "
            f"expected {want_w} and {want_b}: train this run again."
        )


# ---------------------------------------------------------------- atomic files


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _step(name: str) -> None:
    if _before_step is not None:
        _before_step(name)


def _write_atomic(path: Path, data: bytes, step: str) -> None:
    """Temp file in the same folder, fsync, rename over ``path``, fsync the folder."""
    tmp = path.with_name(f".tmp-{secrets.token_hex(6)}-{path.name}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _step(step)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _tensor_bytes(weight: torch.Tensor, bias: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    torch.save({"weight": _plain(weight), "bias": _plain(bias)}, buffer)
    return buffer.getvalue()


def _plain(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to("cpu", torch.float32).contiguous().clone()


def _history_to_json(history) -> list[dict]:
    return [
        {
            "epoch": int(m.epoch),
            "train_loss": finite_or_none(m.train_loss),
            "train_acc": finite_or_none(m.train_acc),
            "test_acc": finite_or_none(m.test_acc),
            "seconds": float(m.seconds),
        }
        for m in history
    ]


def _history_from_json(rows) -> tuple[training.EpochMetrics, ...]:
    return tuple(
        training.EpochMetrics(
            epoch=int(r["epoch"]),
            train_loss=none_to_nan(r["train_loss"]),
            train_acc=none_to_nan(r["train_acc"]),
            test_acc=none_to_nan(r["test_acc"]),
            seconds=float(r["seconds"]),
        )
        for r in rows
    )


def _file_record(name: str, data: bytes) -> dict:
    return {"file": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _stored_file(folder: Path, entry) -> StoredFile:
    """A ``run.json`` file entry, checked to name a file of this folder with the recorded size (no hashing)."""
    name = entry["file"]
    if not isinstance(name, str) or (folder / name).parent != folder or name.startswith("."):
        raise ValueError(f"file {name!r} is outside the run folder")
    size = (folder / name).stat().st_size  # FileNotFoundError: damaged
    if size != int(entry["bytes"]):
        raise ValueError(f"file {name} is truncated or changed ({size} bytes, expected {entry['bytes']})")
    return StoredFile(name, size, str(entry["sha256"]))


def _valid_key(key) -> bool:
    """Keys name folders: no path separators, no dots, so a key from a URL cannot leave the store."""
    return isinstance(key, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,100}", key) is not None


def _check_key(key) -> None:
    if not _valid_key(key):
        raise ValueError(f"A run key is letters, digits, - and _ (at most 100), got {key!r}")


# What list_runs read before, per run folder: re-read only when run.json or a tensor file changed.
_listing: dict[Path, tuple[tuple, StoredRun]] = {}
_listing_guard = threading.Lock()
_swept: set[Path] = set()
_swept_guard = threading.Lock()


def _signature(folder: Path) -> tuple | None:
    """Identity of a run's files without reading them: (inode, size, mtime) of run.json and its tensor files."""
    try:
        names = [RUN_FILE, *sorted(p.name for p in folder.iterdir() if p.suffix == ".pt" and p.name[0] != ".")]
        stats = [(folder / name).stat() for name in names]
    except (FileNotFoundError, NotADirectoryError):
        return None
    return tuple((name, s.st_ino, s.st_size, s.st_mtime_ns) for name, s in zip(names, stats))


# ---------------------------------------------------------------- the store


class RunStore:
    """The runs folder: read, list and (atomically) write trained runs."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root).expanduser() if root is not None else default_runs_dir()

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    # -- reading

    def get(self, key: str) -> StoredRun | None:
        """The stored run, or None if there is none (or it is damaged: then a warning says so)."""
        try:
            return self.open(key)
        except ValueError as exc:
            warnings.warn(f"Skipping damaged run {self.root / key}: {exc}", RuntimeWarning, stacklevel=2)
            return None

    def open(self, key: str) -> StoredRun | None:
        """The stored run, None if there is none, ValueError (a sentence) if it is damaged.

        Reads ``run.json`` and checks the tensor files' sizes; their checksums
        are checked when they are loaded (:meth:`StoredRun.load_weights`).
        """
        if not _valid_key(key):
            return None
        folder = self.root / key
        if not (folder / RUN_FILE).exists():
            return None
        try:
            return self._read_cached(folder)
        except Exception as exc:
            raise ValueError(str(exc)) from exc

    def list_runs(self) -> list[StoredRun]:
        """Every readable run, newest first; damaged or half-written ones are skipped with a warning.

        Cheap on a rerun: each run folder costs a few ``stat`` calls, and only
        runs whose files changed since the last listing are read again.
        """
        if not self.root.is_dir():
            return []
        runs = []
        for folder in self.root.iterdir():
            if folder.name.startswith(".") or not (folder / RUN_FILE).is_file():
                continue  # a writer is still busy (or was killed) before its commit: not a run yet
            try:
                runs.append(self._read_cached(folder))
            except Exception as exc:
                warnings.warn(f"Skipping damaged run {folder}: {exc}", RuntimeWarning, stacklevel=2)
        return sorted(runs, key=lambda run: (run.created_at, run.key), reverse=True)

    def _read_cached(self, folder: Path) -> StoredRun:
        folder = folder.absolute()
        before = _signature(folder)
        with _listing_guard:
            hit = _listing.get(folder)
        if hit is not None and before is not None and hit[0] == before:
            return hit[1]
        run = self._read_settled(folder)
        if before is not None and _signature(folder) == before:  # nothing changed while we read
            with _listing_guard:
                _listing[folder] = (before, run)
        return run

    def _read_settled(self, folder: Path) -> StoredRun:
        """Read, and read once more if that failed: a replacement may have committed in between."""
        try:
            return self._read(folder)
        except Exception:
            return self._read(folder)

    def _read(self, folder: Path) -> StoredRun:
        record = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise ValueError(f"{RUN_FILE} is not a run record of format {FORMAT}")
        if record["key"] != folder.name:
            raise ValueError(f"{RUN_FILE} names key {record['key']!r} but sits in folder {folder.name!r}")
        confusion = torch.tensor(record["confusion"], dtype=torch.int64)
        if tuple(confusion.shape) != (NUM_CLASSES, NUM_CLASSES):
            raise ValueError(f"confusion matrix has shape {tuple(confusion.shape)}, expected (10, 10)")
        snapshots = record.get("snapshots")
        diverged_at = record.get("diverged_at")
        return StoredRun(
            key=record["key"],
            config=training.TrainConfig.from_dict(record["config"]),
            history=_history_from_json(record["history"]),
            status=str(record["status"]),
            message=str(record["message"]),
            train_seconds=float(record["train_seconds"]),
            created_at=str(record["created_at"]),
            data_fingerprint=str(record["data_fingerprint"]),
            path=folder,
            confusion=confusion,
            weights=_stored_file(folder, record["weights"]),
            snapshots=_stored_file(folder, snapshots) if snapshots is not None else None,
            batch_losses=tuple(none_to_nan(x) for x in record.get("batch_losses", ())),
            diverged_at=(int(diverged_at[0]), int(diverged_at[1])) if diverged_at is not None else None,
            trained_by=str(record.get("trained_by") or ""),
        )

    # -- writing

    def save(
        self,
        key: str,
        result: training.TrainResult,
        confusion: torch.Tensor,
        data_fingerprint: str,
        trained_by: str = "",
    ) -> StoredRun:
        """Store a finished or diverged run under ``key`` (replacing any older one), atomically."""
        with self.lock(key):
            return self.write_locked(key, result, confusion, data_fingerprint, trained_by)

    def write_locked(self, key, result, confusion, data_fingerprint, trained_by: str = "") -> StoredRun:
        """:meth:`save` for a caller that already holds ``self.lock(key)``."""
        _check_key(key)
        if result.status not in ("finished", "diverged"):
            raise ValueError(f"Only finished or diverged runs are stored, not {result.status!r} ones.")
        confusion = torch.as_tensor(confusion).to(torch.int64)
        if tuple(confusion.shape) != (NUM_CLASSES, NUM_CLASSES):
            raise ValueError(f"confusion must be (10, 10), got {tuple(confusion.shape)}")
        folder = self.root / key
        if not folder.is_dir():
            folder.mkdir(parents=True)
            _fsync_dir(self.root)
        _remove_orphans(folder)  # we hold the key's lock: anything not committed here is from a dead writer

        nonce = secrets.token_hex(6)
        written: list[Path] = []
        try:
            weights = _tensor_bytes(result.weight, result.bias)
            weights_file = f"weights-{nonce}.pt"
            written.append(folder / weights_file)
            _write_atomic(folder / weights_file, weights, "replace weights")
            snapshots_entry = None
            if result.snapshots is not None:
                snapshots = _tensor_bytes(*result.snapshots)
                snapshots_entry = _file_record(f"snapshots-{nonce}.pt", snapshots)
                written.append(folder / snapshots_entry["file"])
                _write_atomic(folder / snapshots_entry["file"], snapshots, "replace snapshots")
            record = {
                "format": FORMAT,
                "key": key,
                "config": result.config.to_dict(),
                "history": _history_to_json(result.history),
                "status": result.status,
                "message": result.message,
                "train_seconds": float(result.train_seconds),
                "created_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "data_fingerprint": str(data_fingerprint),
                "training_code_version": training.TRAINING_CODE_VERSION,
                "confusion": confusion.tolist(),
                "weights": _file_record(weights_file, weights),
                "snapshots": snapshots_entry,
                "batch_losses": [finite_or_none(x) for x in result.batch_losses],
                "diverged_at": list(result.diverged_at) if result.diverged_at is not None else None,
                "trained_by": str(trained_by),
            }
            data = json.dumps(record, indent=1, allow_nan=False).encode("utf-8")
            _write_atomic(folder / RUN_FILE, data, "replace run.json")  # the commit
        except BaseException:
            for path in written:  # not committed: the old run (if any) still names its own files
                with contextlib.suppress(OSError):
                    path.unlink()
            raise
        _step("cleanup")
        _remove_orphans(folder)  # the files of the run this one replaced
        return self._read(folder)

    def sweep(self) -> int:
        """Remove what killed writers left (temp files, uncommitted tensor files); returns how many files.

        Only folders whose lock is free are swept (a held lock means a writer is
        at work there); every file a live writer could still commit was written
        after it took the lock, so nothing a writer needs is removed.
        """
        removed = 0
        if not self.root.is_dir():
            return 0
        for folder in self.root.iterdir():
            if folder.name.startswith(".") or not folder.is_dir() or not _valid_key(folder.name):
                continue
            file_lock = FileLock(self._lock_path(folder.name))
            try:
                file_lock.acquire(timeout=0)
            except (Timeout, OSError):
                continue
            try:
                removed += _remove_orphans(folder)
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if a killed first save left it empty
            finally:
                file_lock.release()
        return removed

    def _sweep_once(self) -> None:
        root = self.root.absolute()
        with _swept_guard:
            if root in _swept:
                return
            _swept.add(root)
        self.sweep()

    def _lock_path(self, key: str) -> Path:
        stripe = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % LOCK_STRIPES
        return self.root / LOCK_DIR / f"{stripe:02x}.lock"

    @contextlib.contextmanager
    def lock(self, key: str, should_stop=None):
        """Hold ``key`` against other threads and processes; raise ``Cancelled`` if ``should_stop()`` while waiting.

        Keys share 256 lock files, so two different keys may now and then wait
        for each other; the same key never runs twice at once.
        """
        _check_key(key)
        (self.root / LOCK_DIR).mkdir(parents=True, exist_ok=True)
        self._sweep_once()
        file_lock = FileLock(self._lock_path(key))  # one instance per call: threads exclude each other too
        while True:
            try:
                file_lock.acquire(timeout=LOCK_POLL_SECONDS)
                break
            except Timeout:
                if should_stop is not None and should_stop():
                    raise Cancelled from None
        try:
            yield
        finally:
            file_lock.release()


def _committed_files(folder: Path) -> set[str] | None:
    """The tensor files ``run.json`` names; empty if there is no run.json; None if it cannot be read."""
    try:
        record = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
        return {entry["file"] for entry in (record["weights"], record.get("snapshots")) if entry}
    except FileNotFoundError:
        return set()
    except Exception:  # damaged, or written by other code: leave its files alone
        return None


def _remove_orphans(folder: Path) -> int:
    """Delete temp files and the tensor files ``run.json`` does not name; the caller holds the key's lock."""
    keep = _committed_files(folder)
    orphans = list(folder.glob(".tmp-*"))
    if keep is not None:
        orphans += [p for p in (*folder.glob("weights-*.pt"), *folder.glob("snapshots-*.pt")) if p.name not in keep]
    removed = 0
    for path in orphans:
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
    return removed
