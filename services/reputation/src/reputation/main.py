"""Reputation: reviews by the students of sessions that took place (editable for a day, one
answer from the tutor, abusive text and gaming held for staff), each tutor's Bayesian rating
and reliability, probation for new tutors, badges, and certificates anyone can verify by code
(hours per term, course completion, teaching). Publishes `reputation.events`; reacts to
`sessions.events`, `booking.events`, `catalog.events` and `identity.events`."""

from __future__ import annotations

from reputation.adapters import views
from reputation.application import ReputationApplication
from reputation.http import ROUTERS
from reputation.settings import ReputationSettings
from reputation.translate import Translator
from servicekit.service import Assembly, Service
from servicekit.subscriber import AggregateReaction
from servicekit.vault import PersonalDataVault


def assemble(svc: Assembly[ReputationSettings]) -> None:
    ring = svc.reads_personal_data_of("identity")  # names arrive sealed; certificates show them
    app = svc.event_store(ReputationApplication, rules=svc.settings.rules, sealer=PersonalDataVault(svc.db),
                          names=lambda user, sealed: ring.open("identity", user, sealed), clock=svc.settings.now)
    svc.publishes(app, Translator(app))
    svc.reacts_to("sessions.events", "booking.events", "catalog.events", "identity.events",
                  reaction=AggregateReaction(app, app.react))
    read = views.Views(svc.db)
    read.projection = svc.projects_own(app, "views", views.DDL, views.apply, topics=views.TOPICS)
    svc.provide(reputation=app, views=read)


service = Service("reputation", ReputationSettings, assemble, ROUTERS, description=__doc__ or "")
build, main = service.build, service.main
