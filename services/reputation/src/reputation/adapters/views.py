"""Read models of reputation's own events: each tutor's reviews (to page through), the staff's
queue (held reviews and flags), and each holder's certificates."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from reputation.domain.certificate import Certificate
from reputation.domain.review import Review
from reputation.domain.tutor import TutorRecord
from servicekit.database import Cursor, Database
from servicekit.eventstore import event_topics

_R: Any = Review
_T: Any = TutorRecord
_C: Any = Certificate

DDL = [
    """CREATE TABLE IF NOT EXISTS reviews (review_id UUID PRIMARY KEY, tutor_id UUID NOT NULL,
        student_id UUID NOT NULL, status TEXT NOT NULL, written_at TIMESTAMPTZ NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS reviews_tutor ON reviews (tutor_id, status, written_at DESC)",
    """CREATE TABLE IF NOT EXISTS staff_queue (item_id UUID PRIMARY KEY, tutor_id UUID NOT NULL,
        review_id UUID, reason TEXT NOT NULL, at TIMESTAMPTZ NOT NULL, open BOOLEAN NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS staff_queue_open ON staff_queue (open, at)",
    """CREATE TABLE IF NOT EXISTS certificates (certificate_id UUID PRIMARY KEY, holder_id UUID NOT NULL,
        kind TEXT NOT NULL, issued_at TIMESTAMPTZ NOT NULL)""",
    "CREATE TABLE IF NOT EXISTS record_tutors (record_id UUID PRIMARY KEY, tutor_id UUID NOT NULL)",
    "CREATE INDEX IF NOT EXISTS certificates_holder ON certificates (holder_id, issued_at)",
]
TOPICS = event_topics(Review) + event_topics(TutorRecord) + event_topics(Certificate)


def apply(cur: Cursor, e: Any) -> None:
    oid = e.originator_id
    if isinstance(e, _R.Written):
        status = "held" if e.held else "published"
        cur.execute("INSERT INTO reviews (review_id, tutor_id, student_id, status, written_at) VALUES "
                    "(%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", (oid, e.tutor_id, e.student_id, status, e.at))
        if e.held:
            _queue(cur, oid, e.tutor_id, oid, e.held, e.at)
    elif isinstance(e, (_R.Held, _R.Edited)):
        reason = e.reason if isinstance(e, _R.Held) else e.held
        if reason:
            cur.execute("UPDATE reviews SET status = 'held' WHERE review_id = %s AND status = 'published'", (oid,))
            cur.execute("SELECT tutor_id FROM reviews WHERE review_id = %s", (oid,))
            row = cur.fetchone()
            if row:
                _queue(cur, oid, row[0], oid, reason, e.timestamp)
    elif isinstance(e, _R.Moderated):
        cur.execute("UPDATE reviews SET status = %s WHERE review_id = %s",
                    ("published" if e.action == "publish" else "removed", oid))
        cur.execute("UPDATE staff_queue SET open = FALSE WHERE review_id = %s", (oid,))
    elif isinstance(e, _T.Opened):
        cur.execute("INSERT INTO record_tutors (record_id, tutor_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (oid, e.tutor_id))
    elif isinstance(e, _T.Flagged):
        _queue(cur, e.flag_id, e.originator_id, e.review_id, e.reason, e.at, tutor_from_record=True)
    elif isinstance(e, _T.Resolved):
        cur.execute("UPDATE staff_queue SET open = FALSE WHERE item_id = %s", (e.flag_id,))
    elif isinstance(e, _C.Issued):
        cur.execute("INSERT INTO certificates (certificate_id, holder_id, kind, issued_at) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT DO NOTHING", (oid, e.holder_id, e.kind, e.at))


def _queue(cur: Cursor, item: UUID, tutor_or_record: UUID, review_id: UUID | None, reason: str, at: datetime,
           tutor_from_record: bool = False) -> None:
    tutor = tutor_or_record
    if tutor_from_record:
        cur.execute("SELECT tutor_id FROM record_tutors WHERE record_id = %s", (tutor_or_record,))
        row = cur.fetchone()
        tutor = row[0] if row else tutor_or_record
    cur.execute("INSERT INTO staff_queue (item_id, tutor_id, review_id, reason, at, open) VALUES "
                "(%s, %s, %s, %s, %s, TRUE) ON CONFLICT (item_id) DO UPDATE SET reason = EXCLUDED.reason, "
                "open = TRUE", (item, tutor, review_id, reason, at))


class Views:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.projection: Any = None

    def reviews_of(self, tutor: UUID, offset: int, limit: int) -> tuple[list[UUID], int]:
        with self.db.transaction() as cur:
            cur.execute("SELECT review_id FROM reviews WHERE tutor_id = %s AND status = 'published' "
                        "ORDER BY written_at DESC, review_id OFFSET %s LIMIT %s", (tutor, offset, limit))
            ids = [r[0] for r in cur.fetchall()]
            cur.execute("SELECT count(*) FROM reviews WHERE tutor_id = %s AND status = 'published'", (tutor,))
            return ids, int(cur.fetchone()[0])

    def queue(self, limit: int) -> list[dict[str, Any]]:
        with self.db.transaction() as cur:
            cur.execute("SELECT item_id, tutor_id, review_id, reason, at FROM staff_queue WHERE open "
                        "ORDER BY at, item_id LIMIT %s", (limit,))
            return [{"item_id": r[0], "tutor_id": r[1], "review_id": r[2], "reason": r[3], "at": r[4]}
                    for r in cur.fetchall()]

    def certificates_of(self, holder: UUID) -> list[UUID]:
        with self.db.transaction() as cur:
            cur.execute("SELECT certificate_id FROM certificates WHERE holder_id = %s ORDER BY issued_at", (holder,))
            return [r[0] for r in cur.fetchall()]
