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
- the gateway (:func:`servicekit.gateway.create_gateway`) with the service's routers;
- the process entry point (logging, tracing, uvicorn).

Nothing connects at import time: ``service.build(settings)`` is what the entry point and
the tests call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaBroker

from servicekit import runtime
from servicekit.accounts import HANDLES as ACCOUNT_EVENTS
from servicekit.accounts import AccountBlocks
from servicekit.auth import JwksKeySource, KeySource, Principal, TokenVerifier
from servicekit.database import Cursor, Database
from servicekit.eventstore import ServiceApplication
from servicekit.gateway import ReadinessCheck, create_gateway
from servicekit.projection import LocalProjection
from servicekit.relay import OutboxRelay, Translator
from servicekit.runtime import Worker
from servicekit.settings import ServiceSettings
from servicekit.subscriber import IdempotentSubscriber, Reaction, consumer_generation, make_broker

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

    def __init__(self, settings: S, db: Database, keys: KeySource | None) -> None:
        self.settings = settings
        self.db = db
        self.keys = keys
        self.relay: OutboxRelay | None = None
        self.state: dict[str, Any] = {}
        self.workers: list[Worker] = []
        self.readiness: dict[str, ReadinessCheck] = {}
        self.closers: list[Callable[[], None]] = []
        self.subscriptions: list[_Subscription] = []
        self.principal_check: Callable[[Principal], None] | None = None
        self.own_accounts = False

    # -- storage -------------------------------------------------------------------------

    def event_store(self, app_class: type[App], **ports: Any) -> App:
        """The service's event-sourced application on its database; ``ports`` are passed on."""
        app = app_class(env=self.db.eventsourcing_env(), **ports)
        self.closers.append(app.close)
        return app

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
                     apply: Callable[[Cursor, Any], None]) -> LocalProjection:
        """A read model of the service's own events, kept in the background (read-your-writes
        with ``wait_for``)."""
        projection = LocalProjection(app, self.db, name, ddl, apply)
        self.workers.append(projection)
        return projection

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
        db = Database(settings)
        svc: Assembly[S] = Assembly(settings, db, keys)
        self.assemble(svc)
        if not svc.own_accounts:
            blocks = AccountBlocks(db)
            svc.reacts_to("identity.events", reaction=blocks.reaction, handles=ACCOUNT_EVENTS, group="accounts")
            svc.principal_check = blocks.check
            svc.provide(accounts=blocks)
        broker = self._subscribe(svc) if svc.subscriptions else None
        relay = svc.relay

        async def broker_ready() -> None:
            if relay is not None:
                relay.status.check()
                if relay.status.active:
                    return  # it holds a live producer connection
            await runtime.kafka_reachable(settings.kafka_bootstrap_servers)

        gateway = create_gateway(
            settings, db, title=self.title or f"Alpha Peer {self.name}", description=self.description,
            version=self.version,
            verifier=TokenVerifier(svc.keys or JwksKeySource(settings.jwks_url), settings.jwt_issuer,
                                   settings.jwt_audience),
            readiness={"broker": broker_ready, **svc.readiness},
            on_shutdown=svc.closers,
            lifespan=runtime.background_lifespan(
                *svc.workers, broker=broker if settings.subscribers_enabled else None),
        )
        gateway.state.relay = relay
        gateway.state.principal_check = svc.principal_check
        gateway.state.reactions = {s.group or "main": s.reaction for s in svc.subscriptions}
        for key, value in svc.state.items():
            setattr(gateway.state, key, value)
        for router in self.routers:
            gateway.include_router(router)
        return gateway

    def _subscribe(self, svc: Assembly[S]) -> KafkaBroker:
        broker = make_broker(svc.settings)
        # A database rebuilt from nothing gets a new generation, hence new consumer groups
        # that read every topic from the start.
        generation = consumer_generation(svc.db)
        for sub in svc.subscriptions:
            IdempotentSubscriber(broker, svc.settings, topics=sub.topics, reaction=sub.reaction, handles=sub.handles,
                                 group_suffix=f"{generation}.{sub.group}" if sub.group else generation)
        return broker

    def main(self) -> None:
        """The process entry point (the console script)."""
        settings = self.settings_class()
        runtime.configure(settings)
        runtime.serve(self.build(settings), settings)
