"""Deadlines follow the service's own events and fire when due: once per due row across
replicas, again after a failure, never for a deadline that was cleared, and set again by
an event written while one fires."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate, event
from fastapi.testclient import TestClient

from servicekit.database import Database
from servicekit.deadlines import Deadline, Deadlines
from servicekit.eventstore import ServiceApplication
from servicekit.service import Assembly, Service
from servicekit.settings import ServiceSettings
from servicekit.testing import close_later, wait_until

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class Request(Aggregate):
    """A request the other side must answer by ``respond_by``, or it expires."""

    @event("Made")
    def __init__(self, id: UUID, respond_by: datetime) -> None:
        self.respond_by = respond_by
        self.state = "waiting"

    @event("Answered")
    def answer(self) -> None:
        self.state = "answered"

    @event("Expired")
    def expire(self) -> None:
        self.state = "expired"

    @event("Extended")
    def extend(self, respond_by: datetime) -> None:
        self.respond_by = respond_by


class Requests(ServiceApplication):
    name = "requests"


def schedule(e: Any) -> list[Deadline]:
    key = f"respond:{e.originator_id}"
    if isinstance(e, Request.Made | Request.Extended):
        return [Deadline(key, e.respond_by)]
    if isinstance(e, Request.Answered | Request.Expired):
        return [Deadline(key, None)]
    return []


class Firing:
    """The service's ``fire``: decides from current state, as a real one must."""

    def __init__(self, app: Requests, fail_times: int = 0, hold: threading.Event | None = None) -> None:
        self.app = app
        self.calls: list[str] = []
        self.fail_times = fail_times
        self.hold = hold

    def __call__(self, key: str, due_at: datetime) -> None:
        self.calls.append(key)
        if self.hold is not None:
            self.hold.wait(5)
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("provider away")
        request = self.app.load(Request, UUID(key.split(":", 1)[1]))
        if request.state == "waiting" and request.respond_by <= due_at:
            request.expire()
            self.app.save(request)


def settings_for(url: str, schema: str) -> ServiceSettings:
    return ServiceSettings(service_name="requests", database_url=url, database_schema=schema,
                           kafka_bootstrap_servers="127.0.0.1:1", relay_enabled=False,
                           subscribers_enabled=False, deadline_poll_seconds=0.05)


def store(url: str, schema: str) -> tuple[Requests, Database]:
    db = Database(settings_for(url, schema))
    app = Requests(env=db.eventsourcing_env())
    close_later(app, db)
    return app, db


def deadlines_for(app: Requests, db: Database, fire: Any) -> Deadlines:
    return Deadlines(db, app, "main", schedule, fire)


def make(app: Requests, respond_by: datetime) -> Request:
    request = Request(id=uuid.uuid4(), respond_by=respond_by)
    app.save(request)
    return request


def test_a_deadline_fires_when_due_and_not_before(postgres_url: str, pg_schema: str) -> None:
    app, db = store(postgres_url, pg_schema)
    firing = Firing(app)
    deadlines = deadlines_for(app, db, firing)
    request = make(app, T0 + timedelta(hours=1))
    deadlines.catch_up()
    assert deadlines.pending() == [(f"respond:{request.id}", T0 + timedelta(hours=1))]

    assert deadlines.fire_due(T0 + timedelta(minutes=59)) == 0
    assert app.load(Request, request.id).state == "waiting"
    assert deadlines.fire_due(T0 + timedelta(hours=1)) == 1
    assert app.load(Request, request.id).state == "expired"
    deadlines.catch_up()  # the Expired event clears what firing already removed
    assert deadlines.pending() == [] and deadlines.fire_due(T0 + timedelta(days=1)) == 0


def test_a_cleared_deadline_never_fires_and_a_moved_one_fires_at_its_new_time(
        postgres_url: str, pg_schema: str) -> None:
    app, db = store(postgres_url, pg_schema)
    firing = Firing(app)
    deadlines = deadlines_for(app, db, firing)
    answered, extended = make(app, T0), make(app, T0)
    answered.answer()
    extended.extend(T0 + timedelta(hours=2))
    app.save(answered, extended)
    deadlines.catch_up()

    assert deadlines.fire_due(T0 + timedelta(hours=1)) == 0 and firing.calls == []
    assert deadlines.fire_due(T0 + timedelta(hours=2)) == 1
    assert app.load(Request, answered.id).state == "answered"
    assert app.load(Request, extended.id).state == "expired"


def test_a_failing_fire_is_tried_again_later_and_nothing_is_lost(postgres_url: str, pg_schema: str) -> None:
    app, db = store(postgres_url, pg_schema)
    firing = Firing(app, fail_times=2)
    deadlines = deadlines_for(app, db, firing)
    request = make(app, T0)
    deadlines.catch_up()

    assert deadlines.fire_due(T0) == 0  # raised: kept, backed off by 1 s
    assert deadlines.fire_due(T0) == 0 and len(firing.calls) == 1  # not again before the backoff
    assert deadlines.fire_due(T0 + timedelta(seconds=1)) == 0  # raised again: 2 s now
    assert deadlines.fire_due(T0 + timedelta(seconds=2)) == 0 and len(firing.calls) == 2
    assert deadlines.fire_due(T0 + timedelta(seconds=3)) == 1
    assert app.load(Request, request.id).state == "expired" and deadlines.pending() == []
    assert deadlines.stats.failures == 2 and deadlines.stats.fired == 1


def test_two_replicas_fire_each_due_deadline_once(postgres_url: str, pg_schema: str) -> None:
    app_a, db_a = store(postgres_url, pg_schema)
    app_b, db_b = store(postgres_url, pg_schema)
    fire_a, fire_b = Firing(app_a), Firing(app_b)
    a, b = deadlines_for(app_a, db_a, fire_a), deadlines_for(app_b, db_b, fire_b)
    requests = [make(app_a, T0 + timedelta(seconds=i)) for i in range(40)]
    a.catch_up()
    b.catch_up()

    counts: list[int] = []
    threads = [threading.Thread(target=lambda d=d: counts.append(d.fire_due(T0 + timedelta(minutes=1))))
               for d in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 40
    assert sorted(fire_a.calls + fire_b.calls) == sorted(f"respond:{r.id}" for r in requests)
    assert all(app_a.load(Request, r.id).state == "expired" for r in requests)


def test_a_deadline_set_again_while_it_fires_stands(postgres_url: str, pg_schema: str) -> None:
    app, db = store(postgres_url, pg_schema)
    hold = threading.Event()
    firing = Firing(app, hold=hold)
    deadlines = deadlines_for(app, db, firing)
    request = make(app, T0)
    deadlines.catch_up()

    worker = threading.Thread(target=deadlines.fire_due, args=(T0,))
    worker.start()
    wait_until(lambda: firing.calls, message="fire to start")
    # Meanwhile the request is extended: its new deadline waits for the firing row's lock.
    fresh = app.load(Request, request.id)
    fresh.extend(T0 + timedelta(hours=3))
    app.save(fresh)
    catching_up = threading.Thread(target=deadlines.catch_up)
    catching_up.start()
    time.sleep(0.2)
    hold.set()
    worker.join()
    catching_up.join()

    assert app.load(Request, request.id).state == "waiting"  # fire saw the extension: nothing to do
    assert deadlines.pending() == [(f"respond:{request.id}", T0 + timedelta(hours=3))]


def test_deadlines_must_carry_a_time_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        Deadline("k", datetime(2026, 1, 1))


def test_the_assembled_service_fires_deadlines_in_the_background(postgres_url: str, pg_schema: str) -> None:
    fired: list[str] = []

    def assemble(svc: Assembly[ServiceSettings]) -> None:
        app = svc.event_store(Requests)
        firing = Firing(app)

        def fire(key: str, due_at: datetime) -> None:
            firing(key, due_at)
            fired.append(key)

        svc.deadlines(app, schedule, fire)
        svc.provide(requests=app)

    service = Service("requests", ServiceSettings, assemble, [], description="deadlines")
    gateway = service.build(settings_for(postgres_url, pg_schema))
    with TestClient(gateway):
        app: Requests = gateway.state.requests
        soon = make(app, datetime.now(UTC) + timedelta(milliseconds=300))
        later = make(app, datetime.now(UTC) + timedelta(hours=1))
        wait_until(lambda: app.load(Request, soon.id).state == "expired", timeout=10, message="the deadline to fire")
        assert fired == [f"respond:{soon.id}"]
        assert app.load(Request, later.id).state == "waiting"
        metrics = TestClient(gateway).get("/metrics").text
        assert 'projection="deadlines:main"' in metrics
        assert 'alphapeer_deadlines_overdue{deadlines="main"} 0' in metrics
        assert 'alphapeer_deadlines_fired_total{deadlines="main",outcome="fired"} 1' in metrics
