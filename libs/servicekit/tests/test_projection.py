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


class Tag(Aggregate):
    @event("Tagged")
    def __init__(self, text: str) -> None:
        self.text = text


def test_a_projection_of_some_topics_reads_only_them_and_moves_past_the_rest(db: Database) -> None:
    """A view of a few kinds of event (booking's dispute queue) filters the log by topic:
    it decodes nothing else, and its position moves past what it scanned, so the rows it
    does not want are not scanned again at every catch-up."""
    from servicekit.eventstore import event_topics

    app = Notes(env=db.eventsourcing_env())
    close_later(app)
    seen: list[str] = []
    view = LocalProjection(app, db, "tags_only", [], lambda cur, ev: seen.append(ev.text),
                           topics=event_topics(Tag))
    assert f"{__name__}:Tag.Tagged" in event_topics(Tag) and not any("Note" in t for t in event_topics(Tag))
    app.save(Note("a"), Tag("x"), Note("b"), Note("c"))
    assert view.catch_up() == 1 and seen == ["x"]
    assert view.position == app.recorder.max_notification_id() == 4  # past the notes after the tag
    app.save(Note("d"))
    assert view.catch_up() == 0 and view.position == 5
    app.save(Tag("y"))
    assert view.catch_up() == 1 and seen == ["x", "y"]
