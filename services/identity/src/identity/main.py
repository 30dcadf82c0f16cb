"""Accounts, sign-in and tokens (JWKS), roles, public and private profiles, tutor
applications and vetting, suspension, erasure. Publishes `identity.events`."""

from __future__ import annotations

from identity.adapters import background, documents, email_lookup, mail, review_queue, signing_keys
from identity.application import IdentityApplication
from identity.http import ROUTERS
from identity.settings import IdentitySettings
from identity.translate import to_contract
from servicekit.blobstore import LocalBlobStore
from servicekit.service import Assembly, Service
from servicekit.vault import PersonalDataVault


def assemble(svc: Assembly[IdentitySettings]) -> None:
    s, vault = svc.settings, PersonalDataVault(svc.db)
    keys = signing_keys.SigningKeyStore(svc.db, s.identity_secret, s.identity_access_token_ttl, s.jwt_issuer,
                                        s.jwt_audience)
    docs = documents.DocumentStore(svc.db, vault, LocalBlobStore(s.upload_dir), s.identity_upload_max_bytes)
    app = svc.event_store(IdentityApplication, vault=vault, lookup_key=email_lookup.email_lookup_key(s.identity_secret),
                          tokens=keys, mailer=mail.MailFolder(s.mail_dir, s.identity_public_url), documents=docs,
                          background=background.provider_for(s.identity_background_check_provider))
    if s.identity_bootstrap_admin_email and s.identity_bootstrap_admin_password:
        app.ensure_admin(s.identity_bootstrap_admin_email, s.identity_bootstrap_admin_password, "Platform admin")
    svc.publishes(app, to_contract)
    queue = svc.projects_own(app, "application_queue", review_queue.QUEUE_DDL, review_queue.apply)
    # Identity owns the accounts and the keys: it checks both itself, with no round trip.
    svc.checks_accounts(app.check_principal, keys=keys)
    svc.on_shutdown(docs.close)
    svc.provide(identity=app, queue=review_queue.ReviewQueue(queue), keys=keys)


service = Service("identity", IdentitySettings, assemble, ROUTERS, description=__doc__ or "")
build, main = service.build, service.main

if __name__ == "__main__":  # pragma: no cover
    main()
