"""The kit's guarantees under races and faults, each on PostgreSQL and (where a broker is
involved) the real broker protocol:

- a reaction beaten by a concurrent writer of the same aggregate is decided again, never lost;
- a translator that raises stops the topic loudly (error log once, ``/readyz`` names the
  event), and publishing resumes in order once it is fixed;
- a message consumed in a batch stays in the trace of the request that caused it;
- suspended and erased accounts, learned from identity's events, are refused."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import RecordConflictError
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from alphapeer_contracts import identity as idc
from servicekit import envelope, telemetry
from servicekit.accounts import AccountBlocks
from servicekit.auth import Principal
from servicekit.database import Cursor, Database
from servicekit.eventstore import ServiceApplication
from servicekit.problems import Problem
from servicekit.relay import OutboxRelay
from servicekit.service import Assembly, Service
from servicekit.settings import ServiceSettings
from servicekit.subscriber import AggregateReaction, Delivery, IdempotentSubscriber, ProjectionReaction, make_broker
from servicekit.testing import Broker, Feed, close_later, consume_all, in_memory_spans


class Tally(Aggregate):
    @event("Opened")
    def __init__(self, id: UUID) -> None:
        self.bumps: list[str] = []

    @event("Bumped")
    def bump(self, by: str) -> None:
        self.bumps.append(by)


class Probe(ServiceApplication):
    name = "probe"


def now() -> datetime:
    return datetime.now(UTC)


def settings_for(postgres_url: str, schema: str, bootstrap: str = "127.0.0.1:1", **kw: Any) -> ServiceSettings:
    kw.setdefault("service_name", "probe")
    return ServiceSettings(database_url=postgres_url, database_schema=schema,
                           kafka_bootstrap_servers=bootstrap, relay_poll_interval=0.05,
                           kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=500, **kw)


def probe_app(postgres_url: str, schema: str) -> Probe:
    db = Database(settings_for(postgres_url, schema))
    app = Probe(env=db.eventsourcing_env())
    close_later(app, db)
    return app


# -- a reaction is never lost to a concurrent writer ---------------------------------------

def test_a_reaction_beaten_by_a_concurrent_writer_is_decided_again(postgres_url: str, pg_schema: str) -> None:
    app = probe_app(postgres_url, pg_schema)
    other = probe_app(postgres_url, pg_schema)  # another process writing the same store
    tally_id = uuid.uuid4()
    app.save(Tally(id=tally_id))
    decisions = []

    def decide(event: Any, delivery: Delivery) -> list[Any]:
        tally = app.repository.get(tally_id)
        tally.bump("reaction")
        decisions.append(len(tally.bumps))
        if len(decisions) == 1:
            # Between this decision's read and its save, a request saves the same aggregate.
            def request() -> None:
                theirs = other.repository.get(tally_id)
                theirs.bump("request")
                other.save(theirs)

            writer = threading.Thread(target=request)
            writer.start()
            writer.join()
        return [tally]

    feed = Feed(AggregateReaction(app, decide))
    verified = idc.EmailVerified(user_id=uuid.uuid4(), occurred_at=now())
    assert feed(verified, position=7) is True
    assert sorted(app.repository.get(tally_id).bumps) == ["reaction", "request"]  # neither write lost
    assert decisions == [1, 2]  # decided again on the fresh state
    assert app.has_processed("identity.events", 7)
    assert feed(verified, position=7) is False  # a redelivery changes nothing
    assert len(app.repository.get(tally_id).bumps) == 2


def test_save_reaction_tells_a_duplicate_from_a_version_conflict(postgres_url: str, pg_schema: str) -> None:
    app = probe_app(postgres_url, pg_schema)
    tally = Tally(id=uuid.uuid4())
    app.save(tally)
    mine, theirs = app.repository.get(tally.id), app.repository.get(tally.id)
    theirs.bump("first")
    assert app.save_reaction("identity.events", 1, theirs) is True
    mine.bump("second")
    with pytest.raises(RecordConflictError):  # not "already processed": nothing was written
        app.save_reaction("identity.events", 2, mine)
    assert not app.has_processed("identity.events", 2)
    assert app.save_reaction("identity.events", 1) is False  # that one is a duplicate


def test_positions_delivered_out_of_order_are_each_applied(postgres_url: str, pg_schema: str) -> None:
    """A topic's partitions interleave: position 11 (one partition) may arrive before 6
    (another). Each is applied once; a later position never makes an earlier one look done."""
    app = probe_app(postgres_url, pg_schema)
    tally = Tally(id=uuid.uuid4())
    app.save(tally)

    def decide(event: Any, delivery: Delivery) -> list[Any]:
        t = app.repository.get(tally.id)
        t.bump(str(delivery.position))
        return [t]

    feed = Feed(AggregateReaction(app, decide))
    verified = idc.EmailVerified(user_id=uuid.uuid4(), occurred_at=now())
    assert [feed(verified, position=p) for p in (11, 6, 9, 6, 11)] == [True, True, True, False, False]
    assert app.repository.get(tally.id).bumps == ["11", "6", "9"]
    assert app.has_processed("identity.events", 6) and not app.has_processed("identity.events", 7)


# -- a translator error is loud, and nothing is skipped ---------------------------------------

def publishable(e: Any) -> idc.EmailVerified | None:
    if isinstance(e, Tally.Bumped):
        if e.by == "poison" and not TRANSLATOR_FIXED.is_set():
            raise KeyError("by")  # a translator bug for this one event
        return idc.EmailVerified(user_id=e.originator_id, occurred_at=e.timestamp)
    return None


TRANSLATOR_FIXED = threading.Event()


async def test_a_translator_error_stalls_the_topic_loudly_until_fixed(
    postgres_url: str, pg_schema: str, kafka: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    TRANSLATOR_FIXED.clear()
    caplog.set_level(logging.WARNING, logger="servicekit.relay")

    def assemble(svc: Assembly[ServiceSettings]) -> None:
        app = svc.event_store(Probe)
        svc.publishes(app, publishable)
        svc.provide(probe=app)

    service = Service("probe", ServiceSettings, assemble, [], description="a probe")
    settings = settings_for(postgres_url, pg_schema, kafka.bootstrap, subscribers_enabled=False)
    with TestClient(service.build(settings)) as client:
        app: Probe = client.app.state.probe  # type: ignore[attr-defined]
        tally = Tally(id=uuid.uuid4())
        for by in ("a", "b", "poison", "c"):
            tally.bump(by)
        app.save(tally)
        poison_id = 4  # Opened, a, b, poison
        deadline = asyncio.get_running_loop().time() + 20
        while (ready := client.get("/readyz")).status_code == 200 or "notification" not in ready.text:
            assert asyncio.get_running_loop().time() < deadline, ready.text
            await asyncio.sleep(0.1)
        assert ready.status_code == 503
        assert f"notification {poison_id}" in ready.json()["checks"]["broker"]
        assert "KeyError" in ready.json()["checks"]["broker"]
        await asyncio.sleep(2.0)  # several retries later...
        stalled = [r for r in caplog.records if "stalled" in r.getMessage()]
        assert len(stalled) == 1 and stalled[0].levelno == logging.ERROR  # ...said once, at error level
        assert not [r for r in caplog.records if r.levelno == logging.WARNING and "retrying" in r.getMessage()]
        before = await consume_all(kafka.bootstrap, "probe.events", expect=3, timeout=5)
        assert len(before) == 2  # a and b; nothing after the stall

        TRANSLATOR_FIXED.set()  # the fixed translator is deployed
        deadline = asyncio.get_running_loop().time() + 40
        while client.get("/readyz").status_code != 200:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.2)
    after = await consume_all(kafka.bootstrap, "probe.events", expect=4)
    seqs = [int(envelope.decode_headers(r.headers)["ce_sequence"]) for r in after]
    assert seqs == [2, 3, 4, 5]  # in order, none skipped, none twice


# -- a batch keeps every event in its request's trace ------------------------------------------

@pytest.fixture
def spans() -> InMemorySpanExporter:
    return in_memory_spans()  # type: ignore[no-any-return]


async def test_events_consumed_in_a_batch_stay_in_the_trace_of_their_request(
    postgres_url: str, pg_schema: str, kafka: Broker, spans: InMemorySpanExporter
) -> None:
    settings = settings_for(postgres_url, pg_schema, kafka.bootstrap)
    db = Database(settings)
    app = Probe(env=db.eventsourcing_env())
    close_later(app, db)
    tally = Tally(id=uuid.uuid4())
    with telemetry.tracer("test").start_as_current_span("POST /tallies", kind=trace.SpanKind.SERVER) as request:
        for by in "abc":
            tally.bump(by)  # one aggregate, one partition: the three arrive in one batch
        app.save(tally)
    trace_id = request.get_span_context().trace_id
    relay = OutboxRelay(app, db, settings, publishable)
    task = asyncio.create_task(relay.run())
    try:
        while relay.status.position < (app.recorder.max_notification_id() or 0):
            await asyncio.sleep(0.05)
    finally:
        await relay.stop()
        await asyncio.wait_for(task, 10)

    consumer_settings = settings_for(postgres_url, pg_schema + "_c", kafka.bootstrap, service_name="consumer")
    consumer_db = Database(consumer_settings)
    close_later(consumer_db)
    consumer_db.execute_script(["CREATE TABLE IF NOT EXISTS seen (n BIGINT)"])

    def apply(cur: Cursor, ev: Any, delivery: Delivery) -> None:
        cur.execute("INSERT INTO seen (n) VALUES (%s)", (delivery.position,))

    broker = make_broker(consumer_settings)
    sub = IdempotentSubscriber(broker, consumer_settings, topics=["probe.events"],
                               reaction=ProjectionReaction(consumer_db, apply))
    await broker.start()
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while sub.stats.applied < 3:
            assert asyncio.get_running_loop().time() < deadline, sub.stats
            await asyncio.sleep(0.1)
    finally:
        await broker.stop()
    finished = spans.get_finished_spans()
    batch = [s for s in finished if s.name == "probe.events process batch"]
    assert batch, [s.name for s in finished]  # the batch path was taken
    processed = [s for s in finished if s.name == "probe.events process" and s.kind == trace.SpanKind.CONSUMER]
    assert len(processed) == 3
    assert {s.context.trace_id for s in processed} == {trace_id}  # one request, one trace
    published = {s.context.span_id for s in finished if s.name == "probe.events publish"}
    assert {s.parent.span_id for s in processed if s.parent} == published
    assert {link.context.trace_id for s in batch for link in s.links} == {trace_id}


# -- suspended and erased accounts ---------------------------------------------------------

def test_accounts_learned_from_identity_events_are_refused(postgres_url: str, pg_schema: str) -> None:
    db = Database(settings_for(postgres_url, pg_schema))
    close_later(db)
    blocks = AccountBlocks(db, refresh_interval=0)
    feed = Feed(blocks.reaction)
    user, other = uuid.uuid4(), uuid.uuid4()
    who = Principal(user_id=user, roles=frozenset({"tutor"}))
    blocks.check(who)  # unknown: active
    feed(idc.UserSuspended(user_id=user, suspended_by=other, reason_code="conduct", occurred_at=now()))
    with pytest.raises(Problem) as refused:
        blocks.check(who)
    assert refused.value.status == 403
    feed(idc.UserReinstated(user_id=user, reinstated_by=other, occurred_at=now()))
    blocks.check(who)
    feed(idc.UserErased(user_id=user, occurred_at=now()))
    with pytest.raises(Problem) as gone:
        blocks.check(who)
    assert gone.value.status == 401
    # Erasure is final, whatever arrives after it; another replica reading the table agrees.
    feed(idc.UserReinstated(user_id=user, reinstated_by=other, occurred_at=now()))
    replica = AccountBlocks(db, refresh_interval=0)
    assert replica.state_of(user) == blocks.state_of(user) == "erased"
    blocks.check(Principal(user_id=other, roles=frozenset()))



def test_an_erasure_purges_what_the_kit_keeps_of_the_user(postgres_url: str, pg_schema: str) -> None:
    """Answers kept for the user's Idempotency-Keys may quote their name; keys in the ring
    open what other services sent about them: both go with their UserErased."""
    from servicekit.idempotency import IdempotencyStore
    from servicekit.shredding import KeyRing, KeyWrap

    db = Database(settings_for(postgres_url, pg_schema))
    close_later(db)
    blocks = AccountBlocks(db, refresh_interval=0, keyring=True)
    store = IdempotencyStore(db)
    wrap = KeyWrap("s")
    ring = KeyRing(db, db.settings, ["identity"], wrap, group="g")
    user, other = uuid.uuid4(), uuid.uuid4()
    for who in (user, other):
        store.begin(f"user:{who}", "k1", "fp")
        store.finish(f"user:{who}", "k1", 200, {}, b'{"display_name": "Ada Lovelace"}')
        ring.apply([("identity", str(who), wrap.wrap("identity", str(who), b"k" * 32))])
    Feed(blocks.reaction)(idc.UserErased(user_id=user, occurred_at=now()))
    assert store.begin(f"user:{user}", "k1", "fp")[0] == "new"  # the kept answer is gone
    assert store.begin(f"user:{other}", "k1", "fp")[0] == "replay"
    ring._cache.clear()
    assert ring.key("identity", user) is None and ring.key("identity", other) is not None
