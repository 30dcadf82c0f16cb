"""Read models of sessions' own events: whose sessions are when (a participant's list), and
the staff's queue of reported chat messages. Both follow the event log exactly (a
``LocalProjection``); rebuilt from it, they come out the same."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from servicekit.database import Cursor, Database
from servicekit.eventstore import event_topics
from sessions.domain.chat import Chat
from sessions.domain.session import Session

_S: Any = Session
_C: Any = Chat

DDL = [
    """CREATE TABLE IF NOT EXISTS session_members (
        session_id UUID NOT NULL, user_id UUID NOT NULL, role TEXT NOT NULL,
        starts_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (user_id, session_id))""",
    "CREATE INDEX IF NOT EXISTS session_members_when ON session_members (user_id, starts_at)",
    "CREATE INDEX IF NOT EXISTS session_members_session ON session_members (session_id)",
    """CREATE TABLE IF NOT EXISTS chat_reports (
        chat_id UUID NOT NULL, session_id UUID NOT NULL, message_id UUID NOT NULL,
        first_reported_at TIMESTAMPTZ NOT NULL, reports INTEGER NOT NULL, reason_codes TEXT NOT NULL,
        status TEXT NOT NULL, PRIMARY KEY (chat_id, message_id))""",
    "CREATE TABLE IF NOT EXISTS chat_sessions (chat_id UUID PRIMARY KEY, session_id UUID NOT NULL)",
    "CREATE INDEX IF NOT EXISTS chat_reports_open ON chat_reports (status, first_reported_at)",
]
TOPICS = event_topics(Session) + event_topics(Chat)


def apply(cur: Cursor, e: Any) -> None:
    sid = e.originator_id
    if isinstance(e, _S.Scheduled):
        _member(cur, sid, e.tutor_id, "tutor", e.starts_at)
    elif isinstance(e, _S.Seated):
        cur.execute("SELECT starts_at FROM session_members WHERE session_id = %s LIMIT 1", (sid,))
        _member(cur, sid, e.student_id, "student", cur.fetchone()[0])
    elif isinstance(e, _S.ObserverInvited):
        cur.execute("SELECT starts_at FROM session_members WHERE session_id = %s LIMIT 1", (sid,))
        _member(cur, sid, e.staff_id, "observer", cur.fetchone()[0])
    elif isinstance(e, _S.SeatCancelled):
        cur.execute("DELETE FROM session_members WHERE session_id = %s AND user_id = %s", (sid, e.student_id))
    elif isinstance(e, _S.Moved):
        cur.execute("UPDATE session_members SET starts_at = %s WHERE session_id = %s", (e.starts_at, sid))
    elif isinstance(e, _C.Opened):
        cur.execute("INSERT INTO chat_sessions (chat_id, session_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    (sid, e.session_id))
    elif isinstance(e, _C.Reported):
        cur.execute(
            "INSERT INTO chat_reports (chat_id, session_id, message_id, first_reported_at, reports, reason_codes,"
            " status) VALUES (%s, %s, %s, %s, 1, %s, 'open') "
            "ON CONFLICT (chat_id, message_id) DO UPDATE SET reports = chat_reports.reports + 1, "
            "reason_codes = chat_reports.reason_codes || ',' || EXCLUDED.reason_codes",
            (sid, _session_of_chat(cur, sid), e.message_id, e.at, e.reason_code))
    elif isinstance(e, _C.Reviewed):
        cur.execute("UPDATE chat_reports SET status = %s WHERE chat_id = %s AND message_id = %s",
                    ("hidden" if e.action == "hide" else "kept", sid, e.message_id))


def _member(cur: Cursor, sid: UUID, user: UUID, role: str, starts_at: datetime) -> None:
    cur.execute("INSERT INTO session_members (session_id, user_id, role, starts_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (user_id, session_id) DO UPDATE SET role = EXCLUDED.role", (sid, user, role, starts_at))


def _session_of_chat(cur: Cursor, chat_id: UUID) -> UUID:
    cur.execute("SELECT session_id FROM chat_sessions WHERE chat_id = %s", (chat_id,))
    row = cur.fetchone()
    return row[0] if row else chat_id


class Views:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.projection: Any = None

    def sessions_of(self, user_id: UUID, start: datetime, end: datetime, limit: int) -> list[tuple[UUID, str]]:
        with self.db.transaction() as cur:
            cur.execute("SELECT session_id, role FROM session_members WHERE user_id = %s AND starts_at >= %s "
                        "AND starts_at < %s ORDER BY starts_at, session_id LIMIT %s", (user_id, start, end, limit))
            return [(r[0], str(r[1])) for r in cur.fetchall()]

    def reports(self, status: str, limit: int) -> list[dict[str, Any]]:
        with self.db.transaction() as cur:
            cur.execute("SELECT session_id, message_id, first_reported_at, reports, reason_codes, status "
                        "FROM chat_reports WHERE status = %s ORDER BY first_reported_at LIMIT %s", (status, limit))
            return [{"session_id": r[0], "message_id": r[1], "first_reported_at": r[2], "reports": r[3],
                     "reason_codes": sorted(set(str(r[4]).split(","))), "status": r[5]} for r in cur.fetchall()]
