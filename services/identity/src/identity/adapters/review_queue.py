"""The staff review queue of tutor applications: a read model of identity's own events
(``servicekit.projection.LocalProjection`` keeps it, with its position, in the same
transaction as the rows), because "oldest submitted first, page by page" is no question
one aggregate can answer."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from identity.domain.errors import Invalid
from identity.domain.tutor_application import TutorApplication
from identity.domain.user import ERASED_NAME, User
from servicekit.database import Cursor
from servicekit.projection import LocalProjection

QUEUE_DDL = [
    """CREATE TABLE IF NOT EXISTS application_queue (
        application_id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        subjects TEXT NOT NULL,
        levels TEXT NOT NULL,
        document_count BIGINT NOT NULL,
        status TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        decided_at TEXT,
        reviewer_id TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS application_queue_status ON application_queue (status, submitted_at, application_id)",
    """CREATE TABLE IF NOT EXISTS applicant_names (
        user_id TEXT PRIMARY KEY,
        display_name TEXT NOT NULL
    )""",
]


def apply(cur: Cursor, event: Any) -> None:
    if isinstance(event, TutorApplication.Submitted):
        cur.execute(
            "INSERT INTO application_queue (application_id, user_id, subjects, levels, document_count, status,"
            " submitted_at) VALUES (%s, %s, %s, %s, %s, 'submitted', %s) ON CONFLICT (application_id) DO NOTHING",
            (str(event.originator_id), str(event.user_id), json.dumps(event.subjects), json.dumps(event.levels),
             event.document_count, event.timestamp.isoformat()),
        )
    elif isinstance(event, TutorApplication.Approved | TutorApplication.Rejected | TutorApplication.Withdrawn):
        status = {TutorApplication.Approved: "approved", TutorApplication.Rejected: "rejected"}.get(
            type(event), "withdrawn")
        reviewer = getattr(event, "reviewer_id", None)
        cur.execute("UPDATE application_queue SET status = %s, decided_at = %s, reviewer_id = %s"
                    " WHERE application_id = %s",
                    (status, event.timestamp.isoformat(), str(reviewer) if reviewer else None,
                     str(event.originator_id)))
    elif isinstance(event, User.Registered | User.PublicProfileUpdated | User.Erased):
        name = ERASED_NAME if isinstance(event, User.Erased) else event.display_name
        cur.execute("INSERT INTO applicant_names (user_id, display_name) VALUES (%s, %s) "
                    "ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name",
                    (str(event.originator_id), name))


class CursorError(Invalid):
    def __init__(self) -> None:
        super().__init__("cursor", "is not a cursor this API returned")


def _encode(submitted_at: str, application_id: str) -> str:
    return base64.urlsafe_b64encode(f"{submitted_at}|{application_id}".encode()).decode()


def _decode(cursor: str) -> tuple[str, str]:
    try:
        submitted_at, application_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        datetime.fromisoformat(submitted_at)
        UUID(application_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CursorError() from exc
    return submitted_at, application_id


class ReviewQueue:
    """Names are kept as the events hold them (sealed) and opened with ``name_of`` (the
    application's ``public_text``): an erased applicant's name reads as nothing here."""

    def __init__(self, projection: LocalProjection, name_of: Callable[[UUID, str | None], str | None]) -> None:
        self.projection = projection
        self.name_of = name_of

    def page(self, status: str, limit: int, cursor: str | None) -> dict[str, Any]:
        """Oldest first (a queue), with a stable cursor: new submissions never shift a
        page. Staff see what was just submitted: the view first catches up with the store."""
        after = _decode(cursor) if cursor else ("", "")
        self.projection.wait_for(self.projection.app.recorder.max_notification_id() or 0)
        with self.projection.db.transaction() as cur:
            cur.execute(
                "SELECT q.application_id, q.user_id, n.display_name, q.subjects, q.levels, q.document_count, q.status,"
                " q.submitted_at, q.decided_at, q.reviewer_id FROM application_queue q"
                " LEFT JOIN applicant_names n ON n.user_id = q.user_id"
                " WHERE q.status = %s AND (q.submitted_at > %s OR (q.submitted_at = %s AND q.application_id > %s))"
                " ORDER BY q.submitted_at, q.application_id LIMIT %s",
                (status, after[0], after[0], after[1], limit + 1),
            )
            rows = cur.fetchall()
        items = [{
            "application_id": r[0], "user_id": r[1], "display_name": self.name_of(UUID(r[1]), r[2]) or ERASED_NAME,
            "subjects": json.loads(r[3]),
            "levels": json.loads(r[4]), "document_count": int(r[5]), "status": r[6], "submitted_at": r[7],
            "decided_at": r[8], "reviewer_id": r[9],
        } for r in rows[:limit]]
        next_cursor = _encode(rows[limit - 1][7], rows[limit - 1][0]) if len(rows) > limit else None
        return {"items": items, "next_cursor": next_cursor}
