"""Sessions: the tutoring itself — a session per confirmed booking occurrence, LiveKit rooms and
join tokens (or the tutor's meeting link), in-person check-in, attendance, recording with
consent, chat and files with reports, completion and no-shows. Publishes `sessions.events`;
reacts to `booking.events` and `identity.events`."""

from __future__ import annotations

from servicekit.blobstore import LocalBlobStore
from servicekit.eventstore import event_topics
from servicekit.service import Assembly, Service
from servicekit.subscriber import AggregateReaction
from servicekit.vault import PersonalDataVault
from sessions.adapters import views
from sessions.adapters.video import LiveKit, NoVideo
from sessions.application import SessionsApplication
from sessions.domain.session import Session
from sessions.http import ROUTERS
from sessions.settings import SessionsSettings
from sessions.translate import Translator


def assemble(svc: Assembly[SessionsSettings]) -> None:
    s = svc.settings
    secret = s.sessions_livekit_api_secret.get_secret_value()
    video = LiveKit(s.sessions_livekit_url, s.sessions_livekit_api_key, secret,
                    api_url=s.sessions_livekit_api_url) if s.sessions_livekit_url else NoVideo()
    app = svc.event_store(SessionsApplication, rules=s.rules, sealer=PersonalDataVault(svc.db), video=video,
                          files=LocalBlobStore(s.files_dir), check_in_key=s.check_in_key, limits=s.limits,
                          clock=s.now)
    svc.publishes(app, Translator(app))
    svc.reacts_to("booking.events", "identity.events", reaction=AggregateReaction(app, app.react))
    deadlines = svc.deadlines(app, app.deadlines_of, app.fire, clock=app.now, topics=event_topics(Session))
    read = views.Views(svc.db)
    read.projection = svc.projects_own(app, "views", views.DDL, views.apply, topics=views.TOPICS)
    svc.provide(sessions=app, deadlines=deadlines, views=read)


service = Service("sessions", SessionsSettings, assemble, ROUTERS, description=__doc__ or "")
build, main = service.build, service.main
