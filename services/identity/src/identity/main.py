"""Accounts, sign-in and tokens (JWKS), roles, public and private profiles, tutor
applications and vetting, suspension, erasure. Publishes `identity.events`."""

from __future__ import annotations

from identity.adapters import access_log, background, documents, email_lookup, mail, review_queue, signing_keys
from identity.adapters.passwords import hasher_for
from identity.adapters.throttle import PgThrottle, limits_from
from identity.application import IdentityApplication
from identity.http import ROUTERS
from identity.settings import IdentitySettings
from identity.translate import to_contract
from servicekit.blobstore import LocalBlobStore
from servicekit.service import Assembly, Service
from servicekit.vault import PersonalDataVault


def assemble(svc: Assembly[IdentitySettings]) -> None:
    s, db, vault = svc.settings, svc.db, PersonalDataVault(svc.db)
    keys = signing_keys.SigningKeyStore(db, s.identity_secret, s.identity_access_token_ttl, s.jwt_issuer,
                                        s.jwt_audience)
    docs = documents.DocumentStore(db, vault, LocalBlobStore(s.upload_dir), s.identity_upload_max_bytes)
    app = svc.event_store(IdentityApplication, vault=vault, lookup_key=email_lookup.email_lookup_key(s.identity_secret),
                          tokens=keys, mailer=mail.mailer_for(s), documents=docs, background=background.provider_for(s),
                          throttle=PgThrottle(db), access_log=access_log.DocumentAccessLog(db, s.identity_secret),
                          limits=limits_from(s), reset_ttl=s.identity_password_reset_ttl, hasher=hasher_for(s))
    if s.identity_bootstrap_admin_email and s.identity_bootstrap_admin_password:  # a migration step (the Job)
        svc.seed(lambda: app.ensure_admin(s.identity_bootstrap_admin_email, s.identity_bootstrap_admin_password,
                                          "Platform admin"), "bootstrap admin")
    svc.publishes(app, to_contract)
    queue = svc.projects_own(app, "application_queue", review_queue.QUEUE_DDL, review_queue.apply)
    # Identity owns the accounts and the keys: it checks both itself, with no round trip.
    svc.checks_accounts(app.check_principal, keys=keys)
    svc.on_shutdown(docs.close)
    svc.provide(identity=app, queue=review_queue.ReviewQueue(queue), keys=keys)


service = Service("identity", IdentitySettings, assemble, ROUTERS, description=__doc__ or "")
build, main = service.build, service.main
