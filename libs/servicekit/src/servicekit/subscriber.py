"""The idempotent subscriber: FastStream Kafka consumers whose reaction and tracking row
commit together, so a redelivered or republished event changes nothing.

A reaction is a plain synchronous function run in a worker thread (the event store is
synchronous). It is given the upstream stream's name and the event's position in it (the
producer's notification id from ``ce_sequence``) and must record that position in the same
transaction as its effect — :class:`AggregateReaction`, :class:`ProjectionReaction` and
:class:`BatchReaction` (a whole batch decided in one unit of work of the event store) do
exactly that. Failures:
- infrastructure errors (database or broker away) are retried without end, holding the
  partition, so nothing is skipped;
- anything else is retried a few times and then the message is dead-lettered to
  ``<service>.dlq`` with the error in headers, and the partition moves on (the dead-letter
  topic is created with its configured shape first, :func:`servicekit.kafka.dlq_topic`,
  unless topics are declared to the cluster);
- a message that is not a readable CloudEvent of a known contract is dead-lettered at once;
  an event type this service does not react to is simply acknowledged.

The rules this module enforces, and the tests that guard them, are listed in
``docs/architecture.md`` ("The rules, and where the code enforces them")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, Protocol

from eventsourcing.persistence import InterfaceError, OperationalError, RecordConflictError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.kafka.subscriber.usecase import BatchSubscriber
from opentelemetry import trace
from pydantic import ValidationError

from alphapeer_contracts.base import IntegrationEvent
from alphapeer_contracts.registry import UnknownEventType, parse
from servicekit import context, envelope, kafka, telemetry
from servicekit.database import Cursor, Database
from servicekit.eventstore import ServiceApplication, UnitOfWork
from servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)

TRACKING_DDL = [
    """CREATE TABLE IF NOT EXISTS projection_tracking (
        upstream TEXT NOT NULL,
        position BIGINT NOT NULL,
        PRIMARY KEY (upstream, position)
    )""",
]


@dataclass(frozen=True)
class Delivery:
    """What a reaction knows about the message it reacts to."""

    upstream: str  # the producing stream, e.g. "identity.events"
    position: int  # the producer's notification id
    envelope: envelope.Envelope


@dataclass
class ReactionStats:
    """A reaction's own counts, for ``/metrics``."""

    applied: int = 0
    duplicates: int = 0
    #: Decided again because a concurrent writer saved one of its aggregates first.
    conflicts: int = 0
    #: Attempts that raised (retried, redelivered or dead-lettered by the subscriber).
    failures: int = 0

    def count(self, apply: Callable[[], list[bool]]) -> list[bool]:
        """Runs a batch's ``apply`` (True per event applied, False per one seen before) and
        counts what it did, or that it raised."""
        try:
            applied = apply()
        except Exception:
            self.failures += 1
            raise
        self.applied += sum(applied)
        self.duplicates += len(applied) - sum(applied)
        return applied


Item = tuple[IntegrationEvent, Delivery]


class Reaction(Protocol):
    def __call__(self, event: IntegrationEvent, delivery: Delivery) -> bool:
        """Apply the event; False when it had been applied before."""
        ...


class AggregateReaction:
    """A reaction that changes the service's own aggregates: ``decide(event, delivery)``
    loads what it needs and returns the aggregates it changed; their events are recorded
    with the tracking row in one transaction.

    When another writer (an HTTP command, another reaction) saved one of those aggregates
    between the decision's read and its save, nothing was written: the reaction decides
    again on the fresh state, so the effect is never lost, and is applied once."""

    def __init__(self, app: ServiceApplication, decide: Callable[[IntegrationEvent, Delivery], list[Any]],
                 attempts: int = 10) -> None:
        self.app = app
        self.decide = decide
        self.attempts = attempts
        self.kind = "aggregate"
        self.stats = ReactionStats()

    def __call__(self, event: IntegrationEvent, delivery: Delivery) -> bool:
        try:
            applied = self._react(event, delivery)
        except Exception:
            self.stats.failures += 1
            raise
        if applied:
            self.stats.applied += 1
        else:
            self.stats.duplicates += 1
        return applied

    def apply_many(self, items: Sequence[Item]) -> list[bool]:
        """A batch as a :class:`BatchReaction` decides one: one unit of work, writers
        serialized from its start (so no decision meets a conflict), a tracking row per
        event. Each event is decided in its consumer span on the state the ones before it
        left (``find`` reads through the unit). Any failure writes nothing; the subscriber
        then applies the batch one event at a time."""
        def decide_each(unit: UnitOfWork, todo: list[Item]) -> None:
            for event, delivery in each(todo):
                unit.save(*self.decide(event, delivery))

        batch = BatchReaction(self.app, decide_each)
        batch.stats = self.stats
        return batch.apply_many(items)

    def _react(self, event: IntegrationEvent, delivery: Delivery) -> bool:
        for attempt in range(self.attempts):
            if self.app.has_processed(delivery.upstream, delivery.position):
                return False
            aggregates = self.decide(event, delivery)
            try:
                return self.app.save_reaction(delivery.upstream, delivery.position, *aggregates)
            except RecordConflictError:
                if attempt == self.attempts - 1:
                    raise  # the subscriber retries, then dead-letters: never acknowledged as done
                self.stats.conflicts += 1
                time.sleep(random.uniform(0, min(0.1, 0.005 * 2**attempt)))
        raise AssertionError("unreachable")


class ProjectionReaction:
    """A reaction that writes read-model rows: ``apply(cursor, event, delivery)`` runs in
    the same transaction as the tracking row. ``name`` keeps the tracking of several
    projections of one upstream in one schema apart (each applies every event once)."""

    def __init__(self, db: Database, apply: Callable[[Cursor, IntegrationEvent, Delivery], None],
                 name: str = "") -> None:
        self.db = db
        self.apply = apply
        self.name = name
        self.kind = "projection"
        self.stats = ReactionStats()
        db.execute_script(TRACKING_DDL)

    def __call__(self, event: IntegrationEvent, delivery: Delivery) -> bool:
        return self.apply_many([(event, delivery)])[0]

    def apply_many(self, items: list[tuple[IntegrationEvent, Delivery]]) -> list[bool]:
        """Several events in one transaction, each with its tracking row; an event already
        applied (tracked) changes nothing. All or nothing. Each event is applied in its own
        consumer span, a child of the span that published it, so a batch never breaks a
        trace (the batch's own span links to them all)."""
        return self.stats.count(lambda: self._apply_many(items))

    def _apply_many(self, items: list[tuple[IntegrationEvent, Delivery]]) -> list[bool]:
        applied = []
        with self.db.transaction() as cur:
            for event, delivery in items:
                with consume_span(delivery, "process"):
                    upstream = f"{self.name}:{delivery.upstream}" if self.name else delivery.upstream
                    cur.execute(
                        "INSERT INTO projection_tracking (upstream, position) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                        (upstream, delivery.position),
                    )
                    if cur.rowcount == 0:
                        applied.append(False)
                        continue
                    self.apply(cur, event, delivery)
                    applied.append(True)
        return applied


class BatchReaction:
    """A reaction that decides many upstream events in one unit of work of the service's
    event store (:meth:`servicekit.eventstore.ServiceApplication.unit_of_work`): one
    transaction, writers serialized from its first statement, a tracking row per event,
    each new event its own notification. For work where one aggregate per decision
    would stall: many decisions touching the same hot record (an account every transfer
    credits) are made in memory, in order, and written once per batch.

    ``decide(unit, items)`` is given the events not processed before, in delivery order
    (duplicates — redelivered, republished, or twice in the batch — are left out by their
    tracking rows); it may read everything it needs for the batch at once, then decide
    each event inside its consumer span with :func:`each` (so what it saves stays in the
    trace of the request that caused it), saving events with ``unit.save`` and writing its
    own tables with ``unit.cursor``. It raises to reject the batch: nothing is written, and
    the subscriber falls back to one event at a time (the poison event, alone, is retried
    and dead-lettered). ``name`` keeps the tracking of two batch reactions of one upstream
    in one schema apart."""

    def __init__(self, app: ServiceApplication, decide: Callable[[UnitOfWork, list[Item]], None],
                 name: str = "") -> None:
        self.app = app
        self.decide = decide
        self.name = name
        self.kind = "batch"
        self.stats = ReactionStats()

    def __call__(self, event: IntegrationEvent, delivery: Delivery) -> bool:
        return self.apply_many([(event, delivery)])[0]

    def apply_many(self, items: Sequence[Item]) -> list[bool]:
        """All ``items`` in one transaction; False for each one processed before."""
        return self.stats.count(lambda: self._apply_many(items))

    def _apply_many(self, items: Sequence[Item]) -> list[bool]:
        with self.app.unit_of_work() as unit:
            fresh = unit.track_many([(self._upstream(d), d.position) for _, d in items])
            todo = [item for item, new in zip(items, fresh, strict=True) if new]
            if todo:
                self.decide(unit, todo)
        return fresh

    def _upstream(self, delivery: Delivery) -> str:
        return f"{self.name}:{delivery.upstream}" if self.name else delivery.upstream

    def has_processed(self, delivery: Delivery) -> bool:
        return self.app.has_processed(self._upstream(delivery), delivery.position)


def each(items: Sequence[Item]) -> Iterator[Item]:
    """The items of a batch, each decided inside its own consumer span and work context
    (a child of the span that published it), as if it had been consumed alone."""
    for event, delivery in items:
        with consume_span(delivery, "process"):
            yield event, delivery


_tracer = telemetry.tracer("servicekit.subscriber")


@contextlib.contextmanager
def consume_span(delivery: Delivery, operation: str, **attributes: Any) -> Any:
    """The consumer span for one event: a child of the producer's span (its traceparent
    rode in the envelope), with the work context (correlation, causation) bound, so what
    the reaction stores or logs stays in the trace of the request that caused it."""
    env = delivery.envelope
    parent = telemetry.context_from_traceparent(env.traceparent)
    with (
        _tracer.start_as_current_span(
            f"{delivery.upstream} {operation}", context=parent, kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.system": "kafka", "messaging.message.id": env.id,
                        "messaging.destination.name": delivery.upstream, **attributes},
        ) as span,
        context.bind(context.WorkContext(correlation_id=env.correlation_id or env.id, causation_id=env.id)),
    ):
        yield span


def _is_infrastructure(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | InterfaceError | ConnectionError | TimeoutError):
        return True
    try:
        import psycopg

        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
    except ImportError:  # pragma: no cover
        return False


#: How long one poll of the prompt batch subscriber waits for records before FastStream's
#: loop looks whether it should stop (records end the wait at once).
PROMPT_POLL_MS = 500


class PromptBatchSubscriber(BatchSubscriber):
    """FastStream's batch subscriber, without its sleep after an empty poll.

    FastStream sleeps a whole ``batch_timeout_ms`` after every poll that found nothing, on
    top of the poll: a record arriving during that sleep waits for it, then for the
    fetcher's next round. Measured on the saga, a Kafka hop took ~15 ms with a 10 ms fetch
    wait, where aiokafka alone took ~7 ms. aiokafka's ``getmany`` returns as soon as its
    background fetcher holds records, so waiting in it costs nothing: poll, never sleep."""

    __slots__ = ()

    async def get_msg(self, consumer: Any) -> tuple[Any, ...]:
        assert consumer, "You should setup subscriber at first."
        messages = await consumer.getmany(timeout_ms=PROMPT_POLL_MS, max_records=self.max_records)
        return tuple(chain(*messages.values()))


@dataclass
class SubscriberStats:
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_lettered: int = 0


class IdempotentSubscriber:
    def __init__(
        self,
        broker: KafkaBroker,
        settings: ServiceSettings,
        *,
        topics: list[str],
        reaction: Reaction,
        handles: set[str] | None = None,
        group_suffix: str = "",
    ) -> None:
        self.broker = broker
        self.settings = settings
        self.reaction = reaction
        self.handles = handles  # ce_types to react to; None = every known contract
        self.stats = SubscriberStats()
        self._tracer = telemetry.tracer("servicekit.subscriber")
        group = settings.service_name + (f".{group_suffix}" if group_suffix else "")
        # Batches: offsets are committed once per batch, not once per message (a commit is a
        # broker round trip). A failure rewinds the whole batch; the messages before it are
        # then recognised by their tracking rows and change nothing.
        self.topics = list(topics)
        self.endpoint = broker.subscriber(
            *topics,
            group_id=group,
            batch=True,
            max_records=settings.subscriber_batch_size or None,
            batch_timeout_ms=settings.kafka_fetch_max_wait_ms,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        )
        if type(self.endpoint) is BatchSubscriber:  # same slots: only get_msg differs
            self.endpoint.__class__ = PromptBatchSubscriber
        self.endpoint(self._on_batch)

    @property
    def consumer(self) -> Any:
        """The aiokafka consumer while subscribed (None before the broker starts): its
        assignment, positions and high watermarks give the consumer lag (``/metrics``)."""
        return getattr(self.endpoint, "consumer", None)

    async def _on_batch(self, msg: KafkaMessage) -> None:
        records: Any = msg.raw_message  # a tuple of aiokafka ConsumerRecords, in partition order
        apply_many = getattr(self.reaction, "apply_many", None)
        if apply_many is not None and len(records) > 1:
            # Fast path: the whole batch in one transaction (each event still tracked).
            # Any failure but an infrastructure one falls back to one record at a time, so
            # the poison message, and only it, is retried and dead-lettered.
            parsed = [(record, await self._read(record)) for record in records]
            items = [(event, delivery) for _, read in parsed if read is not None for event, delivery in [read]]
            if items:
                links = [trace.Link(c) for c in (_span_context(d.envelope.traceparent) for _, d in items) if c]
                try:
                    with self._tracer.start_as_current_span(
                        f"{records[0].topic} process batch", kind=trace.SpanKind.CONSUMER, links=links,
                        attributes={"messaging.system": "kafka", "messaging.batch.message_count": len(items)},
                    ):
                        applied = await asyncio.to_thread(apply_many, items)
                except Exception as exc:
                    if _is_infrastructure(exc):
                        await asyncio.sleep(0.5)
                        raise
                    log.warning("batch failed; applying one event at a time", exc_info=True)
                else:
                    self.stats.applied += sum(applied)
                    self.stats.duplicates += len(applied) - sum(applied)
                    return
            for record, read in parsed:
                if read is not None:
                    await self._on_record(record, read)
            return
        for record in records:
            await self._on_record(record)

    async def _read(self, record: Any) -> tuple[IntegrationEvent, Delivery] | None:
        """The event and its delivery; None when ignored or dead-lettered as unreadable."""
        headers = envelope.decode_headers(record.headers)
        try:
            env = envelope.read(headers)
            if self.handles is not None and env.type not in self.handles:
                self.stats.ignored += 1
                return None
            event = parse(env.type, record.value)
        except UnknownEventType:
            self.stats.ignored += 1  # a newer producer's event we do not know yet
            return None
        except (envelope.EnvelopeError, ValidationError, ValueError) as exc:
            await self._dead_letter(record, headers, exc, attempts=0)
            return None
        return event, Delivery(upstream=record.topic, position=env.sequence, envelope=env)

    async def _on_record(self, record: Any, read: tuple[IntegrationEvent, Delivery] | None = None) -> None:
        if read is None:
            read = await self._read(record)
            if read is None:
                return
        headers = envelope.decode_headers(record.headers)
        event, delivery = read
        with consume_span(delivery, "process", **{"messaging.kafka.offset": record.offset}):
            await self._react(event, delivery, record, headers)

    async def _react(self, event: IntegrationEvent, delivery: Delivery, record: Any, headers: dict[str, str]) -> None:
        attempts = 0
        while True:
            attempts += 1
            try:
                applied = await asyncio.to_thread(self.reaction, event, delivery)
            except Exception as exc:
                if _is_infrastructure(exc):
                    # Hold the partition: back off, then let the broker redeliver.
                    log.warning("reaction hit infrastructure error; will redeliver", exc_info=True)
                    await asyncio.sleep(min(0.5 * attempts, 5.0))
                    raise
                if attempts < self.settings.subscriber_max_attempts:
                    await asyncio.sleep(0.05 * 2**attempts)
                    continue
                await self._dead_letter(record, headers, exc, attempts)
                return
            if applied:
                self.stats.applied += 1
            else:
                self.stats.duplicates += 1
            return

    async def _dead_letter(self, record: Any, headers: dict[str, str], exc: BaseException, attempts: int) -> None:
        self.stats.dead_lettered += 1
        log.error(
            "dead-lettering message",
            extra={"fields": {"topic": record.topic, "partition": record.partition, "offset": record.offset,
                              "error": repr(exc)}},
        )
        dlq_headers = {
            **headers,
            "dlq_original_topic": record.topic,
            "dlq_original_partition": str(record.partition),
            "dlq_original_offset": str(record.offset),
            "dlq_consumer": self.settings.service_name,
            "dlq_attempts": str(attempts),
            "dlq_error": f"{type(exc).__name__}: {exc}"[:1000],
            "dlq_trace": "".join(traceback.format_exception(exc))[-2000:],
        }
        # If this publish fails the exception propagates: NACK, and the message comes back.
        await _ensure_dlq(self.settings)
        await self.broker.publish(
            record.value or b"",
            topic=self.settings.dlq_topic,
            key=record.key,
            headers=dlq_headers,
        )


GENERATION_DDL = [
    "CREATE TABLE IF NOT EXISTS subscriber_generation (id INTEGER PRIMARY KEY, generation TEXT NOT NULL)",
]


def consumer_generation(db: Database) -> str:
    """A name for this database's life, part of the consumer group id. A database rebuilt
    from nothing gets a new generation, hence a new group that starts from the earliest
    offset: the whole history is replayed into it, instead of resuming from offsets that
    belonged to the data that was dropped."""
    import uuid

    db.execute_script(GENERATION_DDL)
    with db.transaction() as cur:
        cur.execute("INSERT INTO subscriber_generation (id, generation) VALUES (1, %s) ON CONFLICT DO NOTHING",
                    (uuid.uuid4().hex[:12],))
        cur.execute("SELECT generation FROM subscriber_generation WHERE id = 1")
        return str(cur.fetchone()[0])


def _span_context(traceparent: str | None) -> trace.SpanContext | None:
    ctx = telemetry.context_from_traceparent(traceparent)
    if ctx is None:
        return None
    span_context = trace.get_current_span(ctx).get_span_context()
    return span_context if span_context.is_valid else None


_dlq_ready: set[tuple[str, str]] = set()


async def _ensure_dlq(settings: ServiceSettings) -> None:
    """``<service>.dlq`` with its retention, before the first dead letter of this process."""
    key = (settings.kafka_bootstrap_servers, settings.dlq_topic)
    if key not in _dlq_ready:
        await kafka.ensure_topics(settings, [kafka.dlq_topic(settings)])
        _dlq_ready.add(key)


def make_broker(settings: ServiceSettings) -> KafkaBroker:
    """The subscribers' FastStream broker, secured as every Kafka client of the kit."""
    return KafkaBroker(settings.kafka_bootstrap_servers, security=kafka.faststream_security(settings),
                       metadata_max_age_ms=settings.kafka_metadata_max_age_ms, logger=logging.getLogger("faststream"))
