"""The base of every service's ``eventsourcing`` Application.

What is added to the library's Application:
- loading an aggregate by type and id (``find``/``load``), with a domain ``NotFound``;
- one conflict convention for every command: ``retry_on_conflict`` decides again on
  fresh state after another writer saved the same aggregate first;
- reactions recorded with their tracking row (``save_reaction``), telling "already
  processed" apart from a concurrent writer;
- each stored event carries the work context it was written in (traceparent,
  correlation and causation ids) inside the same row, so the outbox relay can put them on
  the published message and one booking stays one trace across services;
- a hook run after every save, so an in-process outbox relay wakes at once instead of
  waiting for its next poll;
- a unit of work (``unit_of_work``): one transaction of the event store in which many
  decisions are made and recorded together — new events (each its own notification),
  tracking rows for many upstream positions, and rows of the service's own tables — with
  writers serialized from its first statement, so what it reads is what it decides on
  (the batched reactions of :class:`servicekit.subscriber.BatchReaction`).

The rules this module enforces, and the tests that guard them, are listed in
``docs/architecture.md`` ("The rules, and where the code enforces them")."""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, ParamSpec, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent, project_aggregate
from eventsourcing.domain import DomainEvent, DomainEventProtocol
from eventsourcing.persistence import (
    IntegrityError,
    Mapper,
    Notification,
    ProcessRecorder,
    RecordConflictError,
    Recording,
    StoredEvent,
    Tracking,
)
from eventsourcing.postgres import PostgresFactory as _PostgresFactory

from servicekit import context, errors, telemetry

#: The unit of work open in this thread of control (``find`` reads what it saved).
_UNIT: contextvars.ContextVar[UnitOfWork | None] = contextvars.ContextVar("servicekit_unit_of_work", default=None)

P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A")


def retry_on_conflict(attempts: int = 10) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """For a load-decide-save command: when another writer saved the same aggregate first
    (optimistic concurrency: the store raises ``RecordConflictError``), decide again on the
    fresh state instead of failing — a rush of enrolments in one course must not turn into
    errors. The failed save wrote nothing, so a retry cannot double anything. After
    ``attempts`` the conflict propagates; the gateway answers it 409 with Retry-After."""

    def wrap(command: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(command)
        def retried(*args: P.args, **kwargs: P.kwargs) -> R:
            for attempt in range(attempts):
                try:
                    return command(*args, **kwargs)
                except RecordConflictError:
                    if attempt == attempts - 1:
                        raise
                    time.sleep(random.uniform(0, min(0.1, 0.005 * 2 ** attempt)))
            raise AssertionError("unreachable")

        return retried

    return wrap


def event_topics(*aggregates: type) -> list[str]:
    """The stored topics of these aggregates' events: what a projection of a few kinds of
    event filters the notification log by."""
    from eventsourcing.utils import get_topic

    topics: list[str] = []
    for aggregate in aggregates:
        base = getattr(aggregate, "Event", None)
        for name in dir(aggregate):
            value = getattr(aggregate, name, None)
            if isinstance(value, type) and base is not None and issubclass(value, base) and value is not base:
                topics.append(get_topic(value))
    return sorted(set(topics))


class PostgresFactory(_PostgresFactory):
    """eventsourcing's PostgreSQL persistence, given the connection parameters it does not
    take itself: its ``POSTGRES_*`` settings are host, port, user, password and database
    only, so TLS (``sslmode``, ``sslrootcert``, client certificates), ``application_name``,
    ``target_session_attrs``... from ``ALPHAPEER_DATABASE_URL`` arrive as one libpq string in
    ``POSTGRES_CONNECT_PARAMS`` and are added to every connection of its pool
    (``PERSISTENCE_MODULE=servicekit.eventstore:PostgresFactory``, set by
    :meth:`servicekit.database.Database.eventsourcing_env`)."""

    POSTGRES_CONNECT_PARAMS = "POSTGRES_CONNECT_PARAMS"

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        extra = self.env.get(self.POSTGRES_CONNECT_PARAMS)
        if extra:
            from psycopg.conninfo import conninfo_to_dict

            pool = self.datastore.pool
            assert isinstance(pool.kwargs, dict)  # the library passes a dict; opened on first use
            pool.kwargs.update(conninfo_to_dict(extra))


#: Key under which the work context rides inside a stored event's state.
CONTEXT_KEY = "__ctx__"


class ContextMapper(Mapper[UUID]):
    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        ctx = context.current()
        meta = {
            "traceparent": telemetry.current_traceparent(),
            "correlation_id": ctx.correlation_id,
            "causation_id": ctx.causation_id,
        }
        meta = {k: v for k, v in meta.items() if v}
        if not meta:
            return super().to_stored_event(domain_event)
        # Mapper reads vars(event); give it a copy with the metadata added.
        shadow = object.__new__(type(domain_event))
        object.__setattr__(shadow, "__dict__", {**vars(domain_event), CONTEXT_KEY: meta})
        return super().to_stored_event(shadow)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = super().to_domain_event(stored_event)
        vars(event).pop(CONTEXT_KEY, None)
        return event

    def stored_context(self, stored_event: StoredEvent) -> dict[str, str]:
        """The work context an event was written in (empty for events written without)."""
        state = stored_event.state
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        decoded = self.transcoder.decode(state)
        meta = decoded.get(CONTEXT_KEY) if isinstance(decoded, dict) else None
        return dict(meta) if isinstance(meta, dict) else {}


class ServiceApplication(Application[UUID]):
    """Base Application: context-carrying mapper, a process recorder (so reactions can
    record tracking with their effects) and post-save hooks."""

    env: ClassVar[dict[str, str]] = {}

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._after_save: list[Callable[[], None]] = []
        super().__init__(env)

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=ContextMapper)

    def construct_recorder(self) -> ProcessRecorder:
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        assert isinstance(self.recorder, ProcessRecorder)
        return self.recorder

    def add_save_hook(self, hook: Callable[[], None]) -> None:
        self._after_save.append(hook)

    def _notify(self, recordings: Any) -> None:
        super()._notify(recordings)
        for hook in self._after_save:
            hook()

    # -- loading -----------------------------------------------------------------------

    def find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate of type ``cls`` with this id, or None (absent, or another type)."""
        unit = _UNIT.get()
        if unit is not None and unit.app is self:  # inside a unit of work: read through it
            found = unit.aggregate(aggregate_id)
            return found if isinstance(found, cls) else None
        try:
            aggregate: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, cls) else None

    def find_many(self, aggregate_ids: Iterable[UUID]) -> dict[UUID, Any]:
        """Every one of these aggregates that exists, read in one round trip (a command
        that needs five aggregates waits for one query, not five); inside a unit of work,
        read through it like ``find``."""
        ids = list(dict.fromkeys(aggregate_ids))
        unit = _UNIT.get()
        if unit is not None and unit.app is self:
            return {i: a for i in ids if (a := unit.aggregate(i)) is not None}
        recorder: Any = self.recorder
        table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
        with recorder.datastore.transaction(commit=False) as cur:
            cur.execute(f"SELECT originator_id, originator_version, topic, state FROM {table} "
                        "WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version", (ids,))
            rows = cur.fetchall()
        events: dict[UUID, list[Any]] = {}
        for row in rows:
            stored = StoredEvent(originator_id=row["originator_id"], originator_version=row["originator_version"],
                                 topic=row["topic"], state=bytes(row["state"]))
            events.setdefault(row["originator_id"], []).append(self.mapper.to_domain_event(stored))
        return {i: project_aggregate(None, events[i]) for i in ids if i in events}

    def version_of(self, aggregate_id: UUID) -> int:
        """The aggregate's version (0: none), in one indexed query, without loading it: what a
        live view polls to learn that something changed."""
        recorder: Any = self.recorder
        table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
        with recorder.datastore.transaction(commit=False) as cur:
            cur.execute(f"SELECT max(originator_version) AS v FROM {table} WHERE originator_id = %s", (aggregate_id,))
            row = cur.fetchone()
        return int(row["v"] or 0) if row else 0

    def load(self, cls: type[A], aggregate_id: UUID, what: str | None = None) -> A:
        """Like ``find``, but absence is the domain's ``NotFound`` ("no such <what>")."""
        aggregate = self.find(cls, aggregate_id)
        if aggregate is None:
            raise errors.NotFound(f"no such {what or cls.__name__.lower()}")
        return aggregate

    # -- reactions -------------------------------------------------------------------

    def has_processed(self, upstream: str, position: int) -> bool:
        """Whether this very position of ``upstream`` was recorded. Not eventsourcing's
        ``has_tracking_id``, which answers "any position at or above it": a topic's
        partitions deliver positions out of order (11 from one partition before 6 from
        another), and "at or above" would take 6 for done and lose it."""
        recorder: Any = self.process_recorder  # PostgreSQL's: every store here is
        table = f'"{recorder.datastore.schema}"."{recorder.tracking_table_name}"'
        with recorder.datastore.transaction(commit=False) as cur:
            cur.execute(f"SELECT 1 FROM {table} WHERE application_name = %s AND notification_id = %s",
                        (upstream, position))
            return cur.fetchone() is not None

    def save_reaction(self, upstream: str, position: int, *aggregates: Any) -> bool:
        """Record a reaction's new events and its tracking row in one transaction.

        False when this upstream position was already processed (nothing written). A
        version conflict with a concurrent writer of one of the aggregates is *not* that:
        it raises ``RecordConflictError`` (nothing written either), and the caller decides
        again on fresh state (see ``subscriber.AggregateReaction``)."""
        processing = ProcessingEvent[UUID](tracking=Tracking(upstream, position))
        processing.collect_events(*aggregates)
        try:
            recordings = self._record(processing)
        except IntegrityError:
            # Both a duplicate tracking row and a version conflict arrive as IntegrityError;
            # only the tracking row, now present, means "already processed".
            if self.has_processed(upstream, position):
                return False
            raise
        self._notify(recordings)
        return True

    # -- units of work ---------------------------------------------------------------

    @contextlib.contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """One transaction of the event store for many decisions (see :class:`UnitOfWork`):
        committed when the block exits cleanly, rolled back otherwise; the post-save hooks
        run after the commit."""
        from eventsourcing.postgres import PostgresApplicationRecorder

        recorder = self.recorder
        if not isinstance(recorder, PostgresApplicationRecorder):  # pragma: no cover - every store is PostgreSQL
            raise TypeError("a unit of work needs the PostgreSQL event store")
        datastore = recorder.datastore
        with datastore.get_connection() as conn:
            with conn.transaction():
                unit = UnitOfWork(self, recorder, conn)
                unit._begin()
                token = _UNIT.set(unit)
                try:
                    yield unit
                finally:
                    _UNIT.reset(token)
                recordings = unit._finish()
            if recordings:
                self._notify(recordings)


class UnitOfWork:
    """Many decisions recorded in one transaction of the event store, TigerBeetle-fashion:
    read once, decide many, write once.

    - Writers are serialized from the first statement: the unit takes the event table's
      write lock (the one every save takes to keep notification ids in commit order) before
      anything else, so nobody can record events between what the unit reads and what it
      writes. Its decisions never meet a version conflict, and other writers' saves wait
      for it (a save that had loaded an aggregate before the unit changed it fails with the
      usual conflict and is decided again).
    - ``track_many`` records upstream positions (the same tracking rows as
      ``save_reaction``) and says which are new; a duplicate is simply not new.
    - ``save`` collects new events of aggregates, or domain events themselves; each is
      mapped at once, so it carries the work context current when it was saved (one
      request, one trace), and each is its own notification, in the order saved.
    - ``recorded`` says which originator ids already have events (stored, or saved earlier
      in this unit): facts with ids derived from their cause are recorded once.
    - while the unit is open, the application's ``find`` reads through it (``aggregate``):
      an aggregate this unit saved is answered as saved here, so a later decision in the
      batch continues from it instead of meeting its own unit's write as a conflict.
    - ``cursor`` writes the service's own tables in the same transaction (tuple rows, the
      service's schema on the search path).

    Everything commits together or not at all."""

    def __init__(self, app: ServiceApplication, recorder: Any, conn: Any) -> None:
        from psycopg.rows import tuple_row

        self.app = app
        self._recorder = recorder
        self._conn = conn
        self.cursor: Any = conn.cursor(row_factory=tuple_row)
        self._events: list[tuple[Any, StoredEvent]] = []
        self._saved_ids: set[UUID] = set()
        self._aggregates: dict[UUID, Any] = {}

    @property
    def _events_table(self) -> str:
        return f'"{self._recorder.datastore.schema}"."{self._recorder.events_table_name}"'

    def _begin(self) -> None:
        schema = self._recorder.datastore.schema
        self.cursor.execute(f'SET LOCAL search_path TO "{schema}"')
        self.cursor.execute(f"LOCK TABLE {self._events_table} IN EXCLUSIVE MODE")

    # -- tracking ------------------------------------------------------------------------

    def track_many(self, positions: Sequence[tuple[str, int]]) -> list[bool]:
        """Records each (upstream, position); True for those not recorded before (a pair
        given twice is new once)."""
        if not positions:
            return []
        table = f'"{self._recorder.datastore.schema}"."{self._recorder.tracking_table_name}"'
        unique = list(dict.fromkeys(positions))
        self.cursor.execute(
            f"INSERT INTO {table} (application_name, notification_id) "
            "SELECT * FROM unnest(%b::text[], %b::bigint[]) ON CONFLICT DO NOTHING "
            "RETURNING application_name, notification_id",
            ([u for u, _ in unique], [p for _, p in unique]))
        new = {(str(u), int(p)) for u, p in self.cursor.fetchall()}
        answers = []
        for pair in positions:
            answers.append(pair in new)
            new.discard(pair)
        return answers

    # -- events --------------------------------------------------------------------------

    def save(self, *objs: Any) -> None:
        """New events of these aggregates (or these domain events), in order."""
        for obj in objs:
            if isinstance(obj, DomainEvent):  # taken as is (what collect_events does, less its Protocol check)
                events: Iterable[Any] = (obj,)
            else:
                processing = ProcessingEvent[UUID]()
                processing.collect_events(obj)
                events = processing.events
                self._aggregates[obj.id] = obj
            for domain_event in events:
                self._events.append((domain_event, self.app.mapper.to_stored_event(domain_event)))
                self._saved_ids.add(domain_event.originator_id)

    def aggregate(self, aggregate_id: UUID) -> Any:
        """The aggregate as this unit sees it (None if it has no events): a copy of it as
        last saved in this unit, else rebuilt from its stored events, read on the unit's
        own connection (a pooled one could be held by a writer waiting for this unit)."""
        saved = self._aggregates.get(aggregate_id)
        if saved is not None:
            return copy.deepcopy(saved)
        events = self.stored(aggregate_id)
        return project_aggregate(None, events) if events else None

    def recorded(self, originator_ids: Iterable[UUID]) -> set[UUID]:
        """Which of these ids already have events: stored, or saved in this unit."""
        ids = list(dict.fromkeys(originator_ids))
        found = {i for i in ids if i in self._saved_ids}
        rest = [i for i in ids if i not in found]
        if rest:
            self.cursor.execute(f"SELECT DISTINCT originator_id FROM {self._events_table} "
                                "WHERE originator_id = ANY(%b)", (rest,))
            found |= {row[0] for row in self.cursor.fetchall()}
        return found

    def stored(self, originator_id: UUID) -> list[DomainEventProtocol[UUID]]:
        """The events stored for this id (not those saved in this unit), oldest first."""
        self.cursor.execute(f"SELECT originator_id, originator_version, topic, state FROM {self._events_table} "
                            "WHERE originator_id = %s ORDER BY originator_version", (originator_id,))
        return [self.app.mapper.to_domain_event(StoredEvent(originator_id=row[0], originator_version=row[1],
                                                            topic=row[2], state=bytes(row[3])))
                for row in self.cursor.fetchall()]

    def _finish(self) -> list[Recording[UUID]]:
        if not self._events:
            return []
        from psycopg.sql import SQL, Identifier

        recorder = self._recorder
        stored = [s for _, s in self._events]
        # The library's insert (its statement passes one array of its composite type, in
        # text), as one array per column in binary: the same rows, numbered in this order.
        insert = SQL("INSERT INTO {0}.{1} (originator_id, originator_version, topic, state) "
                     "SELECT * FROM unnest(%b::{2}[], %b::bigint[], %b::text[], %b::bytea[]) "
                     "RETURNING notification_id").format(
            Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name),
            Identifier(recorder.datastore.originator_id_type))
        columns = ([s.originator_id for s in stored], [s.originator_version for s in stored],
                   [s.topic for s in stored], [s.state for s in stored])
        with self._conn.cursor() as curs:  # the library's own row shape (dict rows)
            curs.execute(SQL("NOTIFY {0}").format(Identifier(recorder.channel_name)))
            try:
                curs.execute(insert, columns)
            except Exception as exc:
                import psycopg

                if isinstance(exc, psycopg.IntegrityError):
                    raise IntegrityError(str(exc)) from exc
                raise
            ids = [row["notification_id"] for row in curs.fetchall()]
        assert len(ids) == len(stored)
        return [Recording(domain_event, Notification(id=n, originator_id=s.originator_id,
                                                     originator_version=s.originator_version, topic=s.topic,
                                                     state=s.state))
                for (domain_event, s), n in zip(self._events, ids, strict=True)]
