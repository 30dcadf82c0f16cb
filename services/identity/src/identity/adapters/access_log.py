"""Who opened which applicant document, when (``ports.AccessLog``): a PostgreSQL table that
is append-only and tamper-evident.

- Append-only: triggers refuse every UPDATE, DELETE and TRUNCATE of the table, whoever asks
  (undoing that takes ``ALTER TABLE`` by the table's owner, which the next check reveals).
- Tamper-evident: each entry carries an HMAC-SHA256, under a key derived from the service
  secret, of its own fields and of the previous entry's HMAC (a hash chain). Changing,
  removing or inserting an entry breaks the chain from there on, and nobody without the
  secret can forge a chain that verifies. ``verify`` walks it end to end.

Entries hold ids only (actor, application, document), no personal data: erasing a user
leaves the record of who looked at what."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from uuid import UUID

from identity.domain.ports import ChainCheck, DocumentAccess
from servicekit.database import Database

GENESIS = "0" * 64
#: Serialises appends across replicas (pg_advisory_xact_lock), so the chain never forks.
APPEND_LOCK = 0x1D0C_A11

ACCESS_LOG_DDL = [
    """CREATE TABLE IF NOT EXISTS document_access_log (
        seq BIGINT PRIMARY KEY,
        accessed_at TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        actor_role TEXT NOT NULL,
        application_id TEXT NOT NULL,
        document_id TEXT NOT NULL,
        previous_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS document_access_log_application ON document_access_log (application_id, seq)",
    """CREATE OR REPLACE FUNCTION document_access_log_append_only() RETURNS trigger
       LANGUAGE plpgsql AS $$
       BEGIN
           RAISE EXCEPTION 'document_access_log is append-only: % refused', TG_OP;
       END $$""",
    """CREATE OR REPLACE TRIGGER document_access_log_no_change
       BEFORE UPDATE OR DELETE ON document_access_log
       FOR EACH ROW EXECUTE FUNCTION document_access_log_append_only()""",
    """CREATE OR REPLACE TRIGGER document_access_log_no_truncate
       BEFORE TRUNCATE ON document_access_log
       FOR EACH STATEMENT EXECUTE FUNCTION document_access_log_append_only()""",
]

_COLUMNS = "seq, accessed_at, actor_id, actor_role, application_id, document_id, previous_hash, hash"


def _entry(row: tuple[object, ...]) -> DocumentAccess:
    seq, at, actor, role, application, document, previous, digest = row
    return DocumentAccess(seq=int(str(seq)), accessed_at=datetime.fromisoformat(str(at)), actor_id=UUID(str(actor)),
                          actor_role=str(role), application_id=UUID(str(application)),
                          document_id=UUID(str(document)), previous_hash=str(previous), hash=str(digest))


class DocumentAccessLog:
    def __init__(self, db: Database, secret: str) -> None:
        self.db = db
        self._key = hashlib.sha256(b"alphapeer-document-access-log:" + secret.encode()).digest()
        db.execute_script(ACCESS_LOG_DDL)

    def _seal(self, seq: int, at: str, actor: str, role: str, application: str, document: str,
              previous: str) -> str:
        canonical = json.dumps([seq, at, actor, role, application, document, previous], separators=(",", ":"))
        return hmac.new(self._key, canonical.encode(), hashlib.sha256).hexdigest()

    def record(self, application_id: UUID, document_id: UUID, actor_id: UUID, actor_role: str,
               at: datetime) -> DocumentAccess:
        when = at.astimezone(UTC).isoformat()
        with self.db.transaction() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (APPEND_LOCK,))
            cur.execute("SELECT seq, hash FROM document_access_log ORDER BY seq DESC LIMIT 1")
            last = cur.fetchone()
            seq, previous = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
            fields = (seq, when, str(actor_id), actor_role, str(application_id), str(document_id), previous)
            digest = self._seal(*fields)
            cur.execute(f"INSERT INTO document_access_log ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        (*fields, digest))
        return _entry((*fields, digest))

    def for_application(self, application_id: UUID, limit: int, after_seq: int = 0) -> list[DocumentAccess]:
        with self.db.transaction() as cur:
            cur.execute(f"SELECT {_COLUMNS} FROM document_access_log WHERE application_id = %s AND seq > %s"
                        " ORDER BY seq LIMIT %s", (str(application_id), after_seq, limit))
            return [_entry(row) for row in cur.fetchall()]

    def verify(self, page: int = 1000) -> ChainCheck:
        previous, expected_seq, entries = GENESIS, 1, 0
        while True:
            with self.db.transaction() as cur:
                cur.execute(f"SELECT {_COLUMNS} FROM document_access_log WHERE seq >= %s ORDER BY seq LIMIT %s",
                            (expected_seq, page))
                rows = cur.fetchall()
            for row in rows:
                seq, at, actor, role, application, document, prev, digest = row
                fields = (int(seq), str(at), str(actor), str(role), str(application), str(document), str(prev))
                if int(seq) != expected_seq or str(prev) != previous or not hmac.compare_digest(
                        self._seal(*fields), str(digest)):
                    return ChainCheck(entries=entries, intact=False, first_bad_seq=expected_seq, head_hash=previous)
                previous, expected_seq, entries = str(digest), expected_seq + 1, entries + 1
            if len(rows) < page:
                return ChainCheck(entries=entries, intact=True, first_bad_seq=None, head_hash=previous)
