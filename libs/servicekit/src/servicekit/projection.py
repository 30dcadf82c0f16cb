"""A read model of the service's *own* events, kept beside its event store.

Some reads cannot be answered by loading one aggregate (a staff review queue, a list
sorted by date). A ``LocalProjection`` tails the service's notification log and writes
view rows together with its position in one transaction, so a crash or a restart neither
skips nor repeats an event. It runs in the service process like the outbox relay; a read
that must see its own write can ``wait_for(notification_id)``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from servicekit.database import Cursor, Database
from servicekit.eventstore import ServiceApplication

log = logging.getLogger(__name__)

POSITION_DDL = [
    """CREATE TABLE IF NOT EXISTS projection_position (
        name TEXT PRIMARY KEY,
        position BIGINT NOT NULL
    )""",
]

Apply = Callable[[Cursor, Any], None]


class LocalProjection:
    def __init__(self, app: ServiceApplication, db: Database, name: str, ddl: list[str], apply: Apply,
                 batch_size: int = 500, poll_interval: float = 0.2, topics: Sequence[str] = ()) -> None:
        self.app = app
        #: Only events of these stored topics are read and applied (all when empty): a view of
        #: a few kinds of event need not decode every other one (``eventstore.event_topics``).
        self.topics = list(topics)
        self.db = db
        self.name = name
        self.apply = apply
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.position = 0
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        db.execute_script([*POSITION_DDL, *ddl])
        app.add_save_hook(self._poke)

    def _poke(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    def catch_up(self) -> int:
        """Apply everything committed so far; returns how many notifications were applied.
        Safe to run from several processes: the position row is locked per batch."""
        applied = 0
        while True:
            with self.db.transaction() as cur:
                cur.execute("INSERT INTO projection_position (name, position) VALUES (%s, 0) "
                            "ON CONFLICT DO NOTHING", (self.name,))
                cur.execute("SELECT position FROM projection_position WHERE name = %s FOR UPDATE", (self.name,))
                position = int(cur.fetchone()[0])
                # Filtered, the position moves past what was scanned, not only past what matched
                # (else every catch-up would scan the same unmatched rows again). Ids up to the
                # maximum read first are all committed: inserts hold the table's lock to commit.
                top = self.app.recorder.max_notification_id() if self.topics else None
                batch = self.app.recorder.select_notifications(start=position, limit=self.batch_size, stop=top,
                                                               topics=self.topics, inclusive_of_start=False)
                for note in batch:
                    self.apply(cur, self.app.mapper.to_domain_event(note))
                    position = note.id
                if top is not None and len(batch) < self.batch_size:
                    position = max(position, top)
                cur.execute("UPDATE projection_position SET position = %s WHERE name = %s", (position, self.name))
            self.position = position
            applied += len(batch)
            if len(batch) < self.batch_size:
                return applied

    def wait_for(self, notification_id: int) -> None:
        """Make sure the view includes ``notification_id`` (read-your-writes)."""
        if self.position < notification_id:
            self.catch_up()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.catch_up)
            except Exception:
                log.warning("projection %s failed; retrying", self.name, exc_info=True)
                await asyncio.sleep(1.0)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
