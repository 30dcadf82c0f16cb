"""Events published by the sessions service on ``sessions.events``.

A session is one occurrence of a confirmed booking, or of a group: every student booked
into the group's occurrence sits in the same session. Outcomes are told per booking
(``SessionCompleted``, ``SessionNoShow``, keyed by booking id so each booking's story stays in
order); the session's own facts are keyed by session id. No words travel here: chat,
objectives and notes stay in sessions, behind its API."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from alphapeer_contracts.base import IntegrationEvent
from alphapeer_contracts.vocabulary import Mode


class _SessionEvent(IntegrationEvent):
    service: ClassVar[str] = "sessions"
    key_field: ClassVar[str] = "booking_id"


class SessionScheduled(_SessionEvent):
    """A booking's occurrence has its session (one per seat: a group's shared session is
    told once for each booking seated in it, with the same ``session_id``)."""

    key_field: ClassVar[str] = "session_id"
    consumers = ("reputation",)
    session_id: UUID
    tutor_id: UUID
    booking_id: UUID
    student_id: UUID
    occurrence: int = Field(ge=0)
    mode: Mode
    starts_at: datetime
    ends_at: datetime


class SessionCompleted(_SessionEvent):
    """An occurrence of a booking took place: who attended, from when to when."""

    consumers = ("booking", "reputation")
    booking_id: UUID
    occurrence: int = Field(ge=0)
    started_at: datetime
    ended_at: datetime
    #: The session (added in v1; absent on events published before it).
    session_id: UUID | None = None
    tutor_id: UUID | None = None
    student_id: UUID | None = None
    #: Minutes the tutor and this student were both present within the scheduled time, or
    #: the scheduled minutes when both confirmed without attendance data (added in v1).
    minutes_taught: int | None = Field(default=None, ge=0)
    #: How it was decided: attendance at the end, both sides' confirmation, or the closing deadline.
    decided_by: Literal["attendance", "confirmed", "deadline"] | None = None


class SessionNoShow(_SessionEvent):
    """Nobody, or only one side, joined an occurrence before it ended."""

    consumers = ("booking", "reputation")
    booking_id: UUID
    occurrence: int = Field(ge=0)
    absent: Literal["tutor", "student", "both"]
    session_id: UUID | None = None
    tutor_id: UUID | None = None
    student_id: UUID | None = None


class AssessmentSubmitted(_SessionEvent):
    """A participant's structured end-of-session assessment: codes and numbers only (the
    words stay in sessions). The tutor scores progress on each objective 0-4; the student
    says how much it helped and how confident they now feel (1-5)."""

    key_field: ClassVar[str] = "session_id"
    consumers = ("reputation",)
    session_id: UUID
    booking_id: UUID
    tutor_id: UUID
    student_id: UUID
    by: Literal["tutor", "student"]
    objectives_covered: int | None = Field(default=None, ge=0)
    progress: list[int] = []
    helpfulness: Literal["helped", "partly", "not_helpful"] | None = None
    confidence: int | None = Field(default=None, ge=1, le=5)
