"""Attempt counters in PostgreSQL (``ports.Throttle``), so every replica counts against the
same limit: one row per key, a fixed window that starts at the key's first hit after the
previous window ended. Each hit is one atomic upsert; the check before an attempt is one
read. Expired rows are swept now and then by the hits themselves.

Keys are the application's keyed hashes (an account's email look-up key, a client
address's), so this table holds neither addresses nor emails."""

from __future__ import annotations

import random
from collections.abc import Sequence

from identity.domain.ports import AttemptLimits, Limit
from identity.settings import IdentitySettings
from servicekit.database import Database

THROTTLE_DDL = [
    """CREATE TABLE IF NOT EXISTS attempt_counters (
        key TEXT PRIMARY KEY,
        window_started DOUBLE PRECISION NOT NULL,
        window_seconds DOUBLE PRECISION NOT NULL,
        hits INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS attempt_counters_ends ON attempt_counters ((window_started + window_seconds))",
]

#: One hit in this many also deletes counters whose window ended.
SWEEP_EVERY = 200


class PgThrottle:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.execute_script(THROTTLE_DDL)

    def wait_for(self, keys: Sequence[tuple[str, Limit]], now: float) -> float:
        if not keys:
            return 0.0
        limits = dict(keys)
        with self.db.transaction() as cur:
            cur.execute("SELECT key, window_started + window_seconds, hits FROM attempt_counters"
                        " WHERE key = ANY(%s)", (list(limits),))
            rows = cur.fetchall()
        wait = 0.0
        for key, ends, hits in rows:
            if int(hits) >= limits[key].count and float(ends) > now:
                wait = max(wait, float(ends) - now)
        return wait

    def hit(self, keys: Sequence[tuple[str, Limit]], now: float) -> None:
        if not keys:
            return
        with self.db.transaction() as cur:
            # One order for every replica, so two hits never deadlock on each other's rows.
            for key, limit in sorted(keys, key=lambda k: k[0]):
                # Every expression sees the row as it was: an ended window restarts at now.
                cur.execute(
                    "INSERT INTO attempt_counters AS c (key, window_started, window_seconds, hits)"
                    " VALUES (%s, %s, %s, 1)"
                    " ON CONFLICT (key) DO UPDATE SET"
                    "  hits = CASE WHEN c.window_started + c.window_seconds <= excluded.window_started"
                    "   THEN 1 ELSE c.hits + 1 END,"
                    "  window_started = CASE WHEN c.window_started + c.window_seconds <= excluded.window_started"
                    "   THEN excluded.window_started ELSE c.window_started END,"
                    "  window_seconds = CASE WHEN c.window_started + c.window_seconds <= excluded.window_started"
                    "   THEN excluded.window_seconds ELSE c.window_seconds END",
                    (key, now, float(limit.window)),
                )
            if random.randrange(SWEEP_EVERY) == 0:
                cur.execute("DELETE FROM attempt_counters WHERE window_started + window_seconds < %s", (now,))

    def clear(self, key: str) -> None:
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM attempt_counters WHERE key = %s", (key,))


def limits_from(s: IdentitySettings) -> AttemptLimits:
    return AttemptLimits(
        login_per_account=Limit(s.identity_login_max_failures_per_account, s.identity_login_window_seconds),
        login_per_address=Limit(s.identity_login_max_failures_per_address, s.identity_login_window_seconds),
        mail_per_account=Limit(s.identity_mail_max_per_account, s.identity_mail_window_seconds),
        mail_per_address=Limit(s.identity_mail_max_per_address, s.identity_mail_window_seconds),
    )
