"""Request and response bodies of reputation's HTTP API; every constraint is declared here."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from servicekit.bodies import Body, Uuid, WholeNumber, explained, paragraphs

TERM_PATTERN = explained(r"^[0-9]{4}-T[1-9]$", "must be a term such as 2031-T1 (the year, then the term's number)")
CODE_PATTERN = explained(r"^[A-Za-z2-7]{4}-[A-Za-z2-7]{4}-[A-Za-z2-7]{4}$",
                         "must be a certificate's code, such as ABCD-EFGH-JK23")


class RatingsIn(Body):
    on_time: WholeNumber = Field(ge=1, le=5)
    explained_clearly: WholeNumber = Field(ge=1, le=5)
    helped_understand: WholeNumber = Field(ge=1, le=5)
    would_book_again: WholeNumber = Field(ge=1, le=5)


class ReviewIn(Body):
    session_id: Uuid
    ratings: RatingsIn
    text: str = paragraphs(2000, default="")


class ReviewEditIn(Body):
    ratings: RatingsIn
    text: str = paragraphs(2000, default="")


class ResponseIn(Body):
    text: str = paragraphs(2000, min_length=1)


class ModerationIn(Body):
    action: Literal["publish", "remove"]
    reason_code: Literal["abusive", "gaming", "other", "fine"] = "other"


class ResolveIn(Body):
    note_code: Literal["warned", "coached", "no_action", "suspended"] = "no_action"


class HoursCertificateIn(Body):
    term: str = Field(min_length=7, max_length=8, pattern=TERM_PATTERN)


class ReviewOut(BaseModel):
    review_id: UUID
    session_id: UUID
    tutor_id: UUID
    student_id: UUID
    ratings: dict[str, int]
    overall: float
    text: str | None
    status: Literal["published", "held", "removed"]
    written_at: datetime
    edited_at: datetime | None
    response: str | None
    responded_at: datetime | None


class ReviewsOut(BaseModel):
    items: list[ReviewOut]
    total: int


class ReputationOut(BaseModel):
    tutor_id: UUID
    rating: float
    rating_count: int
    sessions_completed: int
    sessions_missed: int
    cancellations: int
    reliability: float
    minutes_taught: int
    on_probation: bool
    badges: list[str]
    minutes_by_term: dict[str, int]


class QueueItemOut(BaseModel):
    item_id: UUID
    tutor_id: UUID
    review_id: UUID | None
    reason: str
    at: datetime


class QueueOut(BaseModel):
    items: list[QueueItemOut]


class CertificateOut(BaseModel):
    certificate_id: UUID
    kind: Literal["tutoring_hours", "course_completion", "teaching"]
    holder_id: UUID
    holder_name: str | None
    code: str
    issued_at: datetime
    details: dict[str, Any]
    verify_url: str


class CertificatesOut(BaseModel):
    items: list[CertificateOut]
