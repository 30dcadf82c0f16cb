"""Sessions: the tutoring itself — a session per confirmed booking occurrence, LiveKit rooms and
join tokens (or the tutor's meeting link), in-person check-in, attendance, recording with
consent, chat and files with reports, completion and no-shows, assessments, learning plans and
progress reports, transcripts with summaries and an assistant. Publishes `sessions.events`;
reacts to `booking.events` and `identity.events`."""

from __future__ import annotations

from servicekit.eventstore import event_topics
from servicekit.service import Assembly, Service
from servicekit.subscriber import AggregateReaction
from servicekit.vault import PersonalDataVault
from sessions.adapters import providers, views
from sessions.application import SessionsApplication
from sessions.domain.session import Session
from sessions.http import ROUTERS
from sessions.settings import SessionsSettings
from sessions.translate import Translator


def assemble(svc: Assembly[SessionsSettings]) -> None:
    s = svc.settings
    app = svc.event_store(SessionsApplication, rules=s.rules, sealer=PersonalDataVault(svc.db), **providers(s),
                          check_in_key=s.check_in_key, limits=s.limits,
                          clock=s.now)
    svc.publishes(app, Translator(app))
    svc.reacts_to("booking.events", "identity.events", reaction=AggregateReaction(app, app.react))
    deadlines = svc.deadlines(app, app.deadlines_of, app.fire, clock=app.now, topics=event_topics(Session))
    read = views.Views(svc.db)
    read.projection = svc.projects_own(app, "views", views.DDL, views.apply, topics=views.TOPICS)
    svc.provide(sessions=app, deadlines=deadlines, views=read)


service = Service("sessions", SessionsSettings, assemble, ROUTERS, description=__doc__ or "")
build, main = service.build, service.main
