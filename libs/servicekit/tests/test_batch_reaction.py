"""Batched reactions (``subscriber.BatchReaction`` on ``eventstore.UnitOfWork``), on PostgreSQL:

- a batch is one transaction: one tracking row per upstream event, each new event its own
  notification in the order decided, the service's own rows beside them; a failure writes
  nothing at all;
- a redelivered event (again in a later batch, or twice in one) is not decided again;
- writers are serialized from the unit's first statement, so concurrent batches that read
  and then write the same hot row never lose an update, and a plain save waits for them;
- each decision stays in the trace of the request that caused it."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid5

import pytest
from eventsourcing.domain import Aggregate, DomainEvent, event

from alphapeer_contracts import identity as idc
from servicekit import envelope
from servicekit.database import Database
from servicekit.eventstore import ServiceApplication, UnitOfWork
from servicekit.settings import ServiceSettings
from servicekit.subscriber import BatchReaction, Delivery, each
from servicekit.testing import Feed, close_later

NS = UUID("5b0f9a0e-5c43-4f4e-9d07-8a3c2f3b1a11")


class Noted(DomainEvent):
    """A fact of its own (an aggregate of one event), its id derived from its cause."""

    user_id: UUID


class Counter(Aggregate):
    @event("Opened")
    def __init__(self, id: UUID) -> None:
        self.n = 0

    @event("Bumped")
    def bump(self) -> None:
        self.n += 1


class Probe(ServiceApplication):
    name = "probe"


HOT_DDL = ["CREATE TABLE IF NOT EXISTS hot (id INTEGER PRIMARY KEY, total BIGINT NOT NULL)",
           "INSERT INTO hot (id, total) VALUES (1, 0) ON CONFLICT DO NOTHING"]


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def app(postgres_url: str, pg_schema: str) -> Probe:
    db = Database(ServiceSettings(database_url=postgres_url, database_schema=pg_schema, service_name="probe",
                                  kafka_bootstrap_servers="127.0.0.1:1"))
    db.execute_script(HOT_DDL)
    probe = Probe(env=db.eventsourcing_env())
    close_later(probe, db)
    return probe


def verified(user: UUID | None = None) -> idc.EmailVerified:
    return idc.EmailVerified(user_id=user or uuid.uuid4(), occurred_at=now())


def delivery(event: Any, position: int, traceparent: str | None = None) -> Delivery:
    env = envelope.Envelope(id=str(uuid.uuid4()), type=event.ce_type(), source="/alphapeer/identity",
                            subject=event.key(), time=event.occurred_at, sequence=position, traceparent=traceparent)
    return Delivery("identity.events", position, env)


def note_each(unit: UnitOfWork, items: list[Any]) -> None:
    """A fact per verified user, once (its id derived from the user), and the hot row bumped."""
    ids = {e.user_id: uuid5(NS, str(e.user_id)) for e, _ in items}
    known = unit.recorded(ids.values())
    unit.cursor.execute("SELECT total FROM hot WHERE id = 1")
    total = unit.cursor.fetchone()[0]
    for e, _ in each(items):
        if ids[e.user_id] in known:
            continue
        known.add(ids[e.user_id])
        unit.save(Noted(originator_id=ids[e.user_id], originator_version=1, timestamp=now(), user_id=e.user_id))
        total += 1
    unit.cursor.execute("UPDATE hot SET total = %s WHERE id = 1", (total,))


def hot_total(app: Probe) -> int:
    with app.unit_of_work() as unit:
        unit.cursor.execute("SELECT total FROM hot WHERE id = 1")
        return int(unit.cursor.fetchone()[0])


def notes(app: Probe) -> list[tuple[int, UUID]]:
    return [(n.id, app.mapper.to_domain_event(n).user_id)
            for n in app.recorder.select_notifications(start=1, limit=1000)]


def test_a_batch_is_one_transaction_with_a_tracking_row_and_a_notification_each(app: Probe) -> None:
    reaction = BatchReaction(app, note_each)
    events = [verified() for _ in range(5)]
    assert reaction.apply_many([(e, delivery(e, i + 1)) for i, e in enumerate(events)]) == [True] * 5
    assert [user for _, user in notes(app)] == [e.user_id for e in events]  # each its own, in order
    assert all(app.has_processed("identity.events", i) for i in range(1, 6))
    assert hot_total(app) == 5

    # Redelivered (with one new event), and one event twice in the same batch.
    late = verified()
    again = [(e, delivery(e, i + 1)) for i, e in enumerate(events)] + [(late, delivery(late, 6))] * 2
    assert reaction.apply_many(again) == [False] * 5 + [True, False]
    assert len(notes(app)) == 6 and hot_total(app) == 6
    assert (reaction.stats.applied, reaction.stats.duplicates) == (6, 6)

    # The same fact caused by another upstream event is recorded once (its id is derived).
    assert Feed(reaction)(verified(events[0].user_id), position=99) is True  # processed: a new position
    assert len(notes(app)) == 6 and hot_total(app) == 6


def test_a_failed_batch_writes_nothing(app: Probe) -> None:
    def fail_on_the_third(unit: UnitOfWork, items: list[Any]) -> None:
        note_each(unit, items[:2])
        raise ValueError("poison")

    events = [verified() for _ in range(3)]
    with pytest.raises(ValueError):
        BatchReaction(app, fail_on_the_third).apply_many([(e, delivery(e, i + 1)) for i, e in enumerate(events)])
    assert notes(app) == [] and hot_total(app) == 0
    assert not any(app.has_processed("identity.events", i) for i in range(1, 4))


def test_concurrent_batches_on_one_hot_row_lose_no_update(app: Probe) -> None:
    """Each batch reads the hot row, decides in memory, writes it once: serialized by the
    unit's first statement, no read-modify-write is lost (without it, most would be)."""
    reaction = BatchReaction(app, note_each)
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for b in range(5):
                batch = [verified() for _ in range(10)]
                reaction.apply_many([(e, delivery(e, 1000 * k + 10 * b + i)) for i, e in enumerate(batch)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert hot_total(app) == 8 * 5 * 10
    ids = [n for n, _ in notes(app)]
    assert len(ids) == 400 and ids == sorted(ids)


def test_a_plain_save_waits_for_the_unit_and_is_decided_on_its_result(app: Probe) -> None:
    counter = Counter(id=uuid.uuid4())
    app.save(counter)
    inside, release = threading.Event(), threading.Event()

    def long_unit() -> None:
        with app.unit_of_work() as unit:
            mine = app.repository.get(counter.id)
            mine.bump()
            unit.save(mine)
            inside.set()
            release.wait(5)

    t = threading.Thread(target=long_unit)
    t.start()
    assert inside.wait(5)
    saved = threading.Event()

    def request() -> None:
        theirs = app.repository.get(counter.id)  # read before the unit commits: version 1
        theirs.bump()
        try:
            app.save(theirs)
        except Exception:
            fresh = app.repository.get(counter.id)
            fresh.bump()
            app.save(fresh)
        saved.set()

    r = threading.Thread(target=request)
    r.start()
    time.sleep(0.3)
    assert not saved.is_set()  # the save waits for the unit's lock
    release.set()
    t.join()
    r.join()
    assert app.repository.get(counter.id).n == 2


def test_each_decision_keeps_the_trace_of_its_request(app: Probe) -> None:
    parents = [f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01" for _ in range(3)]
    events = [verified() for _ in range(3)]
    BatchReaction(app, note_each).apply_many(
        [(e, delivery(e, i + 1, parents[i])) for i, e in enumerate(events)])
    mapper: Any = app.mapper
    stored = app.recorder.select_notifications(start=1, limit=10)
    traces = [mapper.stored_context(n)["traceparent"].split("-")[1] for n in stored]
    assert traces == [p.split("-")[1] for p in parents]


def test_the_unit_reads_what_is_stored(app: Probe) -> None:
    user = uuid.uuid4()
    fact = uuid5(NS, str(user))
    with app.unit_of_work() as unit:
        assert unit.recorded([fact]) == set()
        unit.save(Noted(originator_id=fact, originator_version=1, timestamp=now(), user_id=user))
        assert unit.recorded([fact, uuid.uuid4()]) == {fact}
    with app.unit_of_work() as unit:
        assert unit.recorded([fact]) == {fact}
        assert [e.user_id for e in unit.stored(fact)] == [user]


def test_an_aggregate_reaction_decides_a_batch_in_one_unit_each_on_the_state_before_it(app: Probe) -> None:
    """``AggregateReaction.apply_many``: the subscriber hands it a whole batch (booking
    confirms a burst of holds in one transaction, not one each). Inside the unit, ``find``
    reads through it: three bumps of one counter in one batch continue from one another
    (no conflict with its own write, no fallback), a duplicate is not decided again, and
    a failing decision writes nothing of the batch."""
    from servicekit.subscriber import AggregateReaction

    counter = Counter(id=uuid.uuid4())
    app.save(counter)
    seen: list[int] = []

    def decide(event: Any, d: Delivery) -> list[Any]:
        if event.user_id == POISON:
            raise ValueError("cannot decide this one")
        found = app.find(Counter, counter.id)
        assert found is not None
        seen.append(found.n)
        found.bump()
        return [found]

    POISON = uuid.uuid4()
    reaction = AggregateReaction(app, decide)
    first = [(verified(), delivery(verified(), p)) for p in (1, 2, 3)]
    assert reaction.apply_many([*first, first[1]]) == [True, True, True, False]
    assert seen == [0, 1, 2]
    stored = app.find(Counter, counter.id)
    assert stored is not None and stored.n == 3 and stored.version == 4

    poisoned = [(verified(), delivery(verified(), 4)), (verified(POISON), delivery(verified(), 5))]
    with pytest.raises(ValueError):
        reaction.apply_many(poisoned)
    stored = app.find(Counter, counter.id)
    assert stored is not None and stored.n == 3
    assert reaction.apply_many(poisoned[:1]) == [True]  # position 4 was not tracked by the failed batch
    assert reaction.apply_many(first) == [False, False, False]


def test_find_many_reads_several_aggregates_as_find_would(app: Probe) -> None:
    """One query for the aggregates a command needs: each at its latest version, absent
    ids left out; inside a unit of work, what the unit saved."""
    a, b = Counter(id=uuid.uuid4()), Counter(id=uuid.uuid4())
    a.bump()
    a.bump()
    app.save(a, b)
    b.bump()
    app.save(b)
    missing = uuid.uuid4()
    found = app.find_many([a.id, missing, b.id, a.id])
    assert set(found) == {a.id, b.id}
    assert (found[a.id].n, found[a.id].version, found[b.id].n, found[b.id].version) == (2, 3, 1, 2)
    with app.unit_of_work() as unit:
        inside = app.find_many([a.id])[a.id]
        inside.bump()
        unit.save(inside)
        assert app.find_many([a.id, b.id])[a.id].n == 3
    assert app.find(Counter, a.id).n == 3  # type: ignore[union-attr]
