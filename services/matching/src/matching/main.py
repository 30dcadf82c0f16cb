"""Builds matching from configuration and runs it: the directory search gateway and the
subscribers that project identity's and catalog's events into its read model."""

from __future__ import annotations

from fastapi import FastAPI

from matching import views
from matching.directory import Directory
from matching.http import ROUTERS
from matching.settings import MatchingSettings
from servicekit import runtime
from servicekit.auth import JwksKeySource, KeySource, TokenVerifier
from servicekit.database import Database
from servicekit.gateway import create_gateway
from servicekit.subscriber import IdempotentSubscriber, ProjectionReaction, consumer_generation, make_broker

DESCRIPTION = """The tutor directory: a read model built only from `identity.events` and
`catalog.events`, searchable by subject, level, text, price, mode, distance, language, style."""


def build(settings: MatchingSettings | None = None, keys: KeySource | None = None) -> FastAPI:
    settings = settings or MatchingSettings()
    db = Database(settings)
    db.execute_script(views.ddl(db))
    reaction = ProjectionReaction(db, views.apply)
    broker = make_broker(settings)
    IdempotentSubscriber(broker, settings, topics=["identity.events", "catalog.events"], reaction=reaction,
                         group_suffix=consumer_generation(db))
    directory = Directory(db, settings.matching_refresh_interval,
                          {"text": settings.matching_weight_text, "price": settings.matching_weight_price,
                           "distance": settings.matching_weight_distance})
    directory.load()

    async def broker_ready() -> None:
        await runtime.kafka_reachable(settings.kafka_bootstrap_servers)

    gateway = create_gateway(
        settings, db, title="Alpha Peer matching", description=DESCRIPTION,
        verifier=TokenVerifier(keys or JwksKeySource(settings.jwks_url), settings.jwt_issuer, settings.jwt_audience),
        readiness={"broker": broker_ready},
        lifespan=runtime.background_lifespan(broker=broker if settings.subscribers_enabled else None),
    )
    gateway.state.directory = directory
    gateway.state.reaction = reaction
    for router in ROUTERS:
        gateway.include_router(router)
    return gateway


def main() -> None:
    settings = MatchingSettings()
    runtime.configure(settings)
    runtime.serve(build(settings), settings)


if __name__ == "__main__":  # pragma: no cover
    main()
