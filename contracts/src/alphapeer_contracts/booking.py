"""Events published by the booking service on ``booking.events``.

Booking events are keyed by booking id, so one booking's story stays in order; a tutor's
availability is keyed by tutor id. Money in them is an integer amount in the minor units of
``currency`` (institution credits are a currency: ``XAP``). No personal text travels here:
reasons and evidence stay in booking, behind its API; events carry codes.

The saga with the ledger: ``BookingRequested`` asks for the price to be held (the ledger
answers ``EscrowHeld`` or ``EscrowHoldRejected``); the money of each occurrence ends with
exactly one ``BookingSettled``, which says how much goes back to the payer (the rest is
released to the tutor, minus the platform's fee). Every booking that was held is settled:
completed, declined, expired, cancelled, no-show or after a dispute."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from alphapeer_contracts.base import CurrencyCode, IntegrationEvent
from alphapeer_contracts.vocabulary import Mode

#: A local wall-clock time, "HH:MM" (24 h; "24:00" only as an end).
ClockTime = Annotated[str, Field(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
#: Basis points (1/100 of a percent): 10000 is everything.
BasisPoints = Annotated[int, Field(ge=0, le=10000)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class WeeklyWindow(_Part):
    """Open every week on ``weekday`` (0 = Monday) from ``start`` to ``end``, in the tutor's zone."""

    weekday: int = Field(ge=0, le=6)
    start: ClockTime
    end: ClockTime


class DayWindow(_Part):
    start: ClockTime
    end: ClockTime


class DatedException(_Part):
    """One date, in the tutor's zone, that does not follow the weekly rules: ``windows``
    replace that day's (empty: closed all day — a holiday, an exam week)."""

    date: date
    windows: list[DayWindow] = []


class RefundTier(_Part):
    """Cancelled by the learner at least ``hours_before`` the start: ``refund`` goes back."""

    hours_before: int = Field(ge=0)
    refund: BasisPoints


class CancellationPolicy(_Part):
    """The rules both sides saw before booking, kept with the booking. Tiers are tried from
    the largest ``hours_before`` down; inside the last one nothing is refunded. A tutor's or
    staff's cancellation always refunds in full."""

    tiers: list[RefundTier]
    dispute_window_hours: int = Field(default=48, ge=0)


class Occurrence(_Part):
    """One session of a booking (a package or a weekly series has several), in UTC."""

    occurrence: int = Field(ge=0)
    starts_at: datetime
    ends_at: datetime
    price: int = Field(ge=0)


class _BookingEvent(IntegrationEvent):
    service: ClassVar[str] = "booking"
    key_field: ClassVar[str] = "booking_id"


BookingKind = Literal["single", "trial", "package", "recurring", "group"]
Party = Literal["student", "tutor", "staff", "system"]


class AvailabilityChanged(_BookingEvent):
    """A tutor's availability as it now stands (the whole of it): weekly windows and dated
    exceptions in the tutor's own time zone, so "Tuesday evening" can be asked in anyone's
    zone and answered across daylight-saving changes."""

    key_field: ClassVar[str] = "tutor_id"
    consumers = ("matching",)
    tutor_id: UUID
    time_zone: str
    weekly: list[WeeklyWindow]
    exceptions: list[DatedException] = []
    buffer_minutes: int = Field(default=0, ge=0)
    min_notice_minutes: int = Field(default=0, ge=0)
    horizon_days: int = Field(default=60, ge=1)
    #: Slots start every this many minutes from a window's start (added in v1).
    slot_step_minutes: int = Field(default=30, ge=5)
    #: Confirmed as soon as the credits are held, without the tutor's answer (added in v1).
    instant_book: bool = False
    #: Seats in a group session; 1: one-to-one only (added in v1).
    group_capacity: int = Field(default=1, ge=1)


class BookingRequested(_BookingEvent):
    """A learner asked for a tutor's time. The ledger holds ``total`` from the payer's
    wallet until ``hold_until`` (one hold per occurrence, all or none)."""

    consumers = ("ledger", "matching")
    booking_id: UUID
    tutor_id: UUID
    student_id: UUID
    #: Whose wallet pays: the learner's, or later a sponsor's budget.
    payer_id: UUID
    listing_id: UUID
    kind: BookingKind
    mode: Mode
    currency: CurrencyCode
    occurrences: list[Occurrence] = Field(min_length=1)
    total: int = Field(ge=0)
    promotion_id: UUID | None = None
    discount: int = Field(default=0, ge=0)
    #: The tutor must accept by then, or the request expires; None: booked instantly.
    respond_by: datetime | None = None
    #: The ledger voids a hold still pending at this time (a safety net: booking settles first).
    hold_until: datetime
    policy: CancellationPolicy
    #: The shared session a group booking takes a seat in.
    group_id: UUID | None = None


class BookingConfirmed(_BookingEvent):
    """The credits are held and the tutor accepted (or the listing books instantly)."""

    consumers = ("matching", "sessions", "reputation")
    booking_id: UUID
    tutor_id: UUID
    student_id: UUID
    listing_id: UUID
    kind: BookingKind
    mode: Mode
    occurrences: list[Occurrence]
    group_id: UUID | None = None


class BookingDeclined(_BookingEvent):
    """The tutor said no before the request expired."""

    consumers = ("matching",)
    booking_id: UUID
    tutor_id: UUID
    student_id: UUID
    reason_code: Literal["unavailable", "not_a_fit", "other"]


class BookingExpired(_BookingEvent):
    """Nobody acted before a deadline: the tutor did not answer by ``respond_by``."""

    consumers = ("matching",)
    booking_id: UUID
    tutor_id: UUID
    student_id: UUID


class BookingFailed(_BookingEvent):
    """The booking could not go ahead: the ledger refused to hold its price."""

    consumers = ("matching",)
    booking_id: UUID
    tutor_id: UUID
    student_id: UUID
    reason_code: Literal["insufficient_funds", "account_closed", "currency_not_accepted", "hold_expired"]


class BookingCancelled(_BookingEvent):
    """Some or all of a booking's occurrences were cancelled: by whom, why (a code; the
    words stay in booking), and what the policy gives back."""

    consumers = ("matching", "sessions", "reputation")
    booking_id: UUID
    tutor_id: UUID
    student_id: UUID
    cancelled_by: Party
    reason_code: Literal["schedule_conflict", "illness", "no_longer_needed", "tutor_unavailable",
                         "suspended", "policy_violation", "other"]
    occurrences: list[int]
    refund: BasisPoints
    #: When the tutor cancelled: how many times they have cancelled a confirmed booking,
    #: this one included (their reliability; added in v1).
    tutor_cancellations: int | None = Field(default=None, ge=1)


class BookingRescheduled(_BookingEvent):
    """An occurrence moved to another time (agreed by both sides)."""

    consumers = ("ledger", "matching", "sessions")
    booking_id: UUID
    tutor_id: UUID
    student_id: UUID
    occurrence: int
    starts_at: datetime
    ends_at: datetime
    previous_starts_at: datetime
    hold_until: datetime


class BookingCompleted(_BookingEvent):
    """An occurrence took place (reported by the session, or recorded by staff)."""

    consumers = ("reputation", "matching")
    booking_id: UUID
    tutor_id: UUID
    student_id: UUID
    occurrence: int
    listing_id: UUID


class NoShowRecorded(_BookingEvent):
    """Someone did not come to an occurrence."""

    consumers = ("reputation",)
    booking_id: UUID
    tutor_id: UUID
    student_id: UUID
    occurrence: int
    absent: Literal["tutor", "student", "both"]


class DisputeOpened(_BookingEvent):
    """One side disputes an occurrence within the dispute window; its release waits."""

    consumers = ("reputation",)
    booking_id: UUID
    dispute_id: UUID
    occurrence: int
    opened_by: Literal["student", "tutor"]
    reason_code: Literal["tutor_absent", "student_absent", "ended_early", "quality", "conduct", "other"]


class DisputeResolved(_BookingEvent):
    """A dispute was decided: by a rule (e.g. a confirmed tutor no-show) or by staff."""

    consumers = ("reputation",)
    booking_id: UUID
    dispute_id: UUID
    occurrence: int
    decided_by: Literal["rule", "staff"]
    refund: BasisPoints


class BookingSettled(_BookingEvent):
    """The money of one occurrence is decided for good: ``refund`` of its held price goes
    back to the payer, the rest to the tutor (less the platform's fee). Exactly one per
    held occurrence."""

    consumers = ("ledger",)
    booking_id: UUID
    tutor_id: UUID
    payer_id: UUID
    occurrence: int
    refund: BasisPoints
    outcome: Literal["completed", "declined", "expired", "cancelled_by_student", "cancelled_by_tutor",
                     "cancelled_by_staff", "tutor_no_show", "student_no_show", "dispute_resolved", "suspended"]


class BookingReminderDue(_BookingEvent):
    """It is ``minutes_before`` the start of an occurrence: for a notification service."""

    consumers = ("notifications",)
    booking_id: UUID
    tutor_id: UUID
    student_id: UUID
    occurrence: int
    starts_at: datetime
    minutes_before: int


class BookingFollowUpDue(_BookingEvent):
    """It is ``minutes_after`` the end of a completed occurrence: ask for a review, offer the
    next session."""

    consumers = ("notifications", "reputation")
    booking_id: UUID
    tutor_id: UUID
    student_id: UUID
    occurrence: int
    minutes_after: int
