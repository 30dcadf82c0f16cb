"""The shapes of booking's answers (each route's ``response_model``), so the OpenAPI document
says exactly what a client receives."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel


class TierOut(BaseModel):
    hours_before: int
    refund: int


class PolicyOut(BaseModel):
    """The cancellation policy both sides see before booking, kept with each booking."""

    tiers: list[TierOut]
    dispute_window_hours: int


class WeeklyWindowOut(BaseModel):
    weekday: int
    start: str
    end: str


class DayWindowOut(BaseModel):
    start: str
    end: str


class ExceptionOut(BaseModel):
    date: date
    windows: list[DayWindowOut]


class AvailabilityOut(BaseModel):
    tutor_id: UUID
    time_zone: str
    weekly: list[WeeklyWindowOut]
    exceptions: list[ExceptionOut]
    buffer_minutes: int
    min_notice_minutes: int
    horizon_days: int
    slot_step_minutes: int
    instant_book: bool
    group_capacity: int
    place: str | None


class SlotOut(BaseModel):
    starts_at: datetime
    ends_at: datetime
    #: In the viewer's zone, and in the tutor's.
    local_starts_at: datetime
    local_ends_at: datetime
    tutor_local_starts_at: datetime
    seats_left: int | None


class SlotsOut(BaseModel):
    tutor_id: UUID
    tutor_time_zone: str
    time_zone: str
    minutes: int
    instant_book: bool
    respond_hours: int | None
    policy: PolicyOut
    #: The price of one such session in each currency the listing takes (when asked for one).
    prices: dict[str, int]
    slots: list[SlotOut]


class QuotedOccurrence(BaseModel):
    occurrence: int
    starts_at: datetime
    ends_at: datetime
    price: int


class QuoteOut(BaseModel):
    listing_id: UUID
    tutor_id: UUID
    kind: str
    minutes: int
    currency: str
    occurrences: list[QuotedOccurrence]
    gross: int
    discount: int
    total: int
    promotion_id: UUID | None
    instant_book: bool
    respond_by: datetime | None
    hold_until: datetime
    policy: PolicyOut


class SettlementOut(BaseModel):
    refund: int
    outcome: str
    at: datetime


class ProposalOut(BaseModel):
    by: str
    starts_at: datetime
    ends_at: datetime
    expires_at: datetime


class OccurrenceOut(BaseModel):
    occurrence: int
    starts_at: datetime
    ends_at: datetime
    price: int
    status: str
    absent: str | None
    settlement: SettlementOut | None
    money: str | None
    proposal: ProposalOut | None


class DisputeOut(BaseModel):
    dispute_id: UUID
    occurrence: int
    opened_by: str
    reason_code: str
    statement: str | None
    evidence: list[str]
    opened_at: datetime
    decide_by: datetime
    status: str
    decided_by: str | None
    refund: int | None
    decision: str | None
    decided_at: datetime | None


class NoteOut(BaseModel):
    at: datetime
    by: str
    text: str | None


class StepOut(BaseModel):
    at: datetime
    what: str
    by: str
    detail: dict[str, Any]


class BookingOut(BaseModel):
    booking_id: UUID
    status: str
    kind: str
    mode: str
    tutor_id: UUID
    student_id: UUID
    payer_id: UUID
    listing_id: UUID
    title: str
    currency: str
    total: int
    discount: int
    promotion_id: UUID | None
    instant_book: bool
    respond_by: datetime | None
    hold_until: datetime
    group_id: UUID | None
    place: str | None
    policy: PolicyOut
    note: str | None
    occurrences: list[OccurrenceOut]
    disputes: list[DisputeOut]
    notes: list[NoteOut]
    timeline: list[StepOut]


class BookingsOut(BaseModel):
    items: list[BookingOut]
    next_offset: int | None


class DisputeOpenedOut(BaseModel):
    dispute_id: UUID
    booking: BookingOut


class QueuedDisputeOut(BaseModel):
    dispute_id: UUID
    booking_id: UUID
    occurrence: int
    opened_by: str
    reason_code: str
    opened_at: datetime
    decide_by: datetime


class DisputeQueueOut(BaseModel):
    items: list[QueuedDisputeOut]
    next_cursor: str | None


class ReliabilityOut(BaseModel):
    tutor_id: UUID
    tutor_cancellations: int


class FeedOut(BaseModel):
    url: str
