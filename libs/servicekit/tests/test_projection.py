"""A local projection writes its rows and its position in one transaction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, event

from servicekit.database import Cursor, Database
from servicekit.eventstore import ServiceApplication
from servicekit.projection import LocalProjection
from servicekit.settings import ServiceSettings
from servicekit.testing import close_later


class Note(Aggregate):
    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text


class Notes(ServiceApplication):
    name = "notes"


@pytest.fixture
def db(postgres_url: str, tmp_path: Path, pg_schema: str) -> Database:
    db = Database(ServiceSettings(service_name="notes", data_dir=tmp_path, database_url=postgres_url,
                                  database_schema=pg_schema))
    close_later(db)
    return db


def test_rows_and_position_commit_together_and_nothing_is_applied_twice(db: Database) -> None:
    app = Notes(env=db.eventsourcing_env())
    close_later(app)
    fail_on: set[str] = set()

    def apply(cur: Cursor, ev: Any) -> None:
        if ev.text in fail_on:
            raise RuntimeError("crash mid-batch")
        cur.execute("INSERT INTO notes_view (text) VALUES (%s)", (ev.text,))

    view = LocalProjection(app, db, "notes_view", ["CREATE TABLE IF NOT EXISTS notes_view (text TEXT)"], apply)
    app.save(Note("a"), Note("b"))
    assert view.catch_up() == 2
    app.save(Note("c"), Note("boom"), Note("d"))
    fail_on.add("boom")
    with pytest.raises(RuntimeError):
        view.catch_up()
    fail_on.clear()
    assert view.catch_up() == 3 and view.catch_up() == 0
    # A second instance (another replica, or after a restart) resumes from the position.
    again = LocalProjection(app, db, "notes_view", [], apply)
    assert again.catch_up() == 0
    with db.transaction() as cur:
        cur.execute("SELECT text FROM notes_view ORDER BY text")
        assert [r[0] for r in cur.fetchall()] == ["a", "b", "boom", "c", "d"]
    view.wait_for(app.recorder.max_notification_id() or 0)
    assert view.position == app.recorder.max_notification_id()
