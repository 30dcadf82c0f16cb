"""The outbox relay and the idempotent subscriber on the real broker protocol (Tansu via
aiokafka) and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from aiokafka import AIOKafkaProducer
from eventsourcing.domain import Aggregate, event

from alphapeer_contracts.identity import EmailVerified
from servicekit import envelope
from servicekit.database import Cursor, Database
from servicekit.eventstore import ServiceApplication
from servicekit.relay import OutboxRelay
from servicekit.settings import ServiceSettings
from servicekit.subscriber import Delivery, IdempotentSubscriber, ProjectionReaction, make_broker
from servicekit.testing import Broker, close_later, consume_all

pytestmark = pytest.mark.integration


class Account(Aggregate):
    @event("Opened")
    def __init__(self) -> None:
        self.pings = 0

    @event("Pinged")
    def ping(self) -> None:
        self.pings += 1


def translate(domain_event: Any) -> EmailVerified | None:
    if isinstance(domain_event, Account.Pinged):
        return EmailVerified(user_id=domain_event.originator_id, occurred_at=domain_event.timestamp)
    return None  # internal fact, not published


class Probe(ServiceApplication):
    name = "probe"


def make(
    pg: str, schema: str, kafka: Broker, name: str = "probe", **kw: Any
) -> tuple[ServiceSettings, Database, Probe]:
    settings = ServiceSettings(service_name=name, database_url=pg, database_schema=schema,
                               kafka_bootstrap_servers=kafka.bootstrap, relay_poll_interval=0.05,
                               kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=500, **kw)
    db = Database(settings)
    app = Probe(env=db.eventsourcing_env())
    close_later(app, db)
    return settings, db, app


def write(app: Probe, accounts: int, pings: int) -> list[UUID]:
    ids = []
    for _ in range(accounts):
        acc = Account()
        for _ in range(pings):
            acc.ping()
        app.save(acc)
        ids.append(acc.id)
    return ids


async def run_relay(relay: OutboxRelay, until: int, timeout: float = 20.0) -> None:
    task = asyncio.create_task(relay.run())
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while relay.status.position < until:
            assert asyncio.get_running_loop().time() < deadline, f"relay stuck: {relay.status}"
            assert not task.done(), task
            await asyncio.sleep(0.05)
    finally:
        await relay.stop()
        await asyncio.wait_for(task, 10)


async def test_relay_publishes_in_commit_order_per_key_and_skips_internal_events(
    postgres_url: str, pg_schema: str, kafka: Broker
) -> None:
    settings, db, app = make(postgres_url, pg_schema, kafka)
    ids = write(app, accounts=6, pings=5)  # 6 Opened (internal) + 30 Pinged
    relay = OutboxRelay(app, db, settings, translate)
    await run_relay(relay, until=app.recorder.max_notification_id() or 0)
    records = await consume_all(kafka.bootstrap, "probe.events", expect=30)
    assert len(records) == 30
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for r in records:
        h = envelope.decode_headers(r.headers)
        assert h["ce_type"] == "alphapeer.identity.EmailVerified.v1" and h["ce_source"] == "/alphapeer/probe"
        by_key[r.key].append(int(h["ce_sequence"]))
    assert set(by_key) == {str(i).encode() for i in ids}
    for seqs in by_key.values():
        assert seqs == sorted(seqs) and len(seqs) == 5
    assert len({envelope.decode_headers(r.headers)["ce_id"] for r in records}) == 30


async def test_relay_resumes_from_recorded_position_without_duplicates(
    postgres_url: str, pg_schema: str, kafka: Broker
) -> None:
    settings, db, app = make(postgres_url, pg_schema, kafka)
    write(app, accounts=2, pings=3)
    await run_relay(OutboxRelay(app, db, settings, translate), until=app.recorder.max_notification_id() or 0)
    write(app, accounts=2, pings=3)
    await run_relay(OutboxRelay(app, db, settings, translate), until=app.recorder.max_notification_id() or 0)
    records = await consume_all(kafka.bootstrap, "probe.events", expect=12)
    assert len(records) == 12


async def test_only_one_relay_is_active_per_service(postgres_url: str, pg_schema: str, kafka: Broker) -> None:
    settings, db, app = make(postgres_url, pg_schema, kafka)
    first, second = OutboxRelay(app, db, settings, translate), OutboxRelay(app, db, settings, translate)
    t1 = asyncio.create_task(first.run())
    await asyncio.sleep(1.0)
    t2 = asyncio.create_task(second.run())
    await asyncio.sleep(1.0)
    assert first.status.active and not second.status.active
    await first.stop()
    await asyncio.wait_for(t1, 10)
    write(app, accounts=1, pings=2)
    deadline = asyncio.get_running_loop().time() + 15
    while second.status.position < (app.recorder.max_notification_id() or 0):
        assert asyncio.get_running_loop().time() < deadline, second.status
        await asyncio.sleep(0.1)
    assert second.status.active
    await second.stop()
    await asyncio.wait_for(t2, 10)


async def test_relay_republishes_history_when_the_broker_restarts_empty(
    postgres_url: str, pg_schema: str, kafka: Broker
) -> None:
    settings, db, app = make(postgres_url, pg_schema, kafka)
    write(app, accounts=3, pings=2)
    relay = OutboxRelay(app, db, settings, translate)
    task = asyncio.create_task(relay.run())
    try:
        while relay.status.position < (app.recorder.max_notification_id() or 0):
            await asyncio.sleep(0.05)
        kafka.restart()
        await asyncio.sleep(0.5)
        write(app, accounts=1, pings=2)  # new work after the restart
        records = await consume_all(kafka.bootstrap, "probe.events", expect=8, timeout=30)
    finally:
        await relay.stop()
        await asyncio.wait_for(task, 15)
    seqs = sorted(int(envelope.decode_headers(r.headers)["ce_sequence"]) for r in records)
    assert len(set(seqs)) == 8, seqs  # the whole history is on the new broker
    assert relay.status.replays >= 1


def counting_projection(db: Database) -> ProjectionReaction:
    db.execute_script(["CREATE TABLE IF NOT EXISTS pings (user_id TEXT PRIMARY KEY, n BIGINT NOT NULL)"])

    def apply(cur: Cursor, ev: Any, delivery: Delivery) -> None:
        if getattr(ev, "user_id", None) == UUID(int=0):
            raise ValueError("poison pill")  # a bug in the reaction for this one event
        cur.execute("INSERT INTO pings (user_id, n) VALUES (%s, 1) ON CONFLICT (user_id) DO UPDATE SET n = pings.n + 1",
                    (str(ev.user_id),))

    return ProjectionReaction(db, apply)


def pings(db: Database) -> dict[str, int]:
    with db.transaction() as cur:
        cur.execute("SELECT user_id, n FROM pings")
        return {r[0]: int(r[1]) for r in cur.fetchall()}


async def produce(kafka: Broker, topic: str, messages: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    await producer.start()
    try:
        for key, value, headers in messages:
            await producer.send_and_wait(topic, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


def message(user: UUID, seq: int) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    ev = EmailVerified(user_id=user, occurred_at=datetime.now(UTC))
    return envelope.wrap(ev, source="/alphapeer/identity", sequence=seq, ce_id=f"id-{seq}")


async def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_subscriber_applies_a_redelivered_event_once_and_dead_letters_poison(
    postgres_url: str, pg_schema: str, kafka: Broker, tmp_path: Path
) -> None:
    settings, db, _ = make(postgres_url, pg_schema, kafka, name="consumer")
    reaction = counting_projection(db)
    alice, bob = UUID(int=1), UUID(int=2)
    await produce(kafka, "identity.events", [
        message(alice, 1),
        message(alice, 1),            # the same event delivered twice
        message(UUID(int=0), 2),      # poison: the reaction raises every time
        (b"k", b"not json", [("ce_specversion", b"1.0")]),  # not a readable CloudEvent
        message(bob, 3),
        message(alice, 4),
    ])
    broker = make_broker(settings)
    sub = IdempotentSubscriber(broker, settings, topics=["identity.events"], reaction=reaction)
    await broker.start()
    try:
        await wait_for(lambda: sub.stats.applied + sub.stats.duplicates + sub.stats.dead_lettered >= 6)
    finally:
        await broker.stop()
    assert pings(db) == {str(alice): 2, str(bob): 1}
    assert sub.stats.duplicates == 1 and sub.stats.dead_lettered == 2
    dlq = await consume_all(kafka.bootstrap, "consumer.dlq", expect=2)
    errors = sorted(envelope.decode_headers(r.headers)["dlq_error"] for r in dlq)
    assert any("poison pill" in e for e in errors) and any("ce_id" in e for e in errors)

    # A whole replay of the stream (what a republishing relay does) changes nothing.
    broker2 = make_broker(settings)
    sub2 = IdempotentSubscriber(broker2, settings, topics=["identity.events"], reaction=reaction,
                                group_suffix="replay")
    await broker2.start()
    try:
        await wait_for(lambda: sub2.stats.duplicates + sub2.stats.dead_lettered >= 6)
    finally:
        await broker2.stop()
    assert pings(db) == {str(alice): 2, str(bob): 1}


async def test_an_empty_poll_never_sleeps_and_records_end_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """FastStream's batch subscriber sleeps its batch timeout after every empty poll: a
    record arriving meanwhile waited for the sleep and the fetcher's next round (a saga hop
    cost twice the fetch wait). The kit's subscriber polls aiokafka, which returns as soon as
    it holds records, and goes straight back to polling when it got none."""
    import anyio

    from servicekit.subscriber import PROMPT_POLL_MS, PromptBatchSubscriber

    settings = ServiceSettings(service_name="probe", kafka_bootstrap_servers="127.0.0.1:1")
    sub = IdempotentSubscriber(make_broker(settings), settings, topics=["identity.events"],
                               reaction=lambda event, delivery: True)
    assert isinstance(sub.endpoint, PromptBatchSubscriber)

    async def no_sleep(*_: Any) -> None:
        raise AssertionError("slept after a poll")

    monkeypatch.setattr(anyio, "sleep", no_sleep)
    polls: list[tuple[int, int | None]] = []
    answers: list[dict[str, list[str]]] = [{}, {"a": ["r1", "r2"], "b": ["r3"]}]

    class Consumer:
        async def getmany(self, *, timeout_ms: int, max_records: int | None) -> dict[str, list[str]]:
            polls.append((timeout_ms, max_records))
            return answers.pop(0)

    assert await sub.endpoint.get_msg(Consumer()) == ()
    assert await sub.endpoint.get_msg(Consumer()) == ("r1", "r2", "r3")
    assert polls == [(PROMPT_POLL_MS, settings.subscriber_batch_size or None)] * 2
