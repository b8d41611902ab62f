"""Refs: append-only logs of create-if-absent entries, and write-once refs.

A **ref log** (a draft head, a branch) is a sequence of entries
``logs/<name>/<seq>``, each created with the backend's atomic
create-if-absent. Appending entry ``seq + 1`` is a compare-and-swap on the
head: exactly one writer can create it. Every entry carries a random nonce,
so a create whose reply was lost, and which is retried, is recognised as ours
instead of being reported as a conflict.

The newest entry is found from a hint (``hints/<name>``, overwritten every 16th
append, so possibly stale) by probing forward with galloping steps, so reading
the head costs a few reads whatever the log's length.

A **turn** is an entry that changes nothing (it repeats the head's value) and
reserves the entry after it for one writer (``meta["turn"]``, a token the writer
chose) for a lease of a few seconds: writers that honour it leave that entry to
the holder, so a writer that keeps losing the race gets the next write. The
reservation is itself a create-if-absent append, so at most one writer holds
the next entry; nothing but cooperation makes others wait, and a turn whose
holder died stops counting when its lease runs out (:mod:`vstore.engine.turns`,
decision 0009).

A **write-once ref** (``frozen/<name>``) is created once and never changed.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from vstore.engine.backends.base import Backend, check_key
from vstore.engine.codec import decode, encode
from vstore.errors import BackendError, CorruptObjectError, InvalidArgumentError

__all__ = ["TURN", "AppendResult", "RefEntry", "RefStore"]

_SEQ_DIGITS = 16
_CREATE_TRIES = 5
_HINT_EVERY = 16
#: the entry meta key of a turn: the token of the writer the next entry is reserved for
TURN = "turn"


@dataclass(frozen=True, slots=True)
class RefEntry:
    """One entry of a ref log, or a write-once ref.

    Attributes:
        name: the ref's name.
        seq: position in the log (1 for the first entry; 0 for a write-once ref).
        value: the object id it points to, or None for a deletion (tombstone).
        time: unix time of the write.
        meta: small caller data stored with the entry.
        nonce: random bytes that identify the write.
    """

    name: str
    seq: int
    value: bytes | None
    time: float
    meta: dict[str, Any] = field(default_factory=dict)
    nonce: bytes = b""

    @property
    def turn(self) -> str | None:
        """The token of the writer this entry reserves the next entry for, or None."""
        t = self.meta.get(TURN)
        return t if isinstance(t, str) else None

    @property
    def lease(self) -> float:
        """How long (seconds) a turn holds, counted from when a writer first sees it."""
        lease = self.meta.get("lease")
        return float(lease) if isinstance(lease, (int, float)) else 0.0

    def _body(self) -> bytes:
        return encode(
            {"seq": self.seq, "value": self.value, "time": self.time, "meta": self.meta,
             "nonce": self.nonce}
        )

    @classmethod
    def _parse(cls, name: str, raw: bytes) -> RefEntry:
        try:
            d = decode(raw, limit=1 << 20)
            value = d["value"]
            if value is not None and not isinstance(value, bytes):
                raise TypeError("value is not bytes")
            return cls(name, int(d["seq"]), value, float(d["time"]), dict(d["meta"]),
                       bytes(d["nonce"]))
        except (ValueError, TypeError, KeyError) as exc:
            raise CorruptObjectError(f"ref {name}", f"entry does not decode: {exc}") from exc


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append did.

    Attributes:
        ok: True if our entry is now the head.
        entry: our entry when ok, else the entry that won the race.
    """

    ok: bool
    entry: RefEntry


def _check_name(name: str) -> str:
    try:
        return check_key(name)
    except InvalidArgumentError:
        raise InvalidArgumentError(
            f"invalid ref name {name!r}: use '/'-separated segments of letters, digits, '.', "
            "'_', '-'"
        ) from None


def _plain(meta: dict[str, Any]) -> dict[str, Any]:
    """An entry's meta without what makes it a turn (or a turn's release)."""
    return {k: v for k, v in meta.items() if k not in (TURN, "lease", "released", "ticket")}


class RefStore:
    """Ref logs and write-once refs over a backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # -- ref logs ----------------------------------------------------------------

    def _entry_key(self, name: str, seq: int) -> str:
        return f"logs/{name}/{seq:0{_SEQ_DIGITS}x}"

    def _read_entry(self, name: str, seq: int) -> RefEntry | None:
        raw = self.backend.read_key(self._entry_key(name, seq))
        return None if raw is None else RefEntry._parse(name, raw)

    def entry(self, name: str, seq: int) -> RefEntry | None:
        """Return entry ``seq`` of log ``name``, or None if it does not exist (one read).

        ``entry(name, head.seq + 1) is not None`` says, for one read, that the head moved.
        """
        _check_name(name)
        return self._read_entry(name, seq) if seq >= 1 else None

    def head(self, name: str, known: int = 0) -> RefEntry | None:
        """Return the newest entry of log ``name``, or None if it has none.

        Args:
            name: the log.
            known: a seq the caller has seen in the log (a writer that just lost a race
                knows the winner's): probing starts there instead of at the hint.
        """
        _check_name(name)
        lo, lo_entry = known, self._read_entry(name, known) if known > 0 else None
        if lo_entry is None:
            hint = self.backend.read_key(f"hints/{name}")
            lo = int(hint) if hint and hint.isdigit() else 0
            lo_entry = self._read_entry(name, lo) if lo else None
        if lo and lo_entry is None:
            lo = 0  # a hint ahead of the log (log deleted): start over
        step = 1
        while True:
            e = self._read_entry(name, lo + step)
            if e is None:
                break
            lo, lo_entry = lo + step, e
            step *= 2
        hi = lo + step  # known absent; entries are contiguous, so search (lo, hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            e = self._read_entry(name, mid)
            if e is None:
                hi = mid
            else:
                lo, lo_entry = mid, e
        return lo_entry

    def append(
        self,
        name: str,
        value: bytes | None,
        expect: int,
        meta: dict[str, Any] | None = None,
    ) -> AppendResult:
        """Create entry ``expect + 1`` of log ``name`` if no one else has.

        Args:
            name: the log.
            value: object id to point to (None records a deletion).
            expect: the seq of the head this write is based on (0 for an empty log).
            meta: small data stored with the entry.

        Returns:
            ``AppendResult(ok=True, ours)`` or ``AppendResult(ok=False, winner)``.

        Raises:
            BackendError: the backend kept failing.
        """
        _check_name(name)
        entry = RefEntry(name, expect + 1, value, time.time(), dict(meta or {}), os.urandom(16))
        key = self._entry_key(name, entry.seq)
        if self._create(key, entry._body()):
            self._write_hint(name, entry.seq)
            return AppendResult(True, entry)
        winner = self._read_entry(name, entry.seq)
        if winner is None:
            raise BackendError(f"ref {name}: entry {entry.seq} exists but cannot be read")
        if winner.nonce == entry.nonce:
            # Our create succeeded but its reply was lost and the retry saw our own entry.
            self._write_hint(name, entry.seq)
            return AppendResult(True, winner)
        return AppendResult(False, winner)

    def reserve(
        self, head: RefEntry, token: str, lease: float, meta: dict[str, Any] | None = None
    ) -> AppendResult:
        """Append a turn on ``head``: the entry after it is reserved for ``token``.

        The turn repeats ``head``'s value and meta, so what the log says does not change.

        Args:
            head: the entry to reserve on (it must be the head, or the append fails).
            token: the reserving writer's token (a short random string).
            lease: seconds the turn holds, counted by each writer from when it sees it.
            meta: more data for the turn (overrides what it repeats).

        Returns:
            What the append did: ``ok`` if the turn is now the head.
        """
        return self.append(head.name, head.value, head.seq,
                           {**_plain(head.meta), **(meta or {}), TURN: token, "lease": lease})

    def release(self, turn: RefEntry) -> AppendResult:
        """End an unused turn early: append an entry that repeats its value and meta and
        reserves nothing (fails harmlessly if the log moved on)."""
        return self.append(turn.name, turn.value, turn.seq,
                           {**_plain(turn.meta), "released": turn.turn})

    def _create(self, key: str, body: bytes) -> bool:
        delay = 0.05
        for attempt in range(_CREATE_TRIES):
            try:
                return self.backend.create_key(key, body)
            except (OSError, TimeoutError, ConnectionError) as exc:
                if attempt == _CREATE_TRIES - 1:
                    raise BackendError(f"creating {key} failed {attempt + 1} times: {exc}") from exc
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def _write_hint(self, name: str, seq: int) -> None:
        # The hint only speeds up reads; a stale or missing one is corrected by probing.
        # Written every _HINT_EVERY entries, it costs a durable write 1/16 of the time and
        # leaves a reader at most a handful of probes behind.
        if seq % _HINT_EVERY and seq != 1:
            return
        with contextlib.suppress(OSError):
            self.backend.write_key(f"hints/{name}", str(seq).encode())

    def entries(self, name: str) -> Iterator[RefEntry]:
        """Yield the entries of log ``name``, newest first."""
        head = self.head(name)
        if head is None:
            return
        yield head
        for seq in range(head.seq - 1, 0, -1):
            e = self._read_entry(name, seq)
            if e is not None:
                yield e

    def logs(self, prefix: str = "") -> list[str]:
        """Return the names of the logs under ``prefix``."""
        base = "logs" + (f"/{_check_name(prefix)}" if prefix else "")
        names = {k[len("logs/") :].rsplit("/", 1)[0] for k in self.backend.list_keys(base)}
        return sorted(names)

    def drop_entries(self, name: str, below: int) -> int:
        """Delete entries with ``seq < below`` (never the head); return how many."""
        n = 0
        for seq in range(1, below):
            if self.backend.delete_key(self._entry_key(name, seq)):
                n += 1
        return n

    # -- write-once refs ----------------------------------------------------------

    def create_frozen(
        self, name: str, value: bytes, meta: dict[str, Any] | None = None
    ) -> AppendResult:
        """Create write-once ref ``name``.

        Returns:
            ok=True with our entry, or ok=False with the entry that already exists.
        """
        _check_name(name)
        entry = RefEntry(name, 0, value, time.time(), dict(meta or {}), os.urandom(16))
        if self._create(f"frozen/{name}", entry._body()):
            return AppendResult(True, entry)
        existing = self.frozen(name)
        assert existing is not None
        return AppendResult(existing.nonce == entry.nonce, existing)

    def frozen(self, name: str) -> RefEntry | None:
        """Return write-once ref ``name``, or None."""
        raw = self.backend.read_key(f"frozen/{_check_name(name)}")
        return None if raw is None else RefEntry._parse(name, raw)

    def frozen_names(self, prefix: str = "") -> list[str]:
        """Return the names of the write-once refs under ``prefix``."""
        base = "frozen" + (f"/{_check_name(prefix)}" if prefix else "")
        return [k[len("frozen/") :] for k in self.backend.list_keys(base)]
