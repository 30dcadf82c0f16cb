"""The transactional outbox relay: the service's notification log → ``<service>.events``.

- Reads notifications after its recorded position, in commit order, translates each
  stored domain event into its public contract (or skips internal ones), and publishes
  keyed by aggregate id with CloudEvents headers; the position advances only after the
  broker acknowledged (acks=all). A crash in between republishes, never loses.
- One active relay per service: a PostgreSQL advisory lock on a held connection. Other
  replicas stand by, and their ``/readyz`` says who holds it, since when and when it last
  gave a sign of life (a lease row the holder refreshes). A holder that goes silent without
  closing its connection — its node crashed, its process froze, its network went — does
  not keep the lock: the lock's session has ``idle_session_timeout`` (and TCP keepalives)
  of ``ALPHAPEER_RELAY_LOCK_TIMEOUT``, so PostgreSQL ends it and a standby takes over
  within that bound. A live holder touches the session more often than that, even in the
  middle of a long publish.
- A translator that raises stops the topic at that event (never skipped, never out of
  order): logged at error level once and reported on ``/readyz`` until fixed.
- Creates ``<service>.events`` with its configured shape (:func:`servicekit.kafka.event_topic`:
  partitions, replication factor, ``retention.ms=-1``) unless topics are declared to the
  cluster, and reaches Kafka with the settings every client of the kit uses
  (:func:`servicekit.kafka.client_options`).
- Notices a broker that lost what was published (the embedded broker keeps topics in
  memory; a cluster may be rebuilt) by comparing the offsets it recorded with the topic's
  end offsets, at start, after errors, periodically while idle, and on every ack; then it
  publishes the whole stream again from the start. Subscribers track by notification id,
  so the replay is applied where it is missing and ignored where it is not.

The rules this module enforces, and the tests that guard them, are listed in
``docs/architecture.md`` ("The rules, and where the code enforces them")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, OffsetOutOfRangeError
from eventsourcing.persistence import Notification
from opentelemetry import trace

from alphapeer_contracts.base import IntegrationEvent
from servicekit import envelope, kafka, telemetry
from servicekit.database import Database
from servicekit.eventstore import ContextMapper, ServiceApplication
from servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)

Translator = Callable[[Any], IntegrationEvent | None]
#: partition → (offset, ce_id) of the last message this relay published there.
Marks = dict[int, tuple[int, str]]

OUTBOX_DDL = [
    """CREATE TABLE IF NOT EXISTS outbox_position (
        topic TEXT PRIMARY KEY,
        position BIGINT NOT NULL,
        offsets TEXT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    )""",
    # Who holds the relay lock, for the standbys' /readyz (the lock itself is the advisory lock).
    """CREATE TABLE IF NOT EXISTS relay_lease (
        topic TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        backend_pid INTEGER NOT NULL,
        acquired_at TIMESTAMPTZ NOT NULL,
        heartbeat_at TIMESTAMPTZ NOT NULL
    )""",
]


class BrokerLostHistory(Exception):
    """The topic holds fewer messages than the relay knows it published."""


class RelayLockLost(RuntimeError):
    """The lock's session ended (PostgreSQL ended a silent session, or the server went):
    another relay may publish now; this one stands by."""


class TranslationFailed(Exception):
    """The service's translator raised on a stored event. The relay never skips an event
    (subscribers would miss a fact), so the topic stops at this one until a fixed
    translator is deployed: loud in the log and on ``/readyz``, never silent."""

    def __init__(self, notification_id: int, event_type: str, error: BaseException) -> None:
        super().__init__(f"cannot translate notification {notification_id} ({event_type}): "
                         f"{type(error).__name__}: {error}")
        self.notification_id = notification_id
        self.event_type = event_type
        self.error = error


#: How often the active relay proves it still holds its lock (besides the heartbeat).
LOCK_CHECK_S = 0.25


class RelayLock:
    """Held for as long as this relay is the active one: a PostgreSQL advisory lock on a
    connection of its own, so a crashed holder's lock is freed with its session.

    The session is bounded: once held, PostgreSQL ends it after ``timeout`` seconds without
    a statement (``idle_session_timeout``, PostgreSQL 14+) or when TCP keepalives go
    unanswered; the client side gives up on a silent server as fast (libpq keepalives,
    ``tcp_user_timeout``). The holder proves it is alive well within that (``heartbeat``,
    which also dates the lease row the standbys read)."""

    def __init__(self, db: Database, name: str, timeout: float = 30.0, topic: str = "") -> None:
        self.db = db
        self.name = name
        self.topic = topic or f"{name}.events"
        self.timeout = timeout
        self.holder = f"{socket.gethostname()} pid {os.getpid()}"
        self._conn: Any = None

    def _connect(self) -> Any:
        import psycopg

        probe = max(1, int(self.timeout / 3))
        return psycopg.connect(self.db.conninfo(
            application_name=f"alphapeer-relay {self.name} {self.holder}"[:63],
            keepalives=1, keepalives_idle=probe, keepalives_interval=max(1, probe // 2), keepalives_count=3,
            tcp_user_timeout=int(self.timeout * 1000), connect_timeout=max(2, int(self.timeout))),
            autocommit=True)

    def try_acquire(self) -> bool:
        import psycopg

        for attempt in (1, 2):
            if self._conn is None or self._conn.closed:
                self._conn = self._connect()
            try:
                # Per schema: two deployments of one service sharing a database (staging
                # beside a rehearsal, parallel test runs) each have their own relay.
                row = self._conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))",
                                         (f"outbox:{self.db.schema}:{self.name}",)).fetchone()
                break
            except (psycopg.OperationalError, psycopg.InterfaceError):
                self.release()  # a session the server ended (it had been ours, or the server restarted)
                if attempt == 2:
                    raise
        if not (row and row[0]):
            return False
        self._bound_session()
        self._conn.execute(
            f'INSERT INTO "{self.db.schema}".relay_lease (topic, holder, backend_pid, acquired_at, heartbeat_at) '
            "VALUES (%s, %s, pg_backend_pid(), now(), now()) ON CONFLICT (topic) DO UPDATE SET "
            "holder = excluded.holder, backend_pid = excluded.backend_pid, heartbeat_at = excluded.heartbeat_at, "
            # Taken again by the same session (after an error): still held since the first time.
            "acquired_at = CASE WHEN relay_lease.backend_pid = excluded.backend_pid THEN relay_lease.acquired_at "
            "ELSE excluded.acquired_at END", (self.topic, self.holder))
        return True

    def _bound_session(self) -> None:
        import psycopg

        probe = max(1, int(self.timeout / 3))
        for setting, value in (("tcp_keepalives_idle", probe), ("tcp_keepalives_interval", max(1, probe // 2)),
                               ("tcp_keepalives_count", 3), ("idle_session_timeout", f"{int(self.timeout * 1000)}ms")):
            try:
                self._conn.execute(f"SET {setting} = '{value}'")
            except psycopg.errors.UndefinedObject:  # PostgreSQL before 14: no idle_session_timeout
                log.warning("PostgreSQL cannot end an idle session: a frozen relay lock holder keeps the lock "
                            "until its connection breaks (a crashed node: TCP keepalives, about %s s)",
                            probe + 3 * max(1, probe // 2), extra={"fields": {"setting": setting}})

    def still_held(self) -> bool:
        try:
            self._conn.execute("SELECT 1")
        except Exception:
            return False
        return True

    def heartbeat(self) -> bool:
        """Proves the holder alive (to PostgreSQL's idle timeout and to the standbys)."""
        try:
            cur = self._conn.execute(f'UPDATE "{self.db.schema}".relay_lease SET heartbeat_at = now() '
                                     "WHERE topic = %s AND backend_pid = pg_backend_pid()", (self.topic,))
        except Exception:
            return False
        return bool(cur.rowcount)

    def describe_holder(self) -> str:
        """For a standby's ``/readyz``: who holds the lock, since when, last sign of life."""
        if self._conn is None or self._conn.closed:
            return "standby"
        try:
            row = self._conn.execute(
                "SELECT holder, backend_pid, acquired_at, extract(epoch FROM now() - heartbeat_at), "
                "EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = relay_lease.backend_pid AND l.locktype = 'advisory' "
                f'AND l.granted) FROM "{self.db.schema}".relay_lease WHERE topic = %s', (self.topic,)).fetchone()
        except Exception as exc:
            return f"standby (cannot read who holds the relay lock: {type(exc).__name__}: {exc})"
        if row is None:
            return "standby: waiting for the relay lock"
        holder, pid, since, silent, holding = row
        if not holding:
            return f"standby: the last holder ({holder}) is gone; the lock is free"
        text = (f"standby: {self.topic} is published by {holder} (PostgreSQL session {pid}) since "
                f"{since.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}, last heartbeat {float(silent):.0f} s ago")
        if float(silent) > self.timeout + 5:
            text += (f"; silent for longer than ALPHAPEER_RELAY_LOCK_TIMEOUT={self.timeout:g}s and PostgreSQL has "
                     "not ended its session (idle_session_timeout needs PostgreSQL 14+): nothing is published")
        return text

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()  # closing the session frees the advisory lock
            finally:
                self._conn = None


@dataclass
class RelayStatus:
    active: bool = False
    connected: bool = False
    position: int = 0
    published: int = 0
    replays: int = 0
    last_error: str | None = None
    offsets: Marks = field(default_factory=dict)
    #: Set while publishing is stopped at an event the translator cannot translate.
    stalled: TranslationFailed | None = None
    #: A standby's view of the active relay (who holds the lock, since when).
    holder: str = ""

    def check(self) -> None:
        """Readiness: raises what keeps this relay (when it is the active one) from publishing."""
        if self.stalled is not None:
            raise RuntimeError(f"outbox relay stalled: {self.stalled}")
        if self.active and not self.connected:
            raise ConnectionError(self.last_error or "outbox relay not connected to the broker")

    def describe(self) -> str:
        """Readiness detail: which relay publishes (this one, or who, since when)."""
        if self.active:
            return f"active: publishing, position {self.position}"
        return self.holder or "standby"


class OutboxRelay:
    def __init__(
        self,
        app: ServiceApplication,
        db: Database,
        settings: ServiceSettings,
        translate: Translator,
    ) -> None:
        self.app = app
        self.db = db
        self.settings = settings
        self.translate = translate
        self.topic = settings.topic
        self.status = RelayStatus()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = RelayLock(db, settings.service_name, settings.relay_lock_timeout, settings.topic)
        self._producer: AIOKafkaProducer | None = None
        self._beat: asyncio.Task[None] | None = None
        self._tracer = telemetry.tracer("servicekit.relay")
        db.execute_script(OUTBOX_DDL)
        app.add_save_hook(self._poke)

    # -- lifecycle -------------------------------------------------------------------

    def _poke(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        backoff = 0.5
        while not self._stop.is_set():
            try:
                if not await asyncio.to_thread(self._lock.try_acquire):
                    self.status.active = False
                    holder = await asyncio.to_thread(self._lock.describe_holder)
                    if "silent for longer" in holder and "silent for longer" not in self.status.holder:
                        log.warning("outbox relay lock holder is silent and still holds the lock",
                                    extra={"fields": {"topic": self.topic, "holder": holder}})
                    self.status.holder = holder
                    await self._sleep(min(2.0, self.settings.relay_lock_timeout / 3))
                    continue
                self.status.active, self.status.holder = True, ""
                if self._beat is None or self._beat.done():
                    self._beat = asyncio.create_task(self._heartbeat(), name="relay-lock-heartbeat")
                await self._serve()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except RelayLockLost:
                log.warning("outbox relay lost its lock; standing by", extra={"fields": {"topic": self.topic}})
                self.status.active = False
                await self._close_producer()
                await asyncio.to_thread(self._lock.release)
            except TranslationFailed as exc:
                if self.status.stalled is None or self.status.stalled.notification_id != exc.notification_id:
                    log.error("outbox relay stalled: a stored event cannot be translated; nothing after it is "
                              "published until the translator is fixed", exc_info=exc.error,
                              extra={"fields": {"topic": self.topic, "notification_id": exc.notification_id,
                                                "event_type": exc.event_type, "error": str(exc)}})
                self.status.stalled = exc
                self.status.last_error = str(exc)
                await self._close_producer()
                await self._sleep(backoff)
                backoff = min(backoff * 2, 30.0)
            except Exception as exc:  # broker or database away: keep trying, lose nothing
                self.status.connected = False
                self.status.last_error = (await kafka.explained(exc, self.settings) if isinstance(exc, KafkaError)
                                          else f"{type(exc).__name__}: {exc}")
                log.warning("outbox relay error, retrying", extra={"fields": {"error": self.status.last_error}})
                await self._close_producer()
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        await self._close_producer()
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
        self._lock.release()
        self.status.active = False

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)

    async def _close_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            with contextlib.suppress(Exception):
                await producer.stop()

    # -- the loop --------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        """Keeps the lock's session from PostgreSQL's idle timeout for as long as this relay
        holds it and is alive — through long publishes and retry back-offs too. Ends when
        the lock is lost (the loop notices and stands by)."""
        while True:
            await asyncio.sleep(self.settings.relay_lock_timeout / 3)
            if not await asyncio.to_thread(self._lock.heartbeat):
                log.warning("outbox relay lost its lock's session", extra={"fields": {"topic": self.topic}})
                return

    async def _serve(self) -> None:
        await self._ensure_topic()
        self._producer = AIOKafkaProducer(
            **kafka.client_options(self.settings),
            acks="all",
            linger_ms=0,  # a batch forms anyway while the previous one is in flight
            max_request_size=4 * 1024 * 1024,
            request_timeout_ms=15000,
        )
        await self._producer.start()
        position, offsets = await asyncio.to_thread(self._load_position)
        if await self._broker_lost(position, offsets):
            position, offsets = await self._rewind()
        self.status.connected = True
        self.status.last_error = None
        self.status.position, self.status.offsets = position, offsets
        last_check = time.monotonic()
        held_at = 0.0
        while not self._stop.is_set():
            # The lock is proven at most every LOCK_CHECK_S, not per batch: a round trip on
            # every hop of a saga. A relay that lost it publishes at most that much longer;
            # consumers drop what it sends twice.
            if time.monotonic() - held_at > LOCK_CHECK_S:
                if not await asyncio.to_thread(self._lock.still_held):
                    raise RelayLockLost("lost the relay lock")
                held_at = time.monotonic()
            batch = await asyncio.to_thread(self._select, position)
            if not batch:
                if time.monotonic() - last_check > 5.0:
                    last_check = time.monotonic()
                    if await self._broker_lost(position, offsets):
                        position, offsets = await self._rewind()
                        continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.settings.relay_poll_interval)
                continue
            try:
                position, offsets = await self._publish(batch, position, offsets)
            except BrokerLostHistory:
                position, offsets = await self._rewind()

    def _select(self, position: int) -> list[Notification]:
        return list(
            self.app.recorder.select_notifications(
                start=position, limit=self.settings.relay_batch_size, inclusive_of_start=False
            )
        )

    async def _publish(
        self, batch: list[Notification], position: int, offsets: Marks
    ) -> tuple[int, Marks]:
        assert self._producer is not None
        mapper = self.app.mapper
        assert isinstance(mapper, ContextMapper)
        pending: list[tuple[int, str, asyncio.Future[Any]]] = []
        for note in batch:
            try:
                event = self.translate(mapper.to_domain_event(note))
            except Exception as exc:
                # What was sent before it in this batch is still acknowledged and recorded.
                await self._settle(pending, position, offsets)
                raise TranslationFailed(note.id, note.topic, exc) from exc
            if event is None:  # internal fact, not part of the public contract
                pending.append((note.id, "", _done()))
                continue
            meta = mapper.stored_context(note)
            parent = telemetry.context_from_traceparent(meta.get("traceparent"))
            ce_id = envelope.event_id(note.originator_id, note.originator_version)
            with self._tracer.start_as_current_span(
                f"{self.topic} publish", context=parent, kind=trace.SpanKind.PRODUCER,
                attributes={"messaging.system": "kafka", "messaging.destination.name": self.topic,
                            "messaging.message.id": ce_id},
            ):
                key, value, headers = envelope.wrap(
                    event,
                    source=f"/alphapeer/{self.settings.service_name}",
                    sequence=note.id,
                    ce_id=ce_id,
                    correlation_id=meta.get("correlation_id"),
                    causation_id=meta.get("causation_id"),
                    traceparent=telemetry.current_traceparent(),
                )
            fut = await self._producer.send(self.topic, value=value, key=key, headers=headers)
            pending.append((note.id, ce_id, fut))
        position, offsets = await self._settle(pending, position, offsets)
        self.status.stalled = None
        return position, offsets

    async def _settle(self, pending: list[tuple[int, str, asyncio.Future[Any]]], position: int, offsets: Marks
                      ) -> tuple[int, Marks]:
        """Waits for the broker's acknowledgements, then records the new position."""
        if not pending:
            return position, offsets
        new_offsets = dict(offsets)
        lost = False
        for note_id, ce_id, fut in pending:
            meta_rec = await fut
            if meta_rec is not None:
                part, off = meta_rec.partition, meta_rec.offset
                if off <= new_offsets.get(part, (-1, ""))[0]:
                    lost = True  # the broker handed out an offset it had given before
                new_offsets[part] = (off, ce_id)
            position = note_id
        if self.settings.relay_crash_after_publish:
            log.error("fault injection: exiting between publish and position record")
            os._exit(99)
        if lost:
            raise BrokerLostHistory()
        await asyncio.to_thread(self._save_position, position, new_offsets)
        self.status.position, self.status.offsets = position, new_offsets
        self.status.published += sum(1 for _, _, f in pending if not isinstance(f, _Done))
        return position, new_offsets

    # -- broker state ----------------------------------------------------------------

    async def _ensure_topic(self) -> None:
        await kafka.ensure_topics(self.settings, [kafka.event_topic(self.settings)])

    async def _broker_lost(self, position: int, marks: Marks) -> bool:
        """Is the last message we published to each partition still there?

        Read back, by offset, and matched by ce_id. (End offsets would be cheaper, but the
        embedded broker reports them per batch, not per record; see FIELD-NOTES.)"""
        if position == 0 or not marks:
            return False
        consumer = AIOKafkaConsumer(**kafka.client_options(self.settings),
                                    enable_auto_commit=False, auto_offset_reset="none")
        await consumer.start()
        try:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(self.topic) or set()
            for part, (offset, ce_id) in marks.items():
                if part not in parts:
                    return self._lost(part, offset, "partition missing")
                tp = TopicPartition(self.topic, part)
                consumer.assign([tp])
                consumer.seek(tp, offset)
                try:
                    batch = await consumer.getmany(tp, timeout_ms=3000)
                except OffsetOutOfRangeError:
                    return self._lost(part, offset, "offset out of range")
                found = [r for r in batch.get(tp, []) if r.offset == offset]
                if not found or envelope.decode_headers(found[0].headers).get("ce_id") != ce_id:
                    return self._lost(part, offset, "message not found")
        finally:
            await consumer.stop()
        return False

    def _lost(self, part: int, offset: int, why: str) -> bool:
        log.warning(
            "broker lost published history; republishing from the start",
            extra={"fields": {"topic": self.topic, "partition": part, "recorded_offset": offset, "why": why}},
        )
        return True

    async def _rewind(self) -> tuple[int, Marks]:
        await self._ensure_topic()
        await asyncio.to_thread(self._save_position, 0, {})
        self.status.replays += 1
        return 0, {}

    # -- position --------------------------------------------------------------------

    def _load_position(self) -> tuple[int, Marks]:
        with self.db.transaction() as cur:
            cur.execute("SELECT position, offsets FROM outbox_position WHERE topic = %s", (self.topic,))
            row = cur.fetchone()
        if row is None:
            return 0, {}
        return int(row[0]), {int(k): (int(v[0]), str(v[1])) for k, v in json.loads(row[1]).items()}

    def _save_position(self, position: int, offsets: Marks) -> None:
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO outbox_position (topic, position, offsets, updated_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (topic) DO UPDATE SET position = excluded.position, "
                "offsets = excluded.offsets, updated_at = excluded.updated_at",
                (self.topic, position, json.dumps({k: list(v) for k, v in offsets.items()}), time.time()),
            )


class _Done(asyncio.Future[Any]):
    pass


def _done() -> asyncio.Future[Any]:
    fut: asyncio.Future[Any] = _Done()
    fut.set_result(None)
    return fut
