"""Builds identity from configuration and runs it: gateway + outbox relay in one process.
Nothing connects at import time; ``build()`` is what tests and the entry point call."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from identity import views
from identity.application import IdentityApplication
from identity.documents import DocumentStore
from identity.http import ROUTERS, install_error_translation
from identity.mail import MailFolder
from identity.services import Identity, email_lookup_key
from identity.settings import IdentitySettings
from identity.tokens import SigningKeyStore
from identity.translate import to_contract
from servicekit import runtime
from servicekit.auth import TokenVerifier
from servicekit.database import Database
from servicekit.gateway import create_gateway
from servicekit.projection import LocalProjection
from servicekit.relay import OutboxRelay
from servicekit.vault import PersonalDataVault

log = logging.getLogger(__name__)

DESCRIPTION = """Accounts, sign-in and tokens (JWKS), roles, public and private profiles, tutor
applications and vetting, suspension, erasure. Publishes `identity.events`."""


def build(settings: IdentitySettings | None = None) -> FastAPI:
    settings = settings or IdentitySettings()
    db = Database(settings)
    vault = PersonalDataVault(db)
    app = IdentityApplication(env=db.eventsourcing_env(), vault=vault,
                              lookup_key=email_lookup_key(settings.identity_secret))
    keys = SigningKeyStore(db, settings.identity_secret, settings.identity_access_token_ttl)
    keys.ensure_key()
    svc = Identity(settings, app, keys, MailFolder(settings.mail_dir),
                   DocumentStore(db, vault, settings.upload_dir, settings.identity_upload_max_bytes))
    if settings.identity_bootstrap_admin_email and settings.identity_bootstrap_admin_password:
        app.ensure_admin(settings.identity_bootstrap_admin_email, settings.identity_bootstrap_admin_password,
                         "Platform admin")
    relay = OutboxRelay(app, db, settings, to_contract) if settings.relay_enabled else None
    queue = LocalProjection(app, db, "application_queue", views.QUEUE_DDL, views.apply)

    async def broker_ready() -> None:
        if relay is not None and relay.status.active:
            if not relay.status.connected:
                raise ConnectionError(relay.status.last_error or "relay not connected to the broker")
            return
        await runtime.kafka_reachable(settings.kafka_bootstrap_servers)

    gateway = create_gateway(
        settings, db, title="Alpha Peer identity", description=DESCRIPTION,
        verifier=TokenVerifier(keys, settings.jwt_issuer, settings.jwt_audience),
        readiness={"broker": broker_ready},
        on_shutdown=[app.close],
        lifespan=runtime.background_lifespan(relay, queue),
    )
    gateway.state.identity = svc
    gateway.state.relay = relay
    gateway.state.queue = queue
    gateway.state.principal_check = svc.check_principal
    install_error_translation(gateway)
    for router in ROUTERS:
        gateway.include_router(router)
    return gateway


def main() -> None:
    settings = IdentitySettings()
    runtime.configure(settings)
    runtime.serve(build(settings), settings)


if __name__ == "__main__":  # pragma: no cover
    main()
