"""Deadlines: every pending state has one, and a way out.

A request the tutor must answer by a time, a hold the ledger voids when it runs out, a
reminder two hours before a session: each is a *deadline* set by one of the service's own
events and acted on when it falls due, whichever process is alive then.

- ``schedule(domain_event) -> [Deadline(key, due_at)]`` says what each stored event sets
  (``due_at``) or clears (``None``). It is applied by a :class:`LocalProjection` of the
  service's notification log, so deadlines follow the events exactly: in order, once, and
  a crash between an event and its deadline loses nothing.
- ``fire(key, due_at)`` runs in a worker thread once ``due_at`` has passed. Delivery is at
  least once (a process may die after firing and before forgetting the row), so ``fire``
  decides from current state: it loads the aggregate, which knows whether the deadline
  still applies. A ``fire`` that raises is tried again later, with backoff; the row stays.
- Across replicas each due row is fired by one process at a time (``FOR UPDATE SKIP
  LOCKED``): the row stays locked while ``fire`` runs, and is deleted in that transaction.
  Another event may set the same key again meanwhile; it waits for the lock and then
  stands (a deleted row is inserted again).

Tests drive time themselves: ``catch_up()`` applies the schedule so far, and
``fire_due(now)`` fires what is due at ``now``, synchronously."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from servicekit.database import Cursor, Database
from servicekit.eventstore import ServiceApplication
from servicekit.projection import LocalProjection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deadline:
    """Set ``key`` to fall due at ``due_at`` (aware), or clear it (``None``)."""

    key: str
    due_at: datetime | None

    def __post_init__(self) -> None:
        if self.due_at is not None and self.due_at.utcoffset() is None:
            raise ValueError(f"deadline {self.key!r}: due_at must carry a time zone")


Schedule = Callable[[Any], Iterable[Deadline]]
Fire = Callable[[str, datetime], None]
Clock = Callable[[], datetime]

DDL = [
    """CREATE TABLE IF NOT EXISTS deadlines (
        name TEXT NOT NULL,
        key TEXT NOT NULL,
        due_at TIMESTAMPTZ NOT NULL,
        fire_at TIMESTAMPTZ NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        PRIMARY KEY (name, key)
    )""",
    "CREATE INDEX IF NOT EXISTS deadlines_fire_at ON deadlines (name, fire_at)",
]

#: Backoff after a failed ``fire``: doubling from 1 s, at most this.
MAX_BACKOFF = timedelta(minutes=5)


@dataclass
class DeadlineStats:
    fired: int = 0
    failures: int = 0


@dataclass
class Deadlines:
    """The schedule (a projection of the service's own events) and the worker that fires it."""

    db: Database
    app: ServiceApplication
    name: str
    schedule: Schedule
    fire: Fire
    clock: Clock = field(default=lambda: datetime.now(UTC))
    poll_interval: float = 1.0
    #: The stored topics ``schedule`` can set deadlines for (empty: every event is read).
    topics: Sequence[str] = ()
    stats: DeadlineStats = field(default_factory=DeadlineStats)

    def __post_init__(self) -> None:
        self.projection = LocalProjection(self.app, self.db, f"deadlines:{self.name}", DDL, self._apply,
                                          topics=self.topics)
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- the schedule --------------------------------------------------------------------

    def _apply(self, cur: Cursor, event: Any) -> None:
        changed = False
        for deadline in self.schedule(event):
            changed = True
            if deadline.due_at is None:
                cur.execute("DELETE FROM deadlines WHERE name = %s AND key = %s", (self.name, deadline.key))
            else:
                cur.execute(
                    "INSERT INTO deadlines (name, key, due_at, fire_at) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (name, key) DO UPDATE SET due_at = EXCLUDED.due_at, fire_at = EXCLUDED.fire_at, "
                    "attempts = 0, last_error = NULL",
                    (self.name, deadline.key, deadline.due_at, deadline.due_at),
                )
        if changed:
            self._poke()

    def catch_up(self) -> int:
        """Apply the schedule of every event stored so far."""
        return self.projection.catch_up()

    def pending(self) -> list[tuple[str, datetime]]:
        """Every deadline not yet fired, soonest first (for tests and operators)."""
        with self.db.transaction() as cur:
            cur.execute("SELECT key, due_at FROM deadlines WHERE name = %s ORDER BY fire_at, key", (self.name,))
            return [(str(k), d) for k, d in cur.fetchall()]

    def overdue(self, now: datetime | None = None) -> int:
        with self.db.transaction() as cur:
            cur.execute("SELECT count(*) FROM deadlines WHERE name = %s AND fire_at <= %s",
                        (self.name, now or self.clock()))
            return int(cur.fetchone()[0])

    # -- firing --------------------------------------------------------------------------

    def fire_due(self, now: datetime | None = None, limit: int = 1000) -> int:
        """Fire what is due at ``now`` (default: the clock), one row per transaction;
        returns how many fired without raising."""
        now = now or self.clock()
        fired = 0
        for _ in range(limit):
            outcome = self._fire_one(now)
            if outcome is None:
                break
            fired += outcome
        return fired

    def _fire_one(self, now: datetime) -> int | None:
        with self.db.transaction() as cur:
            cur.execute(
                "SELECT key, due_at, attempts FROM deadlines WHERE name = %s AND fire_at <= %s "
                "ORDER BY fire_at, key LIMIT 1 FOR UPDATE SKIP LOCKED",
                (self.name, now),
            )
            row = cur.fetchone()
            if row is None:
                return None
            key, due_at, attempts = str(row[0]), row[1], int(row[2])
            try:
                self.fire(key, due_at)
            except Exception as exc:
                self.stats.failures += 1
                backoff = min(MAX_BACKOFF, timedelta(seconds=2 ** min(attempts, 12)))
                log.warning("deadline failed; will try again", exc_info=True,
                            extra={"fields": {"deadline": key, "attempts": attempts + 1,
                                              "retry_in_s": backoff.total_seconds()}})
                cur.execute("UPDATE deadlines SET attempts = attempts + 1, fire_at = %s, last_error = %s "
                            "WHERE name = %s AND key = %s",
                            (now + backoff, f"{type(exc).__name__}: {exc}"[:1000], self.name, key))
                return 0
            cur.execute("DELETE FROM deadlines WHERE name = %s AND key = %s", (self.name, key))
            self.stats.fired += 1
            return 1

    def _next_fire_at(self) -> datetime | None:
        with self.db.transaction() as cur:
            cur.execute("SELECT min(fire_at) FROM deadlines WHERE name = %s", (self.name,))
            row = cur.fetchone()
            return row[0] if row else None

    # -- the worker ----------------------------------------------------------------------

    def _poke(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            wait = self.poll_interval
            self._wake.clear()  # before the work: a deadline set meanwhile wakes the next wait
            try:
                await asyncio.to_thread(self.fire_due)
                next_at = await asyncio.to_thread(self._next_fire_at)
                if next_at is not None:
                    wait = max(0.0, min(wait, (next_at - self.clock()).total_seconds()))
            except Exception:
                log.warning("deadlines %s: worker failed; retrying", self.name, exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
