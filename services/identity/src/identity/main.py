"""Accounts, sign-in and tokens (JWKS), roles, public and private profiles, tutor
applications and vetting, suspension, erasure. Publishes `identity.events`."""

from __future__ import annotations

from identity.adapters import review_queue
from identity.adapters.ports import ports
from identity.application import IdentityApplication
from identity.http import ROUTERS
from identity.settings import IdentitySettings
from identity.translate import to_contract
from servicekit.service import Assembly, Service


def assemble(svc: Assembly[IdentitySettings]) -> None:
    s, given = svc.settings, ports(svc)
    app = svc.event_store(IdentityApplication, **given)
    if s.identity_bootstrap_admin_email and s.identity_bootstrap_admin_password:  # a migration step (the Job)
        svc.seed(lambda: app.ensure_admin(s.identity_bootstrap_admin_email, s.identity_bootstrap_admin_password,
                                          "Platform admin"), "bootstrap admin")
    svc.publishes(app, to_contract)
    queue = svc.projects_own(app, "application_queue", review_queue.QUEUE_DDL, review_queue.apply)
    # Identity owns the accounts and the keys: it checks both itself, with no round trip.
    svc.checks_accounts(app.check_principal, keys=given["tokens"])
    svc.provide(identity=app, queue=review_queue.ReviewQueue(queue, app.public_text), keys=given["tokens"])


service = Service("identity", IdentitySettings, assemble, ROUTERS, description=__doc__ or "")
build, main = service.build, service.main
