"""Booking's domain events → public contracts (``booking.events``). Anything not listed is
internal (diaries, listing terms, promotion redemptions, notes in words) and never leaves the
service. A booking's parties and listing never change, so they are read from the booking
once and remembered; everything that does change travels in the event itself."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from alphapeer_contracts import booking as c
from alphapeer_contracts.base import IntegrationEvent
from booking.domain.availability import Availability
from booking.domain.booking import Booking
from servicekit.eventstore import ServiceApplication

_B: Any = Booking  # event classes are made by the @event decorator, unseen by type checkers
_A: Any = Availability


def _occurrences(items: list[dict[str, Any]]) -> list[c.Occurrence]:
    return [c.Occurrence(occurrence=o["occurrence"], starts_at=o["starts_at"], ends_at=o["ends_at"],
                         price=o["price"]) for o in items]


def availability(e: Any) -> c.AvailabilityChanged:
    r = e.rules
    return c.AvailabilityChanged(
        tutor_id=e.tutor_id, time_zone=r["time_zone"],
        weekly=[c.WeeklyWindow(**w) for w in r["weekly"]],
        exceptions=[c.DatedException(date=x["date"], windows=[c.DayWindow(**w) for w in x["windows"]])
                    for x in r["exceptions"]],
        buffer_minutes=r["buffer_minutes"], min_notice_minutes=r["min_notice_minutes"],
        horizon_days=r["horizon_days"], slot_step_minutes=r["slot_step_minutes"], instant_book=r["instant_book"],
        group_capacity=r["group_capacity"], occurred_at=e.timestamp)


class Translator:
    """The outbox relay's translator: needs the store only for a booking's fixed facts."""

    def __init__(self, app: ServiceApplication) -> None:
        self.app = app
        self._parties: dict[UUID, dict[str, Any]] = {}
        self._tutors: dict[UUID, UUID] = {}

    def parties(self, booking_id: UUID) -> dict[str, Any]:
        if booking_id not in self._parties:
            b = self.app.load(Booking, booking_id, "booking")
            if len(self._parties) > 10_000:
                self._parties.clear()
            self._parties[booking_id] = {"tutor_id": b.tutor_id, "student_id": b.student_id}
        return self._parties[booking_id]

    def tutor_of(self, availability_id: UUID) -> UUID:
        if availability_id not in self._tutors:
            self._tutors[availability_id] = self.app.load(Availability, availability_id, "availability").tutor_id
        return self._tutors[availability_id]

    def __call__(self, e: Any) -> IntegrationEvent | None:
        at = e.timestamp
        if isinstance(e, _A.Opened):
            return availability(e)
        if isinstance(e, _A.Changed):
            r = e.rules
            return c.AvailabilityChanged(
                tutor_id=self.tutor_of(e.originator_id), time_zone=r["time_zone"],
                weekly=[c.WeeklyWindow(**w) for w in r["weekly"]],
                exceptions=[c.DatedException(date=x["date"], windows=[c.DayWindow(**w) for w in x["windows"]])
                            for x in r["exceptions"]],
                buffer_minutes=r["buffer_minutes"], min_notice_minutes=r["min_notice_minutes"],
                horizon_days=r["horizon_days"], slot_step_minutes=r["slot_step_minutes"],
                instant_book=r["instant_book"], group_capacity=r["group_capacity"], occurred_at=at)
        if not isinstance(e, _B.Event):
            return None
        bid = e.originator_id
        if isinstance(e, _B.Requested):
            self._parties[bid] = {"tutor_id": e.tutor_id, "student_id": e.student_id}
            return c.BookingRequested(
                booking_id=bid, tutor_id=e.tutor_id, student_id=e.student_id, payer_id=e.payer_id,
                listing_id=e.listing_id, kind=e.kind, mode=e.mode, currency=e.currency,
                occurrences=_occurrences(e.occurrences), total=e.total, promotion_id=e.promotion_id,
                discount=e.discount, respond_by=e.respond_by, hold_until=e.hold_until,
                policy=c.CancellationPolicy.model_validate(e.policy), group_id=e.group_id, occurred_at=at)
        p = self.parties(bid)
        if isinstance(e, _B.Confirmed):
            b = self.app.load(Booking, bid, "booking")
            return c.BookingConfirmed(booking_id=bid, **p, listing_id=b.listing_id, kind=b.kind, mode=b.mode,
                                      occurrences=_occurrences(e.occurrences), group_id=b.group_id, occurred_at=at)
        if isinstance(e, _B.Declined):
            return c.BookingDeclined(booking_id=bid, **p, reason_code=e.reason_code, occurred_at=at)
        if isinstance(e, _B.Expired):
            return c.BookingExpired(booking_id=bid, **p, occurred_at=at)
        if isinstance(e, _B.Failed):
            return c.BookingFailed(booking_id=bid, **p, reason_code=e.reason_code, occurred_at=at)
        if isinstance(e, _B.Withdrawn):
            b = self.app.load(Booking, bid, "booking")
            return c.BookingCancelled(booking_id=bid, **p, cancelled_by=e.party, reason_code=e.reason_code,
                                      occurrences=[o["occurrence"] for o in b.occurrences], refund=10000,
                                      occurred_at=at)
        if isinstance(e, _B.Cancelled):
            return c.BookingCancelled(booking_id=bid, **p, cancelled_by=e.party, reason_code=e.reason_code,
                                      occurrences=list(e.occurrences), refund=e.refund,
                                      tutor_cancellations=e.tutor_cancellations, occurred_at=at)
        if isinstance(e, _B.Moved):
            return c.BookingRescheduled(booking_id=bid, **p, occurrence=e.occurrence, starts_at=e.starts_at,
                                        ends_at=e.ends_at, previous_starts_at=e.previous_starts_at,
                                        hold_until=e.hold_until, occurred_at=at)
        if isinstance(e, _B.Completed):
            b = self.app.load(Booking, bid, "booking")
            return c.BookingCompleted(booking_id=bid, **p, occurrence=e.occurrence, listing_id=b.listing_id,
                                      occurred_at=at)
        if isinstance(e, _B.NoShow):
            return c.NoShowRecorded(booking_id=bid, **p, occurrence=e.occurrence, absent=e.absent, occurred_at=at)
        if isinstance(e, _B.DisputeOpened):
            return c.DisputeOpened(booking_id=bid, dispute_id=e.dispute_id, occurrence=e.occurrence,
                                   opened_by=e.opened_by, reason_code=e.reason_code, occurred_at=at)
        if isinstance(e, _B.DisputeResolved):
            return c.DisputeResolved(booking_id=bid, dispute_id=e.dispute_id, occurrence=e.occurrence,
                                     decided_by=e.decided_by, refund=e.refund, occurred_at=at)
        if isinstance(e, _B.Settled):
            b = self.app.load(Booking, bid, "booking")
            return c.BookingSettled(booking_id=bid, tutor_id=p["tutor_id"], payer_id=b.payer_id,
                                    occurrence=e.occurrence, refund=e.refund, outcome=e.outcome, occurred_at=at)
        if isinstance(e, _B.ReminderDue):
            return c.BookingReminderDue(booking_id=bid, **p, occurrence=e.occurrence, starts_at=e.starts_at,
                                        minutes_before=e.minutes_before, occurred_at=at)
        if isinstance(e, _B.FollowUpDue):
            return c.BookingFollowUpDue(booking_id=bid, **p, occurrence=e.occurrence, minutes_after=e.minutes_after,
                                        occurred_at=at)
        return None
