"""Catalog: the subject taxonomy, tutor listings, media, promotions and courses.
Publishes `catalog.events`; reacts to `identity.events`."""

from __future__ import annotations

from catalog.adapters.media import MediaStore, media_blobs
from catalog.application import CatalogApplication
from catalog.http import ROUTERS
from catalog.settings import CatalogSettings
from catalog.translate import to_contract
from servicekit.service import Assembly, Service
from servicekit.subscriber import AggregateReaction


def assemble(svc: Assembly[CatalogSettings]) -> None:
    media = MediaStore(media_blobs(svc.settings), svc.settings.media_limits, svc.settings.catalog_public_url)
    svc.on_shutdown(media.close)
    # A tutor's bio, qualifications and place travel sealed; erasure destroys the key.
    app = svc.event_store(CatalogApplication, media_files=media, sealer=svc.shares_personal_data())
    svc.seed(app.ensure_taxonomy)  # a migration step: the Job seeds, replicas do not
    svc.publishes(app, to_contract)
    svc.reacts_to("identity.events", reaction=AggregateReaction(app, app.react_to_identity))
    svc.provide(catalog=app)


service = Service("catalog", CatalogSettings, assemble, ROUTERS, description=__doc__ or "")
build, main = service.build, service.main

if __name__ == "__main__":  # pragma: no cover
    main()
