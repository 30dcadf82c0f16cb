"""Builds matching from configuration and runs it: the directory search gateway and the
subscribers that project identity's and catalog's events into its read model."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI

from matching import views
from matching.directory import Directory
from matching.embedding import Embedder
from matching.http import ROUTERS
from matching.recommend import Recommender, Tuning
from matching.settings import MatchingSettings
from servicekit import runtime
from servicekit.auth import JwksKeySource, KeySource, TokenVerifier
from servicekit.database import Database
from servicekit.gateway import create_gateway
from servicekit.subscriber import IdempotentSubscriber, ProjectionReaction, consumer_generation, make_broker

DESCRIPTION = """The tutor directory: a read model built only from `identity.events` and
`catalog.events`, searchable by subject, level, text, price, mode, distance, language, style;
recommendations for a learning need (all-MiniLM-L6-v2 on ONNX Runtime) with the reasons."""


class VectorIndexer:
    """Keeps the directory fresh and gives new expertise texts their sentence vectors, in
    the background: a query never waits for the model to read a bio."""

    def __init__(self, directory: Directory, interval: float) -> None:
        self.directory = directory
        self.interval = interval
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            await asyncio.to_thread(self.directory.refresh)
            done = await asyncio.to_thread(self.directory.index_pending)
            if not done:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)

    async def stop(self) -> None:
        self._stopping.set()


def build(settings: MatchingSettings | None = None, keys: KeySource | None = None) -> FastAPI:
    settings = settings or MatchingSettings()
    db = Database(settings)
    db.execute_script(views.ddl(db))
    reaction = ProjectionReaction(db, views.apply)
    broker = make_broker(settings)
    IdempotentSubscriber(broker, settings, topics=["identity.events", "catalog.events"], reaction=reaction,
                         group_suffix=consumer_generation(db))
    memo = Database(settings.model_copy(update={"database_schema": f"{db.schema}_memo",
                                                "service_name": f"{settings.service_name}-memo"}))
    memo.execute_script(views.memo_ddl())
    embedder = Embedder.shared(settings.matching_model_dir, settings.matching_embed_threads)
    directory = Directory(db, settings.matching_refresh_interval,
                          {"text": settings.matching_weight_text, "price": settings.matching_weight_price,
                           "distance": settings.matching_weight_distance}, embedder=embedder, memo=memo)
    directory.load()
    recommender = Recommender(directory, embedder, Tuning(
        weights=settings.recommend_weights(), new_tutor_days=settings.matching_new_tutor_days,
        new_max_choices=settings.matching_new_tutor_max_choices,
        exposure_positions=tuple(settings.matching_exposure_positions),
        exposure_min_fit=settings.matching_exposure_min_fit))
    indexer = VectorIndexer(directory, settings.matching_refresh_interval)

    async def broker_ready() -> None:
        await runtime.kafka_reachable(settings.kafka_bootstrap_servers)

    gateway = create_gateway(
        settings, db, title="Alpha Peer matching", description=DESCRIPTION,
        verifier=TokenVerifier(keys or JwksKeySource(settings.jwks_url), settings.jwt_issuer, settings.jwt_audience),
        readiness={"broker": broker_ready},
        on_shutdown=[memo.close],
        lifespan=runtime.background_lifespan(indexer, broker=broker if settings.subscribers_enabled else None),
    )
    gateway.state.directory = directory
    gateway.state.recommender = recommender
    gateway.state.indexer = indexer
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
