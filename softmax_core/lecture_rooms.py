"""Lecture rooms: a lecturer's page and query string, which the class follows.

A room is one small JSON file in ``<runs dir>/.rooms/`` (the dot keeps the run
store's listing and sweep away from it). The run store's folder is what the
replicas of one host already share, so a follower on one replica sees a
lecturer on another, a room survives a restart, and no viewer can clear it.
Every write takes the room's file lock (``filelock``), then writes a temp file
and ``os.replace``-s it over the room: a reader sees the old room or the new
one, never half of one.

Three files per room ``CODE``:

- ``CODE.json``: the lecturer's page, query and version (changes only when she
  steers, or once a minute as her heartbeat): followers poll it with one
  ``stat`` and read it only when its mtime changed;
- ``CODE.runs.json``: what the students in the room trained or opened;
- ``CODE.followers/<id>``: one empty file per follower, its mtime the last time
  the follower was seen (a touch, no lock, no rewrite of the room).

Only the lecturer steers: she holds a key (``secrets.token_urlsafe``) whose
SHA-256 is stored, compared in constant time. The code never gives control.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from filelock import FileLock

# Letters and digits that cannot be mistaken for one another aloud or on a projector: no 0/O, 1/I/L.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6  # 31**6 ≈ 8.9e8 codes
ROOMS_FOLDER = ".rooms"
ROOM_TTL_SECONDS = 4 * 3600  # a room ends this long after its lecturer was last seen
KEEP_ENDED_SECONDS = 24 * 3600  # an ended room's file stays this long, so its code gets "has ended"
LECTURER_HEARTBEAT_SECONDS = 60  # how often a lecturer who does not steer still marks herself present
FOLLOWER_FRESH_SECONDS = 30  # a follower seen within this counts as following
ROOMS_PER_CLIENT = 5  # rooms one client may create per hour
ROOMS_PER_CLIENT_WINDOW = 3600
MAX_LIVE_ROOMS = 500  # rooms on one store at once, whoever created them
MAX_RUNS_PER_ROOM = 2000
NICKNAME_LIMIT = 24
KEY_BYTES = 24  # secrets.token_urlsafe(24): 192 random bits

_CODE_RE = re.compile(f"^[{ALPHABET}]{{{CODE_LENGTH}}}$")
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class RoomError(ValueError):
    """A room action refused, with a sentence the page shows as it stands."""


class RoomLimit(RoomError):
    """Too many rooms: per client, or on the store."""


@dataclass(frozen=True)
class Room:
    code: str
    key_hash: str
    created: float
    lecturer_seen: float
    creator: str  # a hash of the creating client, for the per-client bound
    page: str = ""  # the lecturer's page, as its URL path ("" = home)
    query: tuple[tuple[str, str], ...] = ()  # her query string as (name, value) pairs, repeats kept
    version: int = 0
    ended: bool = False

    def state(self, now: float) -> str:
        """``live``, ``ended`` (by the lecturer) or ``expired`` (no lecturer for ``ROOM_TTL_SECONDS``)."""
        if self.ended:
            return "ended"
        if now - self.lecturer_seen > ROOM_TTL_SECONDS:
            return "expired"
        return "live"


@dataclass(frozen=True)
class RoomRun:
    """One run a student in the room trained or opened: the run's key, who (anonymous id or nickname), when."""

    key: str
    who: str
    at: float
    nickname: str = ""


@dataclass
class _Cached:
    signature: tuple[int, int, int]
    value: object = field(default=None)


def normalize_code(text) -> str | None:
    """The code in ``text`` (spaces and dashes dropped, any case), or None if it cannot be a code."""
    code = re.sub(r"[\s-]", "", str(text or "")).upper()
    return code if _CODE_RE.match(code) else None


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def new_key() -> str:
    return secrets.token_urlsafe(KEY_BYTES)


def key_hash(key: str) -> str:
    return hashlib.sha256(str(key).encode("utf-8", "surrogatepass")).hexdigest()


def key_matches(room: Room, key) -> bool:
    """Whether ``key`` is the room's lecturer key; constant time, any input."""
    if not isinstance(key, str) or not key:
        return False
    return hmac.compare_digest(key_hash(key), room.key_hash)


def client_hash(client: str) -> str:
    """What a room keeps of its creator: enough to count their rooms, not their address."""
    return hashlib.sha256(f"lecture-client:{client}".encode("utf-8", "surrogatepass")).hexdigest()[:16]


def clean_nickname(text) -> str:
    """A typed nickname: one line, printable, at most ``NICKNAME_LIMIT`` characters ("" if nothing is left)."""
    one_line = "".join(ch if ch.isprintable() and not ch.isspace() else " " for ch in str(text or ""))
    return " ".join(one_line.split())[:NICKNAME_LIMIT].rstrip()  # the cut may end on a space: read back, it would go


def valid_follower_id(text) -> bool:
    return isinstance(text, str) and bool(_ID_RE.match(text))


def _room_to_json(room: Room) -> dict:
    data = room.__dict__.copy()
    data["query"] = [list(pair) for pair in room.query]
    return data


def _room_from_json(data: dict) -> Room:
    return Room(
        code=str(data["code"]),
        key_hash=str(data["key_hash"]),
        created=float(data["created"]),
        lecturer_seen=float(data["lecturer_seen"]),
        creator=str(data.get("creator", "")),
        page=str(data.get("page", "")),
        query=tuple((str(k), str(v)) for k, v in data.get("query", ())),
        version=int(data.get("version", 0)),
        ended=bool(data.get("ended", False)),
    )


def _write_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".tmp-{secrets.token_hex(6)}-{path.name}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _signature(path: Path) -> tuple[int, int, int] | None:
    """(inode, mtime, size): every atomic write makes a new inode, so two writes within one clock tick differ."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class RoomStore:
    """The rooms of one run store. Safe to share between threads and processes (file locks, atomic writes)."""

    def __init__(self, runs_dir: str | Path):
        self.root = Path(runs_dir) / ROOMS_FOLDER
        self._cache: dict[Path, _Cached] = {}

    # ------------------------------------------------------------------ paths

    def _room_path(self, code: str) -> Path:
        return self.root / f"{code}.json"

    def _runs_path(self, code: str) -> Path:
        return self.root / f"{code}.runs.json"

    def _followers_dir(self, code: str) -> Path:
        return self.root / f"{code}.followers"

    def _lock(self, code: str) -> FileLock:
        return FileLock(str(self.root / f"{code}.lock"), timeout=10)

    # ------------------------------------------------------------------ reading

    def get(self, code) -> Room | None:
        """The room ``code`` names (any state), or None. A ``stat``, plus a read only when the file changed."""
        code = normalize_code(code)
        if code is None:
            return None
        return self._read_cached(self._room_path(code), _room_from_json)

    def signature(self, code: str) -> tuple[int, int, int] | None:
        """The room file's (inode, mtime, size): changes whenever the lecturer steers. One ``stat``."""
        return _signature(self._room_path(code))

    def _read_cached(self, path: Path, parse):
        signature = _signature(path)
        if signature is None:
            return None
        cached = self._cache.get(path)
        if cached is not None and cached.signature == signature:
            return cached.value
        try:
            value = parse(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # replaced or removed between stat and read, or not a room: as if absent
        self._cache[path] = _Cached(signature, value)
        return value

    def live(self, code, now: float | None = None) -> tuple[Room | None, str]:
        """The room if live, else None and a sentence saying why (unknown code, ended, expired)."""
        now = time.time() if now is None else now
        normalized = normalize_code(code)
        if normalized is None:
            return None, (
                f"A lecture code is {CODE_LENGTH} letters and digits (no 0, 1, I, L or O); "
                "check the code on the projector."
            )
        room = self.get(normalized)
        if room is None:
            return None, f"No lecture has the code {normalized}: check the code on the projector."
        state = room.state(now)
        if state == "ended":
            return None, f"The lecture {normalized} has ended."
        if state == "expired":
            return None, f"The lecture {normalized} has ended (its lecturer has been away for hours)."
        return room, ""

    def rooms(self) -> list[Room]:
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.glob("*.json"):
            code = path.name.removesuffix(".json")
            if normalize_code(code) == code and (room := self.get(code)) is not None:
                found.append(room)
        return found

    # ------------------------------------------------------------------ the lecturer

    def create(self, client: str, now: float | None = None) -> tuple[Room, str]:
        """A new room and its lecturer key (returned once, never stored); RoomLimit past the bounds."""
        now = time.time() if now is None else now
        self.root.mkdir(parents=True, exist_ok=True)
        creator = client_hash(client)
        with FileLock(str(self.root / ".create.lock"), timeout=10):
            self._forget_old(now)
            rooms = self.rooms()
            recent = [r for r in rooms if r.creator == creator and now - r.created < ROOMS_PER_CLIENT_WINDOW]
            if len(recent) >= ROOMS_PER_CLIENT:
                raise RoomLimit(
                    f"You started {len(recent)} lectures in the last hour, the most one device may; "
                    "end one or reopen it with its lecturer link."
                )
            if sum(r.state(now) == "live" for r in rooms) >= MAX_LIVE_ROOMS:
                raise RoomLimit("This server holds as many lectures as it can; try again later.")
            key = new_key()
            for _ in range(20):
                code = new_code()
                if not self._room_path(code).exists():
                    break
            else:  # pragma: no cover - 20 collisions among 8.9e8 codes
                raise RoomError("Could not find a free lecture code; try again.")
            room = Room(code, key_hash(key), now, now, creator)
            with self._lock(code):
                _write_atomic(self._room_path(code), _room_to_json(room))
        return room, key

    def _steer(self, code: str, key, change, now: float) -> Room:
        """Apply ``change(room) -> room or None`` under the room's lock, if ``key`` is the lecturer's."""
        code = normalize_code(code)
        if code is None:
            raise RoomError("Not a lecture code.")
        with self._lock(code):
            path = self._room_path(code)
            try:
                room = _room_from_json(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError):
                raise RoomError(f"No lecture has the code {code}.") from None
            if not key_matches(room, key):
                raise RoomError("This is not the lecturer's key for this lecture.")
            if room.state(now) != "live":
                raise RoomError(f"The lecture {code} has ended.")
            changed = change(room)
            if changed is not None:
                _write_atomic(path, _room_to_json(changed))
                return changed
            return room

    def publish(self, code: str, key, page: str, query, now: float | None = None) -> Room:
        """The lecturer is on ``page`` with ``query``: bump the version if either changed (else a heartbeat
        at most once a minute). RoomError for a wrong key or an ended room: nothing is written then."""
        now = time.time() if now is None else now
        pairs = tuple((str(k), str(v)) for k, v in query)

        def change(room: Room) -> Room | None:
            if (room.page, room.query) != (page, pairs):
                return replace(room, page=page, query=pairs, version=room.version + 1, lecturer_seen=now)
            if now - room.lecturer_seen >= LECTURER_HEARTBEAT_SECONDS:
                return replace(room, lecturer_seen=now)
            return None

        return self._steer(code, key, change, now)

    def end(self, code: str, key, now: float | None = None) -> Room:
        now = time.time() if now is None else now
        return self._steer(code, key, lambda room: replace(room, ended=True, version=room.version + 1), now)

    def is_lecturer(self, code, key, now: float | None = None) -> bool:
        room, _ = self.live(code, now)
        return room is not None and key_matches(room, key)

    def _forget_old(self, now: float) -> None:
        """Remove rooms ended or expired longer than ``KEEP_ENDED_SECONDS`` ago, with their runs and followers."""
        for room in self.rooms():
            if room.state(now) != "live" and now - room.lecturer_seen > ROOM_TTL_SECONDS + KEEP_ENDED_SECONDS:
                for path in (self._room_path(room.code), self._runs_path(room.code)):
                    with contextlib.suppress(OSError):
                        path.unlink()
                folder = self._followers_dir(room.code)
                for child in folder.glob("*") if folder.is_dir() else ():
                    with contextlib.suppress(OSError):
                        child.unlink()
                with contextlib.suppress(OSError):
                    folder.rmdir()

    # ------------------------------------------------------------------ followers

    def seen_follower(self, code: str, follower: str, now: float | None = None) -> None:
        """Mark ``follower`` present in the live room ``code`` (touches one empty file)."""
        room, _ = self.live(code, now)
        if room is None or not valid_follower_id(follower):
            return
        folder = self._followers_dir(room.code)
        folder.mkdir(exist_ok=True)
        path = folder / follower
        path.touch()
        if now is not None:
            os.utime(path, (now, now))

    def left(self, code: str, follower: str) -> None:
        if normalize_code(code) and valid_follower_id(follower):
            with contextlib.suppress(OSError):
                (self._followers_dir(normalize_code(code)) / follower).unlink()

    def follower_count(self, code: str, now: float | None = None) -> int:
        now = time.time() if now is None else now
        folder = self._followers_dir(str(normalize_code(code)))
        if not folder.is_dir():
            return 0
        count = 0
        for path in folder.iterdir():
            with contextlib.suppress(OSError):
                count += now - path.stat().st_mtime <= FOLLOWER_FRESH_SECONDS
        return count

    # ------------------------------------------------------------------ the class's runs

    def record_run(self, code: str, run_key: str, who: str, nickname: str = "", now: float | None = None) -> bool:
        """Note that a student (``who``: an anonymous id) trained or opened ``run_key`` in the live room.

        One entry per (student, run): a second press of Train is not a second choice. Returns whether
        anything was written.
        """
        now = time.time() if now is None else now
        room, _ = self.live(code, now)
        if room is None or not valid_follower_id(who) or not re.fullmatch(r"[0-9a-f]{8,128}", str(run_key)):
            return False
        nickname = clean_nickname(nickname)
        with self._lock(room.code):
            runs = list(self._read_runs(room.code))
            for i, run in enumerate(runs):
                if run.key == run_key and run.who == who:
                    if run.nickname == nickname:
                        return False
                    runs[i] = replace(run, nickname=nickname)
                    break
            else:
                if len(runs) >= MAX_RUNS_PER_ROOM:
                    return False
                runs.append(RoomRun(run_key, who, now, nickname))
            _write_atomic(self._runs_path(room.code), {"runs": [r.__dict__ for r in runs]})
        return True

    def rename_student(self, code: str, who: str, nickname: str, now: float | None = None) -> bool:
        """Put ``nickname`` (cleaned; "" makes them anonymous) on every run ``who`` already added to the live room.

        A student who joined by link names themselves after their first runs: the class chart then shows
        the name on those too. Returns whether anything was written.
        """
        room, _ = self.live(code, now)
        if room is None or not valid_follower_id(who):
            return False
        nickname = clean_nickname(nickname)
        with self._lock(room.code):
            runs = list(self._read_runs(room.code))
            renamed = [replace(r, nickname=nickname) if r.who == who else r for r in runs]
            if renamed == runs:
                return False
            _write_atomic(self._runs_path(room.code), {"runs": [r.__dict__ for r in renamed]})
        return True

    def _read_runs(self, code: str) -> tuple[RoomRun, ...]:
        def parse(data: dict) -> tuple[RoomRun, ...]:
            return tuple(
                RoomRun(str(r["key"]), str(r["who"]), float(r["at"]), clean_nickname(r.get("nickname", "")))
                for r in data.get("runs", ())
            )

        return self._read_cached(self._runs_path(code), parse) or ()

    def class_runs(self, code) -> tuple[RoomRun, ...]:
        """What the room's students trained or opened since it started, oldest first."""
        code = normalize_code(code)
        return self._read_runs(code) if code else ()
