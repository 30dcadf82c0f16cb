"""Builds catalog from configuration and runs it: gateway, outbox relay and the
subscriber to identity's events in one process."""

from __future__ import annotations

from fastapi import FastAPI

from catalog.application import CatalogApplication
from catalog.http import ROUTERS, install_error_translation
from catalog.media import MediaStore
from catalog.settings import CatalogSettings
from catalog.translate import to_contract
from servicekit import runtime
from servicekit.auth import JwksKeySource, KeySource, TokenVerifier
from servicekit.blobstore import BlobStore, LocalBlobStore, S3BlobStore
from servicekit.database import Database
from servicekit.gateway import create_gateway
from servicekit.relay import OutboxRelay
from servicekit.subscriber import AggregateReaction, IdempotentSubscriber, consumer_generation, make_broker

DESCRIPTION = """The subject taxonomy and tutor listings (subjects and levels, rates, modes, place,
languages, styles, media). Publishes `catalog.events`; reacts to `identity.events`."""


def media_blobs(settings: CatalogSettings) -> BlobStore:
    """The blob store ``ALPHAPEER_CATALOG_MEDIA_BACKEND`` names (settings checked it is complete)."""
    if settings.catalog_media_backend == "s3":
        secret = settings.catalog_s3_secret_access_key
        return S3BlobStore(settings.catalog_s3_endpoint_url or "", settings.catalog_s3_bucket or "",
                           settings.catalog_s3_region, settings.catalog_s3_access_key_id or "",
                           secret.get_secret_value() if secret else "", settings.catalog_s3_prefix)
    return LocalBlobStore(settings.media_dir)


def build(settings: CatalogSettings | None = None, keys: KeySource | None = None) -> FastAPI:
    settings = settings or CatalogSettings()
    db = Database(settings)
    app = CatalogApplication(env=db.eventsourcing_env())
    app.ensure_taxonomy()
    relay = OutboxRelay(app, db, settings, to_contract) if settings.relay_enabled else None
    broker = make_broker(settings)
    media = MediaStore(media_blobs(settings), settings.media_limits, settings.catalog_public_url)
    IdempotentSubscriber(broker, settings, topics=["identity.events"],
                         reaction=AggregateReaction(app, app.react_to_identity), group_suffix=consumer_generation(db))

    async def broker_ready() -> None:
        if relay is not None and relay.status.active and not relay.status.connected:
            raise ConnectionError(relay.status.last_error or "relay not connected to the broker")
        await runtime.kafka_reachable(settings.kafka_bootstrap_servers)

    gateway = create_gateway(
        settings, db, title="Alpha Peer catalog", description=DESCRIPTION,
        verifier=TokenVerifier(keys or JwksKeySource(settings.jwks_url), settings.jwt_issuer, settings.jwt_audience),
        readiness={"broker": broker_ready},
        on_shutdown=[app.close, media.close],
        lifespan=runtime.background_lifespan(relay, broker=broker if settings.subscribers_enabled else None),
    )
    gateway.state.catalog = app
    gateway.state.media = media
    install_error_translation(gateway)
    for router in ROUTERS:
        gateway.include_router(router)
    return gateway


def main() -> None:
    settings = CatalogSettings()
    runtime.configure(settings)
    runtime.serve(build(settings), settings)


if __name__ == "__main__":  # pragma: no cover
    main()
