"""Turn-taking among the writers of one ref log, so that no writer starves.

Appending to a ref log is optimistic (refs.py): a writer reads the head, does its work, and
creates the next entry if no one has. On a slow store, the writer that has just won starts
its next write at once. The others learn that they lost only at the end of their own
round, so the winner stays a whole round ahead. It can keep winning while another writer
loses every round: this is the capture effect. One :class:`Turns` per write carries that
write's side of four remedies:

1. **Learn early.** :meth:`Turns.moved` reads the entry after the head just before the
   expensive part of a round (the upload). If it exists, the round is lost, and the writer
   starts again at once, having uploaded nothing.
2. **A time budget.** A write gives up after ``patience`` seconds, not after a number of
   rounds.
3. **Turns.** After :data:`TURN_AFTER` rounds lost in a row, the writer appends a turn
   (:meth:`~vstore.engine.refs.RefStore.reserve`). A turn is an entry that repeats the
   head and reserves the next entry for that writer. A writer that reads someone else's
   turn at the head leaves the next entry alone until the log moves on or the turn's lease
   runs out. The lease is a few times the holder's slowest round, within 2 to 60 s. Each
   writer counts it from when it first sees the turn, so no clocks are compared, and a
   holder that died blocks no one for long.
4. **First come, first served.** A writer that needs a turn first takes a ticket: the next
   entry of a small queue log, ``tickets/<log>``. A turn records its ticket. Every entry
   the writers make carries the highest ticket served so far (``served``). A writer whose
   ticket is not the next one waits, so that the older ticket takes its turn first. If the
   older holder does not take it within a few rounds' time, the order gives way and the
   writers race for the turn.

None of this weakens the compare-and-swap. Every entry is still a create-if-absent on the
head its writer read, and a turn repeats the value it sits on. So no update is lost, and a
crash leaves the old or the new state. Turns and tickets only decide who tries. An
uncontended write pays one read (step 1); only a writer that has lost 3 rounds touches the
queue. See decision 0009.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from vstore.engine.refs import AppendResult, RefEntry, RefStore
from vstore.errors import BackendError

__all__ = ["LEASE_MAX", "LEASE_MIN", "SERVED", "TURN_AFTER", "Turns", "WriteReport"]

#: rounds lost in a row after which a writer takes a turn
TURN_AFTER = 3
#: a turn's lease: this many times the holder's slowest round, within these bounds (seconds)
LEASE_FACTOR, LEASE_MIN, LEASE_MAX = 4.0, 2.0, 60.0
#: the entry meta key of the highest ticket that has had its turn
SERVED = "served"
#: when this process first saw a turn, or a ticket due: key -> time.monotonic()
_SEEN: dict[Hashable, float] = {}
_SEEN_LOCK = threading.Lock()


@dataclass
class WriteReport:
    """How one write went.

    Attributes:
        attempts: rounds that computed a change.
        lost: rounds lost to other writers, before the upload or at the compare-and-swap.
        early: of those, the rounds lost before uploading anything.
        turns: turns this write took.
        waited: seconds spent leaving the next entry to another writer (its turn, or an
            older ticket's).
        seconds: the whole write.
        ok: the write landed.
    """

    attempts: int = 0
    lost: int = 0
    early: int = 0
    turns: int = 0
    waited: float = 0.0
    seconds: float = 0.0
    ok: bool = False


def _first_seen(key: Hashable) -> float:
    now = time.monotonic()
    with _SEEN_LOCK:
        if len(_SEEN) > 4096:  # forget what is long past any lease
            for k in [k for k, t in _SEEN.items() if now - t > 2 * LEASE_MAX]:
                del _SEEN[k]
        return _SEEN.setdefault(key, now)


class Turns:
    """One write's side of turn-taking on ref log ``log``.

    Each round of the write does the following:

    - ``head = refs.head(log, turns.known)``, then ``base = turns.ready(head)``. If
      ``base`` is None, read the head again.
    - Build on ``base``.
    - Before uploading, call ``turns.moved(base)``. If it returns True, start the round
      again.
    - Append with ``turns.carry(base)`` in the meta, then call ``turns.landed(result)``.

    On an error, call ``turns.release()``.

    Args:
        refs: the ref store.
        log: the log written.
        patience: seconds before :meth:`expired` says to give up.
    """

    def __init__(self, refs: RefStore, log: str, patience: float) -> None:
        self.refs = refs
        self.log = log
        self.patience = patience
        self.token = os.urandom(6).hex()
        self.start = time.monotonic()
        self.report = WriteReport()
        self.held: RefEntry | None = None
        #: the newest seq this write has seen in the log (where to look for the head)
        self.known = 0
        self.ticket = 0
        self.slowest = 0.0
        self._round = 0.0

    def expired(self) -> bool:
        """The write has tried for longer than its patience."""
        return time.monotonic() - self.start > self.patience

    def ready(self, head: RefEntry) -> RefEntry | None:
        """The entry to build this round on (``head``, or our new turn on it), or None.

        None means: read the head again. Either this call waited for another writer (a
        turn at the head, or an older ticket due) until the log moved, or we tried to
        take a turn and another entry got there first.
        """
        if self.held is not None and self.held.seq != head.seq:
            self.held = None  # our turn was used up by a takeover
        if self._honour(head):
            return None
        if self.report.lost >= TURN_AFTER and head.turn != self.token:
            if not self._due(head):
                return None
            served = head.meta.get(SERVED)
            top = max(served, self.ticket) if isinstance(served, int) else self.ticket
            got = self.refs.reserve(head, self.token, self._lease(),
                                    {"ticket": self.ticket, SERVED: top})
            if not got.ok:
                self.known = got.entry.seq
                return None
            self.held = head = got.entry
            self.report.turns += 1
        self._round = time.monotonic()
        self.report.attempts += 1
        return head

    def carry(self, base: RefEntry) -> dict[str, Any]:
        """Meta the next entry carries forward from ``base`` (the tickets served)."""
        served = base.meta.get(SERVED)
        return {SERVED: served} if isinstance(served, int) else {}

    def moved(self, base: RefEntry) -> bool:
        """Whether the log moved past ``base`` (one read); if so, the round is lost."""
        if self.refs.entry(self.log, base.seq + 1) is None:
            return False
        self._timed()  # the work of a round, even cut short, sets the lease of a later turn
        self.known = base.seq + 1
        self._lose(early=True)
        return True

    def landed(self, result: AppendResult) -> None:
        """Record the round's compare-and-swap: won, or lost (then back off a little)."""
        self._timed()
        self.known = result.entry.seq
        if result.ok:
            self.held = None
            self.report.ok = True
            return
        self._lose(early=False)
        if self.report.lost < TURN_AFTER:
            backoff(self.report.lost - 1)

    def release(self) -> None:
        """Give back a turn this write holds and will not use (best effort: its lease
        would end it anyway)."""
        if self.held is not None:
            turn, self.held = self.held, None
            with contextlib.suppress(BackendError):
                self.refs.release(turn)

    def finish(self) -> WriteReport:
        """The report of the write (its duration set)."""
        self.report.seconds = time.monotonic() - self.start
        return self.report

    def _timed(self) -> None:
        self.slowest = max(self.slowest, time.monotonic() - self._round)

    def _lose(self, early: bool) -> None:
        self.report.lost += 1
        self.report.early += early

    def _lease(self) -> float:
        return min(max(LEASE_FACTOR * self.slowest, LEASE_MIN), LEASE_MAX)

    def _honour(self, head: RefEntry) -> bool:
        """Wait while ``head`` is another writer's live turn; True if it was one."""
        if head.turn is None or head.turn == self.token:
            return False
        seen = _first_seen((self.log, head.seq, head.turn))
        return self._wait(head, seen + min(head.lease, LEASE_MAX))

    def _due(self, head: RefEntry) -> bool:
        """Whether our ticket may take the next turn now; if an older one is due, wait a
        while for the log to move (False), then give way to a race (True)."""
        if not self.ticket:
            self.ticket = self._take_ticket()
        served = head.meta.get(SERVED)
        if not isinstance(served, int) or self.ticket <= served + 1:
            return True  # ours is next, or we were skipped, or nothing says: try now
        seen = _first_seen((self.log, "due", served + 1))
        return not self._wait(head, seen + max(LEASE_MIN, 2 * self.slowest))

    def _take_ticket(self) -> int:
        name = f"tickets/{self.log}"
        last = self.refs.head(name)
        while True:
            got = self.refs.append(name, None, last.seq if last else 0, {"token": self.token})
            if got.ok:
                return got.entry.seq
            last = got.entry

    def _wait(self, head: RefEntry, until: float) -> bool:
        """Poll until the log moves past ``head`` or ``until`` (monotonic) passes; True if
        there was anything to wait for."""
        end = min(until, self.start + self.patience)
        t0 = now = time.monotonic()
        if now >= end:
            return False
        delay = 0.002
        while now < end:
            if self.refs.entry(self.log, head.seq + 1) is not None:
                self.known = head.seq + 1  # the next head read starts there
                break
            time.sleep(min(delay, end - now))
            delay = min(2 * delay, 0.1)
            now = time.monotonic()
        self.report.waited += time.monotonic() - t0
        return True


def backoff(attempt: int) -> None:
    """Sleep a jittered, exponentially growing moment (at most 0.2 s): writers that
    collided spread out."""
    base = min(0.001 * (2 ** min(attempt, 8)), 0.2)
    time.sleep(base * random.uniform(0.5, 1.5))
