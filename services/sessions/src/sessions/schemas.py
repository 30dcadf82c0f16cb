"""Request and response bodies of sessions' HTTP API. Everything JSON Schema can say is
declared here; rules that need the session's state or the clock (a check-in window, who has
consented, the number of objectives) are the domain's, named in each operation's
description, and answered with the field at fault."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StrictBool, model_validator

from alphapeer_contracts.vocabulary import Mode
from servicekit.bodies import Body, Uuid, WholeNumber, explained, line, paragraphs

URL_PATTERN = explained(r"^https://[^\s/$.?#][^\s]*$", "must be an https:// link")
CODE_PATTERN = explained(r"^([0-9]{6}|alphapeer:check-in:[0-9a-f-]{36}:[0-9]{6})$",
                         "must be the six digits your tutor shows, or the QR code's text")

Objective = Annotated[str, line(200)]


class MaterialIn(Body):
    kind: Literal["link", "course", "file"]
    title: str = line(200)
    #: For ``link``: an https link.
    url: str | None = Field(default=None, max_length=2000, pattern=URL_PATTERN)
    #: For ``course``: a course in the catalog.
    course_id: Uuid | None = None
    #: For ``file``: a message of this session's chat that carries a file.
    message_id: Uuid | None = None

    @model_validator(mode="after")
    def _one_reference(self) -> MaterialIn:
        needed = {"link": "url", "course": "course_id", "file": "message_id"}[self.kind]
        if getattr(self, needed) is None:
            raise ValueError(f"a {self.kind} material needs {needed}")
        return self

    model_config = Body.model_config | {"json_schema_extra": {
        "allOf": [{"if": {"properties": {"kind": {"const": k}}},
                   "then": {"required": [f], "properties": {f: {"not": {"type": "null"}}}}}
                  for k, f in (("link", "url"), ("course", "course_id"), ("file", "message_id"))]}}


class PlanIn(Body):
    objectives: list[Objective] = Field(default=[], max_length=10)
    materials: list[MaterialIn] = Field(default=[], max_length=20)


class LinkIn(Body):
    meeting_link: str | None = Field(max_length=2000, pattern=URL_PATTERN)


class CheckInIn(Body):
    #: Students: the code; the tutor checks in without one.
    code: str | None = Field(default=None, max_length=64, pattern=CODE_PATTERN)


class ConsentIn(Body):
    consent: StrictBool


class MessageIn(Body):
    text: str = paragraphs(20000, min_length=1)


class ReportIn(Body):
    reason_code: Literal["harassment", "spam", "inappropriate", "academic_dishonesty", "other"]


class ReviewIn(Body):
    action: Literal["hide", "keep"]


class TutorAssessmentIn(Body):
    student_id: Uuid
    #: Progress on each objective of the plan, in its order: 0 none … 4 mastered.
    progress: list[Annotated[WholeNumber, Field(ge=0, le=4)]] = Field(default=[], max_length=10)
    goals_covered: list[Objective] = Field(default=[], max_length=10)
    next_steps: str = paragraphs(2000, default="")
    #: Progress on goals of the student's learning plan with you (0 none … 4 mastered).
    goals: list[GoalProgressIn] = Field(default=[], max_length=20)


class GoalProgressIn(Body):
    goal_id: Uuid
    level: WholeNumber = Field(ge=0, le=4)


class GoalIn(Body):
    text: str = line(300)


class GoalStatusIn(Body):
    status: Literal["active", "achieved", "dropped"]


class TranscriptIn(Body):
    text: str = paragraphs(200_000, min_length=1)


class QuestionIn(Body):
    question: str = paragraphs(2000, min_length=1)


class StudentAssessmentIn(Body):
    helpfulness: Literal["helped", "partly", "not_helpful"]
    confidence: WholeNumber = Field(ge=1, le=5)


# -- answers ------------------------------------------------------------------------------

class SeatOut(BaseModel):
    student_id: UUID
    booking_id: UUID
    status: Literal["booked", "cancelled", "completed", "no_show"]
    outcome: dict[str, Any] | None


class MaterialOut(BaseModel):
    kind: str
    title: str
    url: str | None = None
    course_id: UUID | None = None
    message_id: UUID | None = None


class RecordingOut(BaseModel):
    egress_id: str
    status: Literal["recording", "available", "failed", "expired"]
    started_at: datetime | None
    ended_at: datetime | None
    expires_at: datetime | None
    location: str | None


class SessionOut(BaseModel):
    session_id: UUID
    status: Literal["scheduled", "cancelled", "over"]
    your_role: Literal["tutor", "student", "observer", "staff"]
    tutor_id: UUID
    listing_id: UUID
    occurrence: int
    mode: Mode
    kind: str
    group_id: UUID | None
    starts_at: datetime
    ends_at: datetime
    seats: list[SeatOut]
    objectives: list[str | None]
    materials: list[MaterialOut]
    meeting_link: str | None
    video: bool
    room: str | None
    presence: dict[str, list[list[datetime | None]]]
    consents: dict[str, bool]
    confirmed: list[UUID]
    recordings: list[RecordingOut]
    transcript: bool
    summary: str | None


class SessionsOut(BaseModel):
    sessions: list[SessionOut]


class JoinOut(BaseModel):
    provider: Literal["livekit", "link"]
    url: str | None = None
    token: str | None = None
    room: str | None = None
    role: str | None = None
    expires_at: datetime | None = None
    meeting_link: str | None = None


class CheckInCodeOut(BaseModel):
    code: str
    qr_payload: str
    opens_at: datetime
    closes_at: datetime


class FileOut(BaseModel):
    name: str | None
    content_type: str
    size: int


class MessageOut(BaseModel):
    message_id: UUID
    writer: UUID
    at: datetime
    text: str | None
    file: FileOut | None
    status: Literal["visible", "flagged", "hidden", "kept"]


class MessagesOut(BaseModel):
    messages: list[MessageOut]


class ReportOut(BaseModel):
    session_id: UUID
    message_id: UUID
    first_reported_at: datetime
    reports: int
    reason_codes: list[str]
    status: str
    writer: UUID | None
    text: str | None


class ReportsOut(BaseModel):
    reports: list[ReportOut]


class WebhookOut(BaseModel):
    handled: str


class GoalOut(BaseModel):
    goal_id: UUID
    tutor_id: UUID
    text: str | None
    status: Literal["active", "achieved", "dropped"]
    added_at: datetime
    level: int | None
    progress: list[dict[str, Any]]


class LearningPlanOut(BaseModel):
    tutor_id: UUID
    student_id: UUID
    goals: list[GoalOut]


class ProgressOut(BaseModel):
    student_id: UUID
    start: datetime
    end: datetime
    totals: dict[str, int]
    sessions: list[dict[str, Any]]
    helpfulness: dict[str, int]
    average_confidence: float | None
    goals: list[GoalOut]


class SummaryOut(BaseModel):
    summary: str
    method: Literal["model", "extractive"]


class AnswerOut(BaseModel):
    answer: str
    method: Literal["model", "extractive"]
