"""The staff queue of open disputes: a read model of booking's own events (a
``LocalProjection``), oldest first, read a page at a time with a keyset cursor."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from booking.domain.booking import Booking
from booking.domain.errors import Invalid
from servicekit.database import Cursor, Database
from servicekit.eventstore import event_topics
from servicekit.projection import LocalProjection

DDL = [
    """CREATE TABLE IF NOT EXISTS dispute_queue (
        dispute_id UUID PRIMARY KEY,
        booking_id UUID NOT NULL,
        occurrence INTEGER NOT NULL,
        opened_by TEXT NOT NULL,
        reason_code TEXT NOT NULL,
        opened_at TIMESTAMPTZ NOT NULL,
        decide_by TIMESTAMPTZ NOT NULL,
        status TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS dispute_queue_open ON dispute_queue (status, opened_at, dispute_id)",
]

_B: Any = Booking


@dataclass(frozen=True)
class QueuedDispute:
    dispute_id: UUID
    booking_id: UUID
    occurrence: int
    opened_by: str
    reason_code: str
    opened_at: datetime
    decide_by: datetime


#: The stored events the queue is made of (the projection reads no other).
TOPICS = [t for t in event_topics(_B) if t.endswith((".DisputeOpened", ".DisputeResolved"))]


def apply(cur: Cursor, e: Any) -> None:
    if isinstance(e, _B.DisputeOpened):
        cur.execute("INSERT INTO dispute_queue VALUES (%s, %s, %s, %s, %s, %s, %s, 'open') ON CONFLICT DO NOTHING",
                    (e.dispute_id, e.originator_id, e.occurrence, e.opened_by, e.reason_code, e.at, e.decide_by))
    elif isinstance(e, _B.DisputeResolved):
        cur.execute("UPDATE dispute_queue SET status = 'resolved' WHERE dispute_id = %s", (e.dispute_id,))


def _cursor(after: tuple[datetime, UUID]) -> str:
    raw = json.dumps([after[0].isoformat(), str(after[1])]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, UUID]:
    try:
        at, dispute_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(at), UUID(dispute_id)
    except (ValueError, TypeError):
        raise Invalid("query.cursor", "must be a next_cursor this API returned") from None


class DisputeQueue:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.projection: LocalProjection | None = None

    def page(self, cursor: str | None, limit: int) -> tuple[list[QueuedDispute], str | None]:
        if self.projection is not None:
            self.projection.catch_up()  # read-your-writes for staff who just acted
        after = _after(cursor) if cursor else None
        with self.db.transaction() as cur:
            cur.execute(
                "SELECT dispute_id, booking_id, occurrence, opened_by, reason_code, opened_at, decide_by "
                "FROM dispute_queue WHERE status = 'open' AND (%s::timestamptz IS NULL OR (opened_at, dispute_id) > "
                "(%s::timestamptz, %s::uuid)) ORDER BY opened_at, dispute_id LIMIT %s",
                (after[0] if after else None, after[0] if after else None, after[1] if after else None, limit + 1))
            rows = [QueuedDispute(*r) for r in cur.fetchall()]
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, _cursor((rows[-1].opened_at, rows[-1].dispute_id)) if more and rows else None
