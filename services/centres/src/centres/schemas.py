"""Request and response bodies of centres' HTTP API; every constraint is declared here."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from servicekit.bodies import Body, WholeNumber, explained, line, paragraphs

CLOCK_PATTERN = explained(r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
                          "must be a time of day HH:MM (24:00 only as an end)")
ZONE_PATTERN = explained(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$",
                         "must be an IANA time zone name such as Europe/London")
COURSE_PATTERN = explained(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,38}[A-Za-z0-9]$",
                           "must be a course code such as MATH 101 (letters, digits, spaces, . _ -)")
SUBJECT_PATTERN = explained(r"^[a-z0-9-]+(\.[a-z0-9-]+)*$", "must be a subject id such as mathematics.algebra-i")
ClockTime = Annotated[str, Field(pattern=CLOCK_PATTERN, examples=["09:00"])]
Reason = Literal["holiday", "exam_week", "maintenance", "staffing", "other"]


class CentreIn(Body):
    name: str = line(120)
    time_zone: str = Field(min_length=1, max_length=64, pattern=ZONE_PATTERN, examples=["Europe/London"])
    description: str = paragraphs(2000, default="")


class DescriptionIn(Body):
    name: str = line(120)
    description: str = paragraphs(2000, default="")


class WindowIn(Body):
    weekday: WholeNumber = Field(ge=0, le=6, description="0 = Monday")
    start: ClockTime
    end: ClockTime


class HoursIn(Body):
    weekly: list[WindowIn] = Field(max_length=50)


class ClosureIn(Body):
    reason_code: Reason


class LocationIn(Body):
    name: str = line(120)
    kind: Literal["in_person", "online"]
    where: str | None = Field(default=None, min_length=1, max_length=300)


class CoursesIn(Body):
    courses: list[Annotated[str, Field(pattern=COURSE_PATTERN, min_length=2, max_length=40)]] = Field(max_length=200)
    subjects: list[Annotated[str, Field(pattern=SUBJECT_PATTERN, min_length=1, max_length=100)]] = Field(
        default=[], max_length=100)


class CentreOut(BaseModel):
    centre_id: UUID
    name: str
    description: str
    time_zone: str
    weekly: list[dict[str, Any]]
    closures: list[dict[str, Any]]
    locations: list[dict[str, Any]]
    courses: list[str]
    subjects: list[str]
    roster: list[UUID]
    staff: list[UUID]
    open_now: bool
    closes_at: datetime | None
    next_opening: datetime | None


class CentreSummaryOut(BaseModel):
    centre_id: UUID
    name: str
    time_zone: str


class CentresOut(BaseModel):
    items: list[CentreSummaryOut]


class OpeningOut(BaseModel):
    date: date
    opens_at: datetime
    closes_at: datetime
    local_opens_at: datetime
    local_closes_at: datetime


class CalendarOut(BaseModel):
    centre_id: UUID
    time_zone: str
    openings: list[OpeningOut]
    closures: list[dict[str, Any]]


class QueueStateIn(Body):
    state: Literal["open", "paused", "closed"]


class JoinIn(Body):
    course: str | None = Field(default=None, pattern=COURSE_PATTERN, min_length=2, max_length=40)
    reason: str = paragraphs(500, default="")
    mode: Literal["in_person", "online"] = "in_person"


class PauseIn(Body):
    paused: bool


class ShiftIn(Body):
    #: The courses you can help with on this shift (empty: any).
    courses: list[Annotated[str, Field(pattern=COURSE_PATTERN, min_length=2, max_length=40)]] = Field(
        default=[], max_length=50)


class CallIn(Body):
    #: Call the first waiting student of this course (default: of your shift's courses).
    course: str | None = Field(default=None, pattern=COURSE_PATTERN, min_length=2, max_length=40)


class FinishIn(Body):
    note: str = paragraphs(2000, default="")


class VisitOut(BaseModel):
    visit_id: UUID
    student_id: UUID
    course: str | None
    mode: str
    status: Literal["waiting", "paused", "called", "serving", "served", "left", "abandoned", "closed"]
    joined_at: datetime
    called_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    tutor_id: UUID | None
    position: int | None
    estimated_wait_minutes: int | None
    reason: str | None = None
    note: str | None = None


class QueueOut(BaseModel):
    centre_id: UUID
    day: date
    state: Literal["open", "paused", "closed"]
    in_line: int
    tutors_on_shift: int
    average_service_minutes: float
    #: Your own visit today, if any (a student's view).
    mine: VisitOut | None
    #: Every visit today (staff of the centre, and tutors on its roster).
    visits: list[VisitOut] | None = None


class AccommodationIn(Body):
    #: The limits this student is exempt from (empty: none).
    exempt: list[Literal["no_show_lockout"]] = Field(max_length=5)


class StandingOut(BaseModel):
    centre_id: UUID
    student_id: UUID
    no_shows_counted: int
    warned_at: datetime | None
    locked_until: datetime | None
    locked: bool
    exempt: list[str]
