"""Events published by the centres service on ``centres.events``, keyed by centre id.

A centre's opening hours are wall-clock windows in its own time zone (``booking``'s
``WeeklyWindow`` shape), and its closures local dates: readers lay them out per date in that
zone, so a daylight-saving change never moves an hour of opening."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from alphapeer_contracts.base import IntegrationEvent
from alphapeer_contracts.booking import WeeklyWindow

ClosureReason = Literal["holiday", "exam_week", "maintenance", "staffing", "other"]


class _CentreEvent(IntegrationEvent):
    service: ClassVar[str] = "centres"
    key_field: ClassVar[str] = "centre_id"


class CentreFounded(_CentreEvent):
    """An institution opened a tutoring centre (a lab, a desk, an online service)."""

    consumers = ("booking", "matching")
    centre_id: UUID
    centre_name: str
    time_zone: str


class CentreScheduleChanged(_CentreEvent):
    """A centre's hours as they now stand (the whole of them): weekly windows in its zone and
    every dated closure kept."""

    consumers = ("booking",)
    centre_id: UUID
    time_zone: str
    weekly: list[WeeklyWindow]
    closures: list[date]


class CentreClosureAdded(_CentreEvent):
    """The centre will not open on ``date`` (local): bookings at it that day are affected."""

    consumers = ("booking",)
    centre_id: UUID
    date: date
    reason_code: ClosureReason


class CentreRosterChanged(_CentreEvent):
    """A tutor joined or left the centre's roster."""

    consumers = ("booking", "matching")
    centre_id: UUID
    tutor_id: UUID
    on_roster: bool


class CentreStaffChanged(_CentreEvent):
    """Someone became, or stopped being, staff of this centre (they manage it, and only it)."""

    consumers = ()
    centre_id: UUID
    user_id: UUID
    member: bool


class QueueStateChanged(_CentreEvent):
    """A centre's drop-in queue opened, paused or closed for the day (closing ends every place
    still in it: those visits end as ``closed``)."""

    consumers = ()
    centre_id: UUID
    day: date
    state: Literal["open", "paused", "closed"]
    #: The visits closing ended (their students are told).
    closed_visits: list[UUID] = []


class DropInJoined(_CentreEvent):
    """A student joined a centre's drop-in queue (their reason stays in centres)."""

    consumers = ()
    centre_id: UUID
    visit_id: UUID
    student_id: UUID
    course: str | None = None
    mode: Literal["in_person", "online"]


class DropInCalled(_CentreEvent):
    """A tutor on shift called a waiting student."""

    consumers = ()
    centre_id: UUID
    visit_id: UUID
    tutor_id: UUID
    waited_minutes: float = Field(ge=0)


class DropInServed(_CentreEvent):
    """A visit ended served: how long it took (from its start) and how long the student waited."""

    consumers = ("sessions",)
    centre_id: UUID
    visit_id: UUID
    student_id: UUID
    tutor_id: UUID
    course: str | None = None
    service_minutes: float = Field(ge=0)


class DropInEnded(_CentreEvent):
    """A visit ended without being served: the student left, was not there when called, or the
    queue closed with them in it."""

    consumers = ()
    centre_id: UUID
    visit_id: UUID
    student_id: UUID
    how: Literal["left", "abandoned", "closed"]


class StudentStandingChanged(_CentreEvent):
    """A student's standing at a centre changed: a warning or a lockout after no-shows at its
    drop-in queue, or staff lifted a lockout. Booking applies a centre's lockouts too."""

    consumers = ("booking",)
    centre_id: UUID
    student_id: UUID
    change: Literal["warned", "locked_out", "lifted"]
    no_shows: int = Field(default=0, ge=0)
    locked_until: datetime | None = None
