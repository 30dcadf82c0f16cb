"""Booking: tutors' availability, free slots and the booking lifecycle — requests, credits
held by the ledger, confirmation, cancellation, moves, outcomes, disputes, settlement — with
a calendar feed per user. Publishes `booking.events`; reacts to `identity.events`,
`catalog.events`, `ledger.events` and `sessions.events`."""

from __future__ import annotations

from booking.adapters.disputes import DDL as DISPUTE_QUEUE
from booking.adapters.disputes import TOPICS, DisputeQueue, apply
from booking.application import BookingApplication
from booking.domain.booking import Booking
from booking.http import ROUTERS
from booking.settings import BookingSettings
from booking.translate import Translator
from servicekit.eventstore import event_topics
from servicekit.service import Assembly, Service
from servicekit.subscriber import AggregateReaction
from servicekit.vault import PersonalDataVault


def assemble(svc: Assembly[BookingSettings]) -> None:
    # Words people write (reasons, dispute statements) are sealed under their key: erasure forgets it.
    app = svc.event_store(BookingApplication, rules=svc.settings.rules, sealer=PersonalDataVault(svc.db),
                          feed_key=svc.settings.feed_key, clock=svc.settings.now)
    svc.publishes(app, Translator(app))
    svc.reacts_to("identity.events", "catalog.events", "ledger.events", "sessions.events",
                  reaction=AggregateReaction(app, app.react))
    deadlines = svc.deadlines(app, app.deadlines_of, app.fire, clock=app.now, topics=event_topics(Booking))
    queue = DisputeQueue(svc.db)
    queue.projection = svc.projects_own(app, "dispute_queue", DISPUTE_QUEUE, apply, topics=TOPICS)
    svc.provide(booking=app, deadlines=deadlines, disputes=queue)


service = Service("booking", BookingSettings, assemble, ROUTERS, description=__doc__ or "")
build, main = service.build, service.main

if __name__ == "__main__":  # pragma: no cover
    main()
