"""Centres: campus tutoring centres — their locations, opening hours in their own time zone,
dated closures, the courses they cover, their rosters of tutors and their own staff (who
manage that centre only) — and each centre's drop-in queue, live over Server-Sent Events.
Publishes `centres.events`."""

from __future__ import annotations

from centres.adapters import views
from centres.application import CentresApplication
from centres.http import ROUTERS
from centres.settings import CentresSettings
from centres.translate import Translator
from servicekit.service import Assembly, Service
from servicekit.streams import Watch
from servicekit.vault import PersonalDataVault


def assemble(svc: Assembly[CentresSettings]) -> None:
    app = svc.event_store(CentresApplication, sealer=PersonalDataVault(svc.db), escalation=svc.settings.escalation,
                          clock=svc.settings.now)
    svc.publishes(app, Translator(app))
    centre_list = views.CentreList(svc.db)
    centre_list.projection = svc.projects_own(app, "centre_list", views.DDL, views.apply, topics=views.TOPICS)
    watch = Watch(app.queue_version, app.queue_state, limit=svc.settings.centres_max_live_views)
    svc.provide(centres=app, centre_list=centre_list, queue_watch=watch)


service = Service("centres", CentresSettings, assemble, ROUTERS, description=__doc__ or "")
build, main = service.build, service.main
