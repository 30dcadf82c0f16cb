"""Booking's gateway in-process on a real PostgreSQL, with tokens signed by the test key
(servicekit.testing.ISSUER), other services' events fed to booking's own reaction exactly as
the subscriber would (servicekit.testing.Feed), and a clock the tests move: deadlines are
fired by ``h.fire(at)`` rather than by waiting."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from alphapeer_contracts import catalog as cat
from alphapeer_contracts import identity as idc
from alphapeer_contracts import ledger as led
from alphapeer_contracts import sessions as ses
from booking.application import BookingApplication
from booking.main import build
from booking.settings import BookingSettings
from servicekit.testing import ISSUER, Clock, Feed, fire_deadlines, gateway

#: Monday 6 January 2031, 08:00 UTC (09:00 in Berlin): the tests' "now" unless moved.
T0 = datetime(2031, 1, 6, 8, 0, tzinfo=UTC)

WEEKDAYS_9_TO_5 = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(5)]


class Booking:
    """The running gateway (``client``), its application, its clock, and the other services'
    events (``feed``: booking's own reaction, the one the subscriber calls)."""

    def __init__(self, client: TestClient, clock: Clock) -> None:
        self.client = client
        self.clock = clock
        self.app: BookingApplication = client.app.state.booking  # type: ignore[attr-defined]
        self.app.clock = clock
        self.deadlines = client.app.state.deadlines  # type: ignore[attr-defined]
        self.feed = Feed(client.app.state.reactions["main"])  # type: ignore[attr-defined]

    @staticmethod
    def token(user: UUID | None = None, *roles: str) -> dict[str, str]:
        return ISSUER.headers(user, *roles)

    # -- other services' facts -------------------------------------------------------------

    def listing(self, tutor: UUID, *, rate: dict[str, Any] | None = None, minutes: list[int] | None = None,
                modes: list[str] | None = None, trial: dict[str, Any] | None = None) -> UUID:
        listing_id = uuid.uuid4()
        snapshot = cat.ListingSnapshot(
            tutor_id=tutor, title="Mechanics without tears", subjects=[], languages=["en"],
            rate=cat.Rate(**(rate or {"credits_per_hour": 12, "amount_minor_per_hour": 2500, "currency": "GBP"})),
            session_minutes=minutes or [30, 60], modes=modes or ["online", "in_person"],
            trial=cat.TrialOffer(**trial) if trial else None)
        self.feed(cat.ListingPublished(listing_id=listing_id, listing=snapshot, occurred_at=self.clock()))
        return listing_id

    def promotion(self, listing_id: UUID, tutor: UUID, code: str, **terms: Any) -> UUID:
        promotion_id = uuid.uuid4()
        self.feed(cat.PromotionCreated(listing_id=listing_id, promotion_id=promotion_id, tutor_id=tutor, code=code,
                                       expires_at=self.clock() + timedelta(days=30), occurred_at=self.clock(),
                                       **terms))
        return promotion_id

    def held(self, booking_id: str | UUID) -> bool:
        b = self.app.booking_for(UUID(str(booking_id)), _staff())
        holds = [led.Hold(occurrence=o["occurrence"], transfer_id=uuid.uuid4(), amount=o["price"])
                 for o in b.occurrences]
        return self.feed(led.EscrowHeld(booking_id=b.id, payer_id=b.payer_id, currency=b.currency, holds=holds,
                                        total=b.total, expires_at=b.hold_until, occurred_at=self.clock()))

    def rejected(self, booking_id: str | UUID, reason: str = "insufficient_funds") -> bool:
        b = self.app.booking_for(UUID(str(booking_id)), _staff())
        return self.feed(led.EscrowHoldRejected(booking_id=b.id, payer_id=b.payer_id, currency=b.currency,
                                                reason_code=reason, required=b.total, available=0,  # type: ignore[arg-type]
                                                occurred_at=self.clock()))

    def completed(self, booking_id: str | UUID, occurrence: int = 0) -> bool:
        b = self.app.booking_for(UUID(str(booking_id)), _staff())
        o = b.occurrences[occurrence]
        return self.feed(ses.SessionCompleted(booking_id=b.id, occurrence=occurrence, started_at=o["starts_at"],
                                              ended_at=o["ends_at"], occurred_at=self.clock()))

    def suspend(self, user: UUID) -> bool:
        return self.feed(idc.UserSuspended(user_id=user, suspended_by=uuid.uuid4(), reason_code="conduct",
                                           occurred_at=self.clock()))

    # -- booking's own API ----------------------------------------------------------------

    def availability(self, tutor: UUID, **rules: Any) -> dict[str, Any]:
        body = {"time_zone": "Europe/Berlin", "weekly": WEEKDAYS_9_TO_5, "min_notice_minutes": 120, **rules}
        r = self.client.put("/v1/tutors/me/availability", json=body, headers=self.token(tutor, "tutor"))
        assert r.status_code == 200, r.text
        return dict(r.json())

    def tutor(self, **rules: Any) -> tuple[UUID, UUID]:
        """A tutor with a published listing and availability: (tutor id, listing id)."""
        tutor = uuid.uuid4()
        listing_kw = {k: rules.pop(k) for k in ("rate", "minutes", "modes", "trial") if k in rules}
        listing_id = self.listing(tutor, **listing_kw)
        self.availability(tutor, **rules)
        return tutor, listing_id

    def book(self, student: UUID, listing_id: UUID, *starts: datetime | str, expect: int = 201,
             **body: Any) -> dict[str, Any]:
        payload = {"listing_id": str(listing_id), "minutes": 60,
                   "starts_at": [s if isinstance(s, str) else s.isoformat() for s in starts], **body}
        r = self.client.post("/v1/bookings", json=payload, headers=self.token(student, "student"))
        assert r.status_code == expect, r.text
        return dict(r.json())

    def get(self, booking_id: str, user: UUID | None = None) -> dict[str, Any]:
        headers = self.token(user, "student") if user else self.token(None, "staff")
        r = self.client.get(f"/v1/bookings/{booking_id}", headers=headers)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def fire(self, at: datetime | None = None) -> int:
        """Move the clock to ``at`` and act on every deadline due then."""
        if at is not None:
            self.clock.now = at
        return fire_deadlines(self.deadlines, self.clock())

    def public_events(self, booking_id: str | UUID | None = None) -> list[Any]:
        """What the outbox would publish on booking.events, in order."""
        from booking.translate import Translator

        translate = Translator(self.app)
        events = [translate(self.app.mapper.to_domain_event(n))
                  for n in self.app.recorder.select_notifications(start=1, limit=100_000)]
        events = [e for e in events if e is not None]
        if booking_id is not None:
            events = [e for e in events if str(getattr(e, "booking_id", "")) == str(booking_id)]
        return events

    def names(self, booking_id: str | UUID) -> list[str]:
        return [type(e).__name__ for e in self.public_events(booking_id)]


def _staff() -> Any:
    from booking.domain.commands import Caller

    return Caller(uuid.uuid4(), staff=True)


@pytest.fixture
def launch(postgres_url: str, pg_schema: str, tmp_path: Path) -> Iterator[Callable[..., Booking]]:
    """Starts booking with the test settings (no relay, no broker) plus ``overrides``."""
    with ExitStack() as running:
        def start(now: datetime = T0, **overrides: Any) -> Booking:
            client = gateway(build, BookingSettings, postgres_url, pg_schema, tmp_path, **overrides)
            return Booking(running.enter_context(client), Clock(now))

        yield start


@pytest.fixture
def h(launch: Callable[..., Booking]) -> Booking:
    return launch()
