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

Nothing is served unchecked: reading a run checks ``run.json`` against the
limits the writer keeps (:func:`_run_from_record`, also applied before every
commit) and loads both tensor files (checksum, shapes, finite values). That
verdict, good or broken, is kept per run folder until one of its files changes
(inode, size, mtime), so the check costs once per file, not once per page load.
A broken run is skipped with a warning that names its key, never a server path;
paths and library errors go to the server log (``logging``).

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
import logging
import math
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

from softmax_core import training_settings as settings
from softmax_core.cache_dirs import folder_from_env
from softmax_core.json_safe import finite_or_none
from softmax_core.validation import shorten

log = logging.getLogger(__name__)

ENV_VAR = "SOFTMAX_RUNS_DIR"
RUN_FILE = "run.json"
LOCK_DIR = ".locks"
LOCK_STRIPES = 256  # lock files: at most this many, whatever the number of runs
FORMAT = 1  # snapshots, batch losses and the divergence point are optional fields of format 1
NUM_INPUTS, NUM_CLASSES = 784, 10
LOCK_POLL_SECONDS = 0.1
# The limits of a record, kept by the writer (checked before every commit) and the reader alike.
MAX_MESSAGE = 2_000  # characters of a run's message; the training code's messages are a few hundred
MAX_TEXT = 200  # characters of the fingerprint and the timestamp
MAX_CELL = 10**9  # a confusion-matrix count
PARAMETERS_BYTES = (NUM_INPUTS * NUM_CLASSES + NUM_CLASSES) * 4  # W and b of one epoch in float32
MAX_TENSOR_BYTES = (settings.MAX_EPOCHS + 1) * PARAMETERS_BYTES + 2**20  # every snapshot, plus torch's framing
MAX_RECORD_BYTES = 4 * 2**20  # run.json with MAX_BATCH_LOSSES losses is about 1.2 MB
STATUSES = ("finished", "diverged")

# Tests set this to pause, kill or fail a writer between two steps of a save; it is called with the
# step about to happen: "replace weights", "replace snapshots", "replace run.json", "cleanup".
_before_step = None


def default_runs_dir() -> Path:
    """``$SOFTMAX_RUNS_DIR``, else the per-user cache, e.g. ``~/.cache/softmax-dashboard/runs``."""
    return folder_from_env(ENV_VAR, "runs")


def run_key(config: settings.TrainConfig, data_fingerprint: str) -> str:
    """Same config + same data + same training code -> same key (20 hex digits)."""
    identity = {
        "config": config.validated().to_dict(),
        "data": str(data_fingerprint),
        "code": settings.TRAINING_CODE_VERSION,
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
    config: settings.TrainConfig
    history: tuple[settings.EpochMetrics, ...]
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
        weight, bias = _load_tensors(self.path, self.weights, self.key, "weights")
        _check_shapes(self.key, "weights", weight, bias, ())
        return weight, bias

    def load_snapshots(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """W and b after k epochs at index k: (E+1, 784, 10) and (E+1, 10) float32; None for older runs."""
        if self.snapshots is None:
            return None
        weight, bias = _load_tensors(self.path, self.snapshots, self.key, "snapshots")
        _check_shapes(self.key, "snapshots", weight, bias, (len(self.history) + 1,))
        return weight, bias

    def validate(self) -> None:
        """Raise ValueError (a sentence naming the run, never a path) unless this run can be served as it is.

        Loads the weights (checksum, shapes) and the snapshots; snapshots are
        finite (training keeps only finite epochs), and so are a finished run's weights.
        """
        weight, bias = self.load_weights()
        snapshots = self.load_snapshots()
        if snapshots is not None and not all(bool(torch.isfinite(t).all()) for t in snapshots):
            raise ValueError(f"The snapshots file of run {self.key} holds inf or nan: train this run again.")
        if self.status == "finished" and not (bool(torch.isfinite(weight).all()) and bool(torch.isfinite(bias).all())):
            raise ValueError(f"Run {self.key} is marked finished but its weights hold inf or nan: train it again.")


def _load_tensors(folder: Path, stored: StoredFile, key: str, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The two tensors of a run's file; a sentence naming the run (not the path: that goes to the log) if not."""
    path = folder / stored.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        log.warning("Run %s: cannot read %s: %s", key, path, exc)
        raise ValueError(f"The {what} file of run {key} is missing: train this run again.") from None
    if len(raw) != stored.size or hashlib.sha256(raw).hexdigest() != stored.sha256:
        log.warning("Run %s: %s does not match the size and checksum run.json records", key, path)
        raise ValueError(f"The {what} file of run {key} is damaged (checksum differs): train this run again.")
    try:
        tensors = torch.load(io.BytesIO(raw), weights_only=True, map_location="cpu")
        weight, bias = tensors["weight"], tensors["bias"]
    except Exception as exc:  # truncated zip, pickle refused by weights_only, missing entry
        log.warning("Run %s: %s cannot be loaded as plain tensors: %s", key, path, exc)
        raise ValueError(
            f"The {what} file of run {key} cannot be read as plain tensors (nothing in it was run): "
            "train this run again."
        ) from None
    if not (isinstance(weight, torch.Tensor) and isinstance(bias, torch.Tensor)):
        log.warning("Run %s: %s holds %s and %s, not tensors", key, path, type(weight), type(bias))
        raise ValueError(f"The {what} file of run {key} does not hold tensors: train this run again.")
    if not (weight.is_floating_point() and bias.is_floating_point()):
        raise ValueError(f"The {what} file of run {key} does not hold real numbers: train this run again.")
    return weight.float(), bias.float()


def _check_shapes(key: str, what: str, weight: torch.Tensor, bias: torch.Tensor, lead: tuple[int, ...]) -> None:
    want_w, want_b = (*lead, NUM_INPUTS, NUM_CLASSES), (*lead, NUM_CLASSES)
    if tuple(weight.shape) != want_w or tuple(bias.shape) != want_b:
        raise ValueError(
            f"The {what} file of run {key} holds shapes {tuple(weight.shape)} and {tuple(bias.shape)}, "
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


def _file_record(name: str, data: bytes) -> dict:
    return {"file": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


# ---------------------------------------------------------------- run.json, checked against one schema


class RecordError(ValueError):
    """``run.json`` does not fit the run format: the message names the field and the limit, never a value."""


def _field(record: dict, name: str, kind, *, optional: bool = False):
    """``record[name]`` if it is of ``kind`` (bool is never a number); None if ``optional`` and missing or null."""
    value = record.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        raise RecordError(f"{name} is missing or not of the right type")
    return value


def _number(value, name: str, low: float, high: float, *, whole: bool = False, null: bool = False) -> float:
    """A JSON number within [low, high] (checked before any conversion: 10**400 is refused, not overflowed).

    ``null`` (what the writer stores for a non-finite metric) reads as NaN where ``null`` is allowed.
    """
    if value is None and null:
        return math.nan
    kinds = int if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise RecordError(f"{name} must be {'a whole number' if whole else 'a number'}")
    if not low <= value <= high:  # NaN fails too
        raise RecordError(f"{name} must lie between {low:g} and {high:g}")
    return int(value) if whole else float(value)


def _text(value, name: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise RecordError(f"{name} must be text of at most {limit:,} characters")
    return value


def _history(rows, config: settings.TrainConfig, status: str) -> tuple[settings.EpochMetrics, ...]:
    """One row per finished epoch (SGD) or every few L-BFGS iterations, in order, within the config's epochs."""
    if not isinstance(rows, list) or len(rows) > config.epochs:
        raise RecordError(f"history must be a list of at most {config.epochs} rows (the run's epochs)")
    history, previous = [], 0
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise RecordError(f"history row {i} is not a record")
        epoch = _number(row.get("epoch"), f"history row {i}: epoch", previous + 1, config.epochs, whole=True)
        if config.impl in settings.IMPLS and epoch != i:
            raise RecordError(f"history row {i} is epoch {epoch}: one row per epoch, in order")
        history.append(
            settings.EpochMetrics(
                epoch=epoch,
                train_loss=_number(row.get("train_loss"), f"history row {i}: train loss", 0, math.inf, null=True),
                train_acc=_number(row.get("train_acc"), f"history row {i}: train accuracy", 0, 1, null=True),
                test_acc=_number(row.get("test_acc"), f"history row {i}: test accuracy", 0, 1, null=True),
                seconds=_number(row.get("seconds"), f"history row {i}: seconds", 0, 1e9),
            )
        )
        previous = epoch
    if status == "finished":
        if not history:
            raise RecordError("a finished run must hold at least one row of metrics")
        # SGD runs log one row per epoch; an L-BFGS run logs every few iterations and may converge early.
        if config.impl in settings.IMPLS and len(history) != config.epochs:
            raise RecordError(f"the run says it finished {config.epochs} epoch(s) but holds {len(history)} row(s)")
    return tuple(history)


def _batch_losses(values, status: str) -> tuple[float, ...]:
    """A diverged run's loss per batch: at most ``settings.MAX_BATCH_LOSSES``, as the training loop keeps."""
    if values is None:
        return ()
    limit = settings.MAX_BATCH_LOSSES if status == "diverged" else 0
    if not isinstance(values, list) or len(values) > limit:
        raise RecordError(f"batch losses must be a list of at most {limit:,} numbers for a {status} run")
    return tuple(_number(x, "a batch loss", 0, math.inf, null=True) for x in values)


def _diverged_at(value, config: settings.TrainConfig, status: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if status != "diverged" or not isinstance(value, list) or len(value) != 2:
        raise RecordError("diverged_at must be [epoch, batch], and only for a diverged run")
    batches = math.ceil(settings.MAX_TRAIN_SIZE / config.batch_size)
    epoch = _number(value[0], "diverged_at: epoch", 1, config.epochs, whole=True)
    return epoch, _number(value[1], "diverged_at: batch", 1, batches, whole=True)


def _confusion(rows) -> torch.Tensor:
    if not (isinstance(rows, list) and len(rows) == NUM_CLASSES and all(isinstance(r, list) for r in rows)):
        raise RecordError("the confusion matrix must be 10 rows of 10 counts")
    if any(len(r) != NUM_CLASSES for r in rows):
        raise RecordError("the confusion matrix must be 10 rows of 10 counts")
    cells = [_number(c, "a confusion count", 0, MAX_CELL, whole=True) for r in rows for c in r]
    return torch.tensor(cells, dtype=torch.int64).reshape(NUM_CLASSES, NUM_CLASSES)


def _created_at(value) -> str:
    text = _text(value, "created_at", MAX_TEXT)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError("created_at must be an ISO 8601 time") from None
    if moment.utcoffset() is None:
        raise RecordError("created_at must name its time zone")
    return text


def _stored_file(folder: Path, entry, what: str) -> StoredFile:
    """A ``run.json`` file entry, checked to name a file of this folder with the recorded size (no hashing)."""
    if not isinstance(entry, dict):
        raise RecordError(f"its record's {what} entry is not a record")
    name = entry.get("file")
    if not isinstance(name, str) or re.fullmatch(rf"{what}-[0-9a-f]{{1,64}}\.pt", name) is None:
        raise RecordError(f"its record does not name a {what} file of the run's folder")
    try:
        size = _number(entry.get("bytes"), f"the {what} file's size", 0, MAX_TENSOR_BYTES, whole=True)
    except RecordError as exc:
        raise RecordError(f"its record's {exc}") from None
    sha256 = entry.get("sha256")
    if not isinstance(sha256, str) or re.fullmatch(r"[0-9a-f]{64}", sha256) is None:
        raise RecordError(f"its record holds no SHA-256 checksum of the {what} file")
    try:
        on_disk = (folder / name).stat().st_size
    except OSError:
        raise RecordError(f"its {what} file is missing") from None
    if on_disk != size:
        raise RecordError(f"its {what} file is truncated or changed ({on_disk:,} bytes, expected {size:,})")
    return StoredFile(name, size, sha256)


def _run_from_record(record, folder: Path) -> StoredRun:
    """The run ``run.json`` describes, or RecordError: every field within the limits the writer keeps.

    The writer checks each record with this before committing it, so a run it stores always reads back.
    """
    if not isinstance(record, dict) or record.get("format") != FORMAT or isinstance(record.get("format"), bool):
        raise RecordError(f"its record (run.json) is not a run record of format {FORMAT}")
    try:
        fields = _record_fields(record, folder)
    except RecordError as exc:
        raise RecordError(f"its record (run.json) does not fit the run format: {exc}") from None
    snapshots = record.get("snapshots")
    return StoredRun(
        **fields,
        path=folder,
        weights=_stored_file(folder, record.get("weights"), "weights"),
        snapshots=_stored_file(folder, snapshots, "snapshots") if snapshots is not None else None,
    )


def _record_fields(record: dict, folder: Path) -> dict:
    """The fields of a :class:`StoredRun` that ``run.json`` holds itself (not the tensor files)."""
    if record.get("key") != folder.name:
        raise RecordError("it names another key than its folder's")
    try:
        config = settings.TrainConfig.from_dict(_field(record, "config", dict))
    except (TypeError, ValueError) as exc:
        raise RecordError(f"its training settings cannot be trained ({shorten(exc, 200)})") from None
    status = _field(record, "status", str)
    if status not in STATUSES:
        raise RecordError(f"status must be one of {', '.join(STATUSES)}")
    return dict(
        key=folder.name,
        config=config,
        history=_history(record.get("history"), config, status),
        status=status,
        message=_text(record.get("message"), "message", MAX_MESSAGE),
        train_seconds=_number(record.get("train_seconds"), "train_seconds", 0, 1e9),
        created_at=_created_at(record.get("created_at")),
        data_fingerprint=_text(record.get("data_fingerprint"), "data_fingerprint", MAX_TEXT),
        confusion=_confusion(record.get("confusion")),
        batch_losses=_batch_losses(record.get("batch_losses"), status),
        diverged_at=_diverged_at(record.get("diverged_at"), config, status),
        trained_by=_text(record.get("trained_by") or "", "trained_by", MAX_TEXT),
    )


def _why_not_served(folder: Path, exc: Exception) -> str:
    """The sentence a page shows for a run that cannot be served: its key and what is wrong, never a path."""
    if isinstance(exc, RecordError):
        return f"Run {folder.name} cannot be served: {exc}; train it again."
    if isinstance(exc, ValueError):  # a tensor file's check: already a sentence naming the run
        return str(exc)
    return f"Run {folder.name} cannot be read ({type(exc).__name__}): train it again."


def _reject_constant(name: str):
    raise RecordError(f"its record (run.json) holds {name}, which JSON does not have")


def _read_record(folder: Path) -> dict:
    path = folder / RUN_FILE
    size = path.stat().st_size
    if size > MAX_RECORD_BYTES:
        raise RecordError(f"its record (run.json) is {size:,} bytes; a run record is at most {MAX_RECORD_BYTES:,}")
    try:
        return json.loads(path.read_bytes(), parse_constant=_reject_constant)
    except RecordError:
        raise
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep
        raise RecordError("its record (run.json) is not readable JSON") from None


def _valid_key(key) -> bool:
    """Keys name folders: no path separators, no dots, so a key from a URL cannot leave the store."""
    return isinstance(key, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,100}", key) is not None


def _check_key(key) -> None:
    if not _valid_key(key):
        raise ValueError(f"A run key is letters, digits, - and _ (at most 100), got {key!r}")


# What reading found before, per run folder: the run, or why it cannot be served. Read and checked
# again only when run.json or a tensor file changed (another inode, size or mtime).
_listing: dict[Path, tuple[tuple, StoredRun | str]] = {}
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
        """The stored run, or None if there is none (or it cannot be served: then a warning says why)."""
        try:
            return self.open(key)
        except ValueError as exc:
            warnings.warn(f"Skipping damaged run {key}: {exc}", RuntimeWarning, stacklevel=2)
            return None

    def open(self, key: str) -> StoredRun | None:
        """The stored run, None if there is none, ValueError (a sentence) if it cannot be served.

        The run was checked (its record and both tensor files, see the module's docstring) the
        first time this process read its files as they are now.
        """
        if not _valid_key(key):
            return None
        folder = self.root / key
        if not (folder / RUN_FILE).exists():
            return None
        return self._read_cached(folder)

    def list_runs(self) -> list[StoredRun]:
        """Every run that can be served, newest first; broken or half-written ones are skipped with a warning.

        Cheap on a rerun: each run folder costs a few ``stat`` calls, and only
        runs whose files changed since the last listing are read and checked again.
        """
        if not self.root.is_dir():
            return []
        runs = []
        for folder in self.root.iterdir():
            if not _valid_key(folder.name) or not (folder / RUN_FILE).is_file():
                continue  # a writer is still busy (or was killed) before its commit, or not a run's folder
            try:
                runs.append(self._read_cached(folder))
            except ValueError as exc:
                warnings.warn(f"Skipping damaged run {folder.name}: {exc}", RuntimeWarning, stacklevel=2)
        return sorted(runs, key=lambda run: (run.created_at, run.key), reverse=True)

    def _read_cached(self, folder: Path) -> StoredRun:
        """The checked run in ``folder`` or ValueError, from the last verdict while its files are unchanged."""
        folder = folder.absolute()
        before = _signature(folder)
        with _listing_guard:
            hit = _listing.get(folder)
        if hit is not None and before is not None and hit[0] == before:
            outcome = hit[1]
        else:
            outcome = self._read_settled(folder)
            if before is not None and _signature(folder) == before:  # nothing changed while we read
                with _listing_guard:
                    _listing[folder] = (before, outcome)
        if isinstance(outcome, str):
            raise ValueError(outcome)
        return outcome

    def _read_settled(self, folder: Path) -> StoredRun | str:
        """Read and check, once more if that failed (a replacement may have committed in between); or why not."""
        try:
            return self._read(folder)
        except Exception:
            pass
        try:
            return self._read(folder)
        except Exception as exc:
            why = _why_not_served(folder, exc)
            log.warning("Run folder %s cannot be served: %s", folder, why if isinstance(exc, ValueError) else repr(exc))
            return why

    def _read(self, folder: Path) -> StoredRun:
        """The run in ``folder``, its record checked against the schema and its tensor files loaded and checked."""
        run = _run_from_record(_read_record(folder), folder)
        run.validate()
        return run

    # -- writing

    def save(
        self,
        key: str,
        result: settings.TrainResult,
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
                "message": shorten(result.message, MAX_MESSAGE),
                "train_seconds": float(result.train_seconds),
                "created_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "data_fingerprint": str(data_fingerprint),
                "training_code_version": settings.TRAINING_CODE_VERSION,
                "confusion": confusion.tolist(),
                "weights": _file_record(weights_file, weights),
                "snapshots": snapshots_entry,
                "batch_losses": [finite_or_none(x) for x in result.batch_losses],
                "diverged_at": list(result.diverged_at) if result.diverged_at is not None else None,
                "trained_by": str(trained_by)[:MAX_TEXT],
            }
            data = json.dumps(record, indent=1, allow_nan=False).encode("utf-8")
            _run_from_record(json.loads(data), folder)  # the reader's schema: what is committed always reads back
            _write_atomic(folder / RUN_FILE, data, "replace run.json")  # the commit
        except BaseException:
            for path in written:  # not committed: the old run (if any) still names its own files
                with contextlib.suppress(OSError):
                    path.unlink()
            raise
        _step("cleanup")
        _remove_orphans(folder)  # the files of the run this one replaced
        return self._read_cached(folder)

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
