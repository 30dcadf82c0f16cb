"""The service assembler: one way to build a service process.

A service's ``main.py`` names its settings, its routes and an ``assemble`` function that
declares what the service is made of; the kit wires the rest the same way for every
service (see ``docs/adding-a-service.md``):

- the database (PostgreSQL, a schema per service) and the event store on it;
- the outbox relay publishing ``<service>.events`` through the service's translator;
- subscriptions to other services' topics, each reaction with its tracking row;
- suspended and erased accounts learned from ``identity.events`` and refused by the
  gateway within about a second (unless the service checks accounts itself: identity);
- background workers, readiness checks (database, broker, relay), shutdown in order;
- ``GET /metrics`` (Prometheus) and the access log (:mod:`servicekit.metrics`): HTTP,
  relay, subscriptions, projections and account blocks, with no code in the service;
- the gateway (:func:`servicekit.gateway.create_gateway`) with the service's routers;
- the process entry point (logging, tracing, uvicorn), and ``<script> migrate``.

Migrations: what a service's parts create (tables through ``execute_script``, the event
store's tables, seed data declared with ``svc.seed``) is declared once, where it is used.
Built with ``ALPHAPEER_MIGRATE_ON_START`` (the default: ``make up``, tests, dev) it is
applied, one process at a time; without it (production) a replica only checks that it
exists, after a migration run (``Service.migrate``, ``alphapeer-<service> migrate``, the
``<service>-migrate`` Job) that builds the service the same way without serving it.

Nothing connects at import time: ``service.build(settings)`` is what the entry point and
the tests call."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaBroker

from servicekit import kafka, runtime
from servicekit.accounts import HANDLES as ACCOUNT_EVENTS
from servicekit.accounts import AccountBlocks
from servicekit.auth import JwksKeySource, KeySource, Principal, TokenVerifier
from servicekit.database import Cursor, Database
from servicekit.deadlines import Clock, Deadlines, Fire, Schedule
from servicekit.eventstore import ServiceApplication
from servicekit.gateway import ReadinessCheck, create_gateway
from servicekit.metrics import ServiceMetrics, Subscription
from servicekit.projection import LocalProjection
from servicekit.relay import OutboxRelay, Translator
from servicekit.runtime import Worker
from servicekit.settings import ServiceSettings
from servicekit.shredding import KeyPublisher, KeyRing, KeyWrap
from servicekit.subscriber import IdempotentSubscriber, Reaction, consumer_generation, make_broker
from servicekit.vault import PersonalDataVault

log = logging.getLogger(__name__)

S = TypeVar("S", bound=ServiceSettings)
App = TypeVar("App", bound=ServiceApplication)


@dataclass
class _Subscription:
    topics: list[str]
    reaction: Reaction
    handles: set[str] | None
    group: str


class Assembly(Generic[S]):
    """What ``assemble(svc)`` declares. ``svc.settings`` and ``svc.db`` are ready to use."""

    def __init__(self, settings: S, db: Database, keys: KeySource | None,
                 metrics: ServiceMetrics | None = None) -> None:
        self.settings = settings
        self.db = db
        self.keys = keys
        #: The process's Prometheus registry (``svc.metrics.registry``) for a service's own metrics.
        self.metrics = metrics or ServiceMetrics(settings.service_name)
        self.projections: list[LocalProjection] = []
        self.deadline_sets: list[Deadlines] = []
        self.relay: OutboxRelay | None = None
        self.state: dict[str, Any] = {}
        self.workers: list[Worker] = []
        self.readiness: dict[str, ReadinessCheck] = {}
        self.closers: list[Callable[[], None]] = []
        self.subscriptions: list[_Subscription] = []
        self.principal_check: Callable[[Principal], None] | None = None
        self.keyring: KeyRing | None = None
        self.own_accounts = False
        if settings.clock_offset_seconds:
            log.warning("this service's clock is shifted", extra={"fields": {
                "clock_offset_seconds": settings.clock_offset_seconds, "now": settings.now().isoformat()}})

    # -- storage -------------------------------------------------------------------------

    def event_store(self, app_class: type[App], **ports: Any) -> App:
        """The service's event-sourced application on its database; ``ports`` are passed on."""
        app = app_class(env=self.db.eventsourcing_env(), **ports)
        self.db.check_event_store(app)  # when only checking: its tables must exist
        self.closers.append(app.close)
        return app

    def seed(self, step: Callable[[], Any], name: str = "") -> None:
        """Data the service needs before it serves (a taxonomy, a first admin): run when
        migrating (at start with ``ALPHAPEER_MIGRATE_ON_START``, else by the migration
        Job), skipped by replicas that only check. It must be idempotent."""
        if self.migrating:
            step()
        else:
            log.debug("seed left to the migration", extra={"fields": {"seed": name or getattr(step, "__name__", "")}})

    @property
    def migrating(self) -> bool:
        """True when this build applies migrations (DDL, seeds); False when it only checks."""
        return self.db.migrate

    def tables(self, ddl: Sequence[str]) -> Database:
        """Plain tables beside the event store (read models, adapters' state)."""
        self.db.execute_script(ddl)
        return self.db

    def database(self, schema_suffix: str) -> Database:
        """A second schema of the service's own (e.g. a cache that must outlive a rebuild of
        the read model)."""
        s = self.settings
        extra = Database(s.model_copy(update={"database_schema": f"{s.db_schema}_{schema_suffix}",
                                              "service_name": f"{s.service_name}-{schema_suffix}"}))
        self.closers.append(extra.close)
        return extra

    # -- events out and in -----------------------------------------------------------------

    def publishes(self, app: ServiceApplication, translate: Translator) -> None:
        """The outbox relay: ``app``'s stored events, translated to contracts, on ``<service>.events``."""
        if self.settings.relay_enabled:
            self.relay = OutboxRelay(app, self.db, self.settings, translate)
            self.workers.append(self.relay)

    def reacts_to(self, *topics: str, reaction: Reaction, handles: set[str] | None = None,
                  group: str = "") -> Reaction:
        """Subscribe ``reaction`` to other services' topics (one consumer group per call:
        ``group`` names it when a service subscribes twice). Returns the reaction, which
        tests can feed directly (``servicekit.testing.Feed``)."""
        self.subscriptions.append(_Subscription(list(topics), reaction, handles, group))
        return reaction

    def projects_own(self, app: ServiceApplication, name: str, ddl: list[str],
                     apply: Callable[[Cursor, Any], None], topics: Sequence[str] = ()) -> LocalProjection:
        """A read model of the service's own events, kept in the background (read-your-writes
        with ``wait_for``); ``topics``: only the stored events it applies are read."""
        projection = LocalProjection(app, self.db, name, ddl, apply, topics=topics)
        self.workers.append(projection)
        self.projections.append(projection)
        return projection

    def deadlines(self, app: ServiceApplication, schedule: Schedule, fire: Fire, name: str = "main",
                  clock: Clock | None = None, topics: Sequence[str] = ()) -> Deadlines:
        """Deadlines set by ``app``'s own events (``schedule``) and acted on when due
        (``fire``), by whichever replica is alive then: see :mod:`servicekit.deadlines`.
        ``topics``: the stored events ``schedule`` can answer (the others are not read)."""
        extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
        deadlines = Deadlines(self.db, app, name, schedule, fire,
                              poll_interval=self.settings.deadline_poll_seconds, topics=topics, **extra)
        self.workers += [deadlines.projection, deadlines]
        self.projections.append(deadlines.projection)
        self.deadline_sets.append(deadlines)
        return deadlines

    # -- personal data shared with other services (crypto-shredding across the bus) ------

    def shares_personal_data(self) -> PersonalDataVault:
        """A vault for the personal text this service's events carry: seal it with this
        vault's keys, which are published wrapped on ``<service>.keys`` (and destroyed, for
        everyone, by ``vault.forget`` at erasure). See :mod:`servicekit.shredding`."""
        vault = PersonalDataVault(self.db, shared=True)
        if self.settings.relay_enabled:
            self.workers.append(KeyPublisher(vault, self.settings, self.key_wrap))
        return vault

    def reads_personal_data_of(self, *upstreams: str) -> KeyRing:
        """The keys of the personal text ``upstreams``' events carry, to open it in memory.
        An erased user's keys leave the ring with their ``UserErased``."""
        if self.keyring is None:
            self.keyring = KeyRing(self.db, self.settings, upstreams, self.key_wrap,
                                   group=f"{self.settings.service_name}.{consumer_generation(self.db)}.keys")
            if self.settings.subscribers_enabled:
                self.workers.append(self.keyring)
            self.provide(keyring=self.keyring)
        return self.keyring

    @property
    def key_wrap(self) -> KeyWrap:
        return KeyWrap(self.settings.key_wrapping_secret.get_secret_value())

    # -- process -------------------------------------------------------------------------

    def worker(self, worker: Worker) -> None:
        self.workers.append(worker)

    def ready(self, name: str, check: ReadinessCheck) -> None:
        self.readiness[name] = check

    def on_shutdown(self, close: Callable[[], None]) -> None:
        self.closers.append(close)

    def provide(self, **state: Any) -> None:
        """What the routes find on ``request.app.state``."""
        self.state.update(state)

    def checks_accounts(self, check: Callable[[Principal], None], keys: KeySource | None = None) -> None:
        """For the service that owns the accounts: its own check of a token's account (and
        its own key source), instead of learning blocks from ``identity.events``."""
        self.principal_check = check
        self.own_accounts = True
        if keys is not None:
            self.keys = keys


@dataclass
class Service(Generic[S]):
    """A service: its settings class, routes and assembly. ``build`` and ``main`` are the
    test entry and the process entry."""

    name: str
    settings_class: type[S]
    assemble: Callable[[Assembly[S]], None]
    routers: Sequence[APIRouter]
    description: str
    title: str = ""
    version: str = "1.0.0"

    def build(self, settings: S | None = None, keys: KeySource | None = None) -> FastAPI:
        settings = settings or self.settings_class()
        kafka.client_options(settings)  # TLS files that cannot be loaded: said now, not at the first publish
        db = Database(settings)
        if not settings.migrate_on_start:
            version, when, by = db.wait_until_migrated(settings.migrate_wait_seconds)
            log.info("schema migrated; checking, not migrating", extra={"fields": {
                "schema": db.schema, "version": version, "migrated_at": str(when), "migrated_by": by}})
            return self._build(settings, keys, db)
        with db.migration_lock():  # replicas starting together migrate one after another
            gateway = self._build(settings, keys, db)
            db.record_migration(self.version)
        return gateway

    def migrate(self, settings: S | None = None) -> None:
        """Applies what the service declares (schema, tables, event store, kit tables,
        seeds) without serving: the migration Job. Idempotent."""
        settings = (settings or self.settings_class()).model_copy(
            update={"migrate_on_start": True, "relay_enabled": True, "subscribers_enabled": True})
        started = time.monotonic()
        gateway = self.build(settings)
        for close in reversed(gateway.state.closers):
            close()
        gateway.state.db.close()
        log.info("migrated", extra={"fields": {"service": self.name, "schema": settings.db_schema,
                                                "version": self.version,
                                                "seconds": round(time.monotonic() - started, 2)}})

    def _build(self, settings: S, keys: KeySource | None, db: Database) -> FastAPI:
        svc: Assembly[S] = Assembly(settings, db, keys, ServiceMetrics(settings.service_name, self.version))
        self.assemble(svc)
        blocks: AccountBlocks | None = None
        if not svc.own_accounts:
            blocks = AccountBlocks(db, keyring=svc.keyring is not None)
            svc.reacts_to("identity.events", reaction=blocks.reaction, handles=ACCOUNT_EVENTS, group="accounts")
            svc.principal_check = blocks.check
            svc.provide(accounts=blocks)
        broker, subscribers = self._subscribe(svc) if svc.subscriptions else (None, [])
        relay = svc.relay

        async def broker_ready() -> None:
            if relay is not None:
                relay.status.check()
                if relay.status.active:
                    return  # it holds a live producer connection
            await runtime.kafka_reachable(settings)

        async def relay_ready() -> str:
            # Always ready (HTTP is served either way); says who publishes, and since when.
            assert relay is not None
            return relay.status.describe()

        gateway = create_gateway(
            settings, db, title=self.title or f"Alpha Peer {self.name}", description=self.description,
            version=self.version,
            metrics=svc.metrics,
            verifier=TokenVerifier(svc.keys or JwksKeySource(settings.jwks_url), settings.jwt_issuer,
                                   settings.jwt_audience),
            readiness={"broker": broker_ready, **({"relay": relay_ready} if relay else {}), **svc.readiness},
            on_shutdown=svc.closers,
            lifespan=runtime.background_lifespan(
                *svc.workers, broker=broker if settings.subscribers_enabled else None,
                before_subscribing=lambda: kafka.ensure_upstream(
                    settings, [t for s in svc.subscriptions for t in s.topics])),
        )
        svc.metrics.watch(relay=relay, projections=svc.projections, accounts=blocks, deadlines=svc.deadline_sets,
                          subscriptions=[
            Subscription(s.group or "main", subscriber, s.reaction)
            for s, subscriber in zip(svc.subscriptions, subscribers, strict=True)])
        gateway.state.metrics = svc.metrics
        gateway.state.relay = relay
        gateway.state.closers = svc.closers
        gateway.state.principal_check = svc.principal_check
        gateway.state.reactions = {s.group or "main": s.reaction for s in svc.subscriptions}
        for key, value in svc.state.items():
            setattr(gateway.state, key, value)
        for router in self.routers:
            gateway.include_router(router)
        return gateway

    def _subscribe(self, svc: Assembly[S]) -> tuple[KafkaBroker, list[IdempotentSubscriber]]:
        broker = make_broker(svc.settings)
        # A database rebuilt from nothing gets a new generation, hence new consumer groups
        # that read every topic from the start.
        generation = consumer_generation(svc.db)
        subscribers = [
            IdempotentSubscriber(broker, svc.settings, topics=sub.topics, reaction=sub.reaction, handles=sub.handles,
                                 group_suffix=f"{generation}.{sub.group}" if sub.group else generation)
            for sub in svc.subscriptions
        ]
        return broker, subscribers

    def main(self) -> None:
        """The process entry point (the console script): serves, or with ``migrate``
        migrates and exits."""
        args = sys.argv[1:]
        if args not in ([], ["migrate"]):
            sys.exit(f"usage: alphapeer-{self.name} [migrate]")
        settings = self.settings_class()
        runtime.configure(settings)
        if args == ["migrate"]:
            self.migrate(settings)
            return
        runtime.serve(self.build(settings), settings)
