"""Events published by the reputation service on ``reputation.events``.

Reputation turns what happened (sessions completed, no-shows, cancellations, reviews) into
what others may trust: a tutor's public rating (a Bayesian average that a handful of reviews
cannot swing), their reliability, badges and certificates. No review text travels here;
ratings are numbers, and reasons are codes."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from alphapeer_contracts.base import IntegrationEvent


class _ReputationEvent(IntegrationEvent):
    service: ClassVar[str] = "reputation"
    key_field: ClassVar[str] = "tutor_id"


class ReviewPublished(_ReputationEvent):
    """A learner's review of a session now counts (at once, or after staff let it through).
    Each rating is 1-5; ``overall`` is their mean."""

    consumers = ("matching",)
    review_id: UUID
    session_id: UUID
    tutor_id: UUID
    student_id: UUID
    on_time: int = Field(ge=1, le=5)
    explained_clearly: int = Field(ge=1, le=5)
    helped_understand: int = Field(ge=1, le=5)
    would_book_again: int = Field(ge=1, le=5)
    overall: float = Field(ge=1, le=5)
    edited: bool = False


class ReviewRemoved(_ReputationEvent):
    """Staff removed a review (abusive, or gaming): it no longer counts."""

    consumers = ("matching",)
    review_id: UUID
    tutor_id: UUID
    student_id: UUID
    reason_code: Literal["abusive", "gaming", "other"]


class TutorReputationChanged(_ReputationEvent):
    """A tutor's standing as it now is (the whole of it, replacing what was there).
    ``standing_version`` rises with every change, so a reader never lets an older one overwrite a newer."""

    consumers = ("matching",)
    tutor_id: UUID
    standing_version: int = Field(ge=1)
    #: The Bayesian average the platform shows (the prior pulls a few reviews to the mean).
    rating: float = Field(ge=0, le=5)
    rating_sum: float = Field(ge=0)
    rating_count: int = Field(ge=0)
    sessions_completed: int = Field(ge=0)
    #: Sessions the tutor did not come to.
    sessions_missed: int = Field(ge=0)
    cancellations: int = Field(ge=0)
    #: Share of the tutor's sessions that took place as booked, smoothed by a prior (0-1).
    reliability: float = Field(ge=0, le=1)
    minutes_taught: int = Field(ge=0)
    on_probation: bool


class BadgeAwarded(_ReputationEvent):
    """A tutor crossed a badge's threshold; ``reward_credits`` (0: none) are the ledger's to pay."""

    consumers = ("ledger",)
    tutor_id: UUID
    badge: Literal["hours_10", "hours_50", "hours_100", "top_rated", "reliable"]
    reward_credits: int = Field(ge=0)


class CertificateIssued(_ReputationEvent):
    """A certificate exists and can be verified by its code at the public endpoint."""

    key_field: ClassVar[str] = "holder_id"
    consumers = ()
    certificate_id: UUID
    holder_id: UUID
    kind: Literal["tutoring_hours", "course_completion", "teaching"]
    code: str = Field(pattern=r"^[A-Z2-7]{4}(-[A-Z2-7]{4}){2}$")
