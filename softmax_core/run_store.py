"""Finished trainings on disk, so a run is trained once and then only read.

A run is identified by its key: a hash of the training config, the data
fingerprint and ``TRAINING_CODE_VERSION`` (change any of them and it is a
different run). Each run lives in one folder::

    <runs dir>/<key>/weights-<nonce>.pt   {"weight": (784, 10), "bias": (10,)}, torch.save
    <runs dir>/<key>/run.json            config, per-epoch metrics, confusion matrix, weights file name + sha256

``run.json`` is written last and is the commit marker: every file is written
to a temp file in the same folder, fsynced, then ``os.replace``-d into place,
so a writer killed at any moment leaves either the old run or the new run,
never half of one. Weights load with ``torch.load(weights_only=True)``, which
never executes code from the file.

Two callers that want the same run at once (threads in a server, or the CLI
and the server) train it once: a per-key ``threading.Lock`` plus a per-key
lock file held with ``fcntl.flock``; whoever comes second waits, then reads.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import re
import secrets
import threading
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

from softmax_core import training

ENV_VAR = "SOFTMAX_RUNS_DIR"
RUN_FILE = "run.json"
FORMAT = 1
NUM_CLASSES = 10
LOCK_POLL_SECONDS = 0.1

# Tests set this to pause or kill a writer between two steps of a save; it is
# called with the step about to happen: "replace weights", "replace run.json", "cleanup".
_before_step = None


def default_runs_dir() -> Path:
    """``$SOFTMAX_RUNS_DIR``, else the per-user cache, e.g. ``~/.cache/softmax-dashboard/runs``."""
    if os.environ.get(ENV_VAR, "").strip():
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "softmax-dashboard" / "runs"


def run_key(config: training.TrainConfig, data_fingerprint: str) -> str:
    """Same config + same data + same training code -> same key (20 hex digits)."""
    identity = {
        "config": config.validated().to_dict(),
        "data": str(data_fingerprint),
        "code": training.TRAINING_CODE_VERSION,
    }
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


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
    weights_file: str = "weights.pt"
    weights_sha256: str = ""

    def load_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight (784, 10), bias (10,)) as float32; ``weights_only=True`` runs no code from the file."""
        path = self.path / self.weights_file
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"The weights of run {self.key} are missing ({path}): train it again.") from exc
        if self.weights_sha256 and hashlib.sha256(raw).hexdigest() != self.weights_sha256:
            raise ValueError(f"The weights file {path} is damaged (checksum differs): train run {self.key} again.")
        return _parse_weights(raw, path)


def _parse_weights(raw: bytes, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        tensors = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
        weight, bias = tensors["weight"], tensors["bias"]
    except Exception as exc:  # truncated zip, pickle refused by weights_only, missing entry
        raise ValueError(f"The weights file {path} cannot be read ({exc}): train this run again.") from exc
    if tuple(weight.shape) != (784, NUM_CLASSES) or tuple(bias.shape) != (NUM_CLASSES,):
        raise ValueError(
            f"The weights file {path} holds shapes {tuple(weight.shape)} and {tuple(bias.shape)}, "
            f"expected (784, {NUM_CLASSES}) and ({NUM_CLASSES},): train this run again."
        )
    return weight.float(), bias.float()


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


def _weights_bytes(weight: torch.Tensor, bias: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    plain = {"weight": weight.detach().to("cpu", torch.float32).contiguous().clone(),
             "bias": bias.detach().to("cpu", torch.float32).contiguous().clone()}  # fmt: skip
    torch.save(plain, buffer)
    return buffer.getvalue()


def _finite_or_none(x: float):
    """JSON has no NaN/inf; a diverged run's loss is stored as null."""
    x = float(x)
    return x if x == x and abs(x) != float("inf") else None


def _float(x) -> float:
    return float("nan") if x is None else float(x)


def _history_to_json(history) -> list[dict]:
    return [
        {
            "epoch": int(m.epoch),
            "train_loss": _finite_or_none(m.train_loss),
            "train_acc": _finite_or_none(m.train_acc),
            "test_acc": _finite_or_none(m.test_acc),
            "seconds": float(m.seconds),
        }
        for m in history
    ]


def _history_from_json(rows) -> tuple[training.EpochMetrics, ...]:
    return tuple(
        training.EpochMetrics(
            epoch=int(r["epoch"]),
            train_loss=_float(r["train_loss"]),
            train_acc=_float(r["train_acc"]),
            test_acc=_float(r["test_acc"]),
            seconds=float(r["seconds"]),
        )
        for r in rows
    )


def _valid_key(key) -> bool:
    """Keys name folders: no path separators, no dots, so a key from a URL cannot leave the store."""
    return isinstance(key, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,100}", key) is not None


# ---------------------------------------------------------------- locks

_thread_locks: dict[str, threading.Lock] = {}
_thread_locks_guard = threading.Lock()


def _thread_lock(name: str) -> threading.Lock:
    with _thread_locks_guard:
        return _thread_locks.setdefault(name, threading.Lock())


class Cancelled(Exception):
    """Raised inside the store when ``should_stop`` became true while waiting for a lock."""


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
        if not _valid_key(key):
            return None
        folder = self.root / key
        if not (folder / RUN_FILE).exists():
            return None
        try:
            return self._read_settled(folder)
        except Exception as exc:
            warnings.warn(f"Skipping damaged run {folder}: {exc}", RuntimeWarning, stacklevel=2)
            return None

    def list_runs(self) -> list[StoredRun]:
        """Every readable run, newest first; damaged or half-written ones are skipped with a warning."""
        if not self.root.is_dir():
            return []
        runs = []
        for folder in self.root.iterdir():
            if folder.name.startswith(".") or not folder.is_dir():
                continue
            if not (folder / RUN_FILE).exists():
                continue  # a writer is still busy (or was killed) before its commit: not a run yet
            try:
                runs.append(self._read_settled(folder))
            except Exception as exc:
                warnings.warn(f"Skipping damaged run {folder}: {exc}", RuntimeWarning, stacklevel=2)
        return sorted(runs, key=lambda run: (run.created_at, run.key), reverse=True)

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
        weights = record["weights"]
        weights_path = folder / weights["file"]
        if weights_path.parent != folder:
            raise ValueError(f"weights file {weights['file']!r} is outside the run folder")
        # Cheap completeness check on every read; the checksum is checked again on load.
        raw = weights_path.read_bytes()
        if len(raw) != int(weights["bytes"]) or hashlib.sha256(raw).hexdigest() != weights["sha256"]:
            raise ValueError(f"weights file {weights_path.name} is truncated or changed ({len(raw)} bytes)")
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
            weights_file=weights["file"],
            weights_sha256=weights["sha256"],
        )

    # -- writing

    def save(self, key: str, result: training.TrainResult, confusion: torch.Tensor, data_fingerprint: str) -> StoredRun:
        """Store a finished or diverged run under ``key`` (replacing any older one), atomically."""
        with self.lock(key):
            return self._write(key, result, confusion, data_fingerprint)

    def _write(self, key, result, confusion, data_fingerprint) -> StoredRun:
        if not _valid_key(key):
            raise ValueError(f"A run key is letters, digits, - and _ (at most 100), got {key!r}")
        if result.status not in ("finished", "diverged"):
            raise ValueError(f"Only finished or diverged runs are stored, not {result.status!r} ones.")
        confusion = torch.as_tensor(confusion).to(torch.int64)
        if tuple(confusion.shape) != (NUM_CLASSES, NUM_CLASSES):
            raise ValueError(f"confusion must be (10, 10), got {tuple(confusion.shape)}")
        folder = self.root / key
        if not folder.is_dir():
            folder.mkdir(parents=True)
            _fsync_dir(self.root)
        self._remove_leftovers(folder)  # we hold the key's lock: any temp file here is from a dead writer

        weights = _weights_bytes(result.weight, result.bias)
        weights_file = f"weights-{secrets.token_hex(6)}.pt"
        _write_atomic(folder / weights_file, weights, "replace weights")
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
            "weights": {"file": weights_file, "bytes": len(weights), "sha256": hashlib.sha256(weights).hexdigest()},
        }
        _write_atomic(folder / RUN_FILE, json.dumps(record, indent=1).encode("utf-8"), "replace run.json")  # the commit
        _step("cleanup")
        for old in folder.glob("weights-*.pt"):  # weights of the run this one replaced
            if old.name != weights_file:
                with contextlib.suppress(OSError):
                    old.unlink()
        return self._read(folder)

    @staticmethod
    def _remove_leftovers(folder: Path) -> None:
        for tmp in folder.glob(".tmp-*"):
            with contextlib.suppress(OSError):
                tmp.unlink()

    @contextlib.contextmanager
    def lock(self, key: str, should_stop=None):
        """Hold ``key`` against other threads and processes; raise ``Cancelled`` if ``should_stop()`` while waiting."""
        if not _valid_key(key):
            raise ValueError(f"A run key is letters, digits, - and _ (at most 100), got {key!r}")
        lock_dir = self.root / ".locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        lock_path = lock_dir / f"{key}.lock"
        thread_lock = _thread_lock(str(lock_path.resolve()))
        while not thread_lock.acquire(timeout=LOCK_POLL_SECONDS):
            if should_stop is not None and should_stop():
                raise Cancelled
        try:
            with open(lock_path, "a+b") as handle:
                while True:
                    try:
                        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if should_stop is not None and should_stop():
                            raise Cancelled from None
                        time.sleep(LOCK_POLL_SECONDS)
                try:
                    yield
                finally:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        finally:
            thread_lock.release()

    # -- the one call pages and the CLI use

    def train_or_load(self, config, data, progress=None, should_stop=None, *, refresh: bool = False):
        """(run, cached): the stored run for ``config`` on ``data``, training it first if needed.

        Single flight: while one caller trains a key, others asking for it wait
        and then read the stored run. ``refresh=True`` trains anew and replaces
        the stored run (the CLI's ``--no-cache``). Finished and diverged runs
        are stored; a cancelled run is returned as a ``TrainResult`` and not stored.
        """
        config = config.validated()
        key = run_key(config, data.fingerprint)
        if not refresh and (run := self.get(key)) is not None:
            return run, True
        try:
            with self.lock(key, should_stop):
                if not refresh and (run := self.get(key)) is not None:
                    return run, True  # someone else trained it while we waited
                result = training.train(config, data, progress=progress, should_stop=should_stop)
                if result.status == "cancelled":
                    return result, False
                confusion = training.confusion_matrix(result.weight, result.bias, data.test_images, data.test_labels)
                return self._write(key, result, confusion, data.fingerprint), False
        except Cancelled:
            return _cancelled_while_waiting(config), False


def _cancelled_while_waiting(config) -> training.TrainResult:
    return training.TrainResult(
        config=config,
        history=(),
        status="cancelled",
        message="Stopped while waiting for another training of the same settings; nothing was stored.",
        weight=torch.zeros(784, NUM_CLASSES),
        bias=torch.zeros(NUM_CLASSES),
        train_seconds=0.0,
    )
