"""The list of centres (a read model of centres' own events)."""

from __future__ import annotations

from typing import Any

from centres.domain.centre import Centre
from servicekit.database import Cursor, Database
from servicekit.eventstore import event_topics

_C: Any = Centre
DDL = ["""CREATE TABLE IF NOT EXISTS centre_list (centre_id UUID PRIMARY KEY, name TEXT NOT NULL,
          time_zone TEXT NOT NULL)"""]
TOPICS = event_topics(Centre)


def apply(cur: Cursor, e: Any) -> None:
    if isinstance(e, _C.Founded):
        cur.execute("INSERT INTO centre_list (centre_id, name, time_zone) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    (e.originator_id, e.name, e.time_zone))
    elif isinstance(e, _C.Described):
        cur.execute("UPDATE centre_list SET name = %s WHERE centre_id = %s", (e.name, e.originator_id))


class CentreList:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.projection: Any = None

    def all(self, limit: int) -> list[dict[str, Any]]:
        self.projection.catch_up()
        with self.db.transaction() as cur:
            cur.execute("SELECT centre_id, name, time_zone FROM centre_list ORDER BY name, centre_id LIMIT %s",
                        (limit,))
            return [{"centre_id": r[0], "name": r[1], "time_zone": r[2]} for r in cur.fetchall()]
