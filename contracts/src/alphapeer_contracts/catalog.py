"""Events published by the catalog service on ``catalog.events``, keyed by listing id.

A listing event carries the whole public listing as it now stands, so a consumer (the
matching directory) needs no other read to show it."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from alphapeer_contracts.base import IntegrationEvent, SealedText
from alphapeer_contracts.vocabulary import Level, Mode


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class SubjectTaught(_Part):
    """One subject at one level, with its place in the taxonomy."""

    subject_id: str
    name: str
    area: str
    level: Level
    topics: list[str] = []


class Rate(_Part):
    """Price per hour: institution credits and/or money (minor units); 0 means free."""

    credits_per_hour: int | None = None
    amount_minor_per_hour: int | None = None
    currency: str | None = None


class Place(_Part):
    """Where in-person sessions happen: a campus and/or a point, and how far the tutor travels."""

    campus: str | None = None
    lat: float | None = None
    lon: float | None = None
    travel_radius_km: float = 0


class Media(_Part):
    media_id: UUID
    kind: Literal["image", "audio", "video", "document"]
    content_type: str
    url: str


class TrialOffer(_Part):
    minutes: int
    free: bool = True


class ListingSnapshot(_Part):
    """The public listing."""

    tutor_id: UUID
    title: str
    subjects: list[SubjectTaught]
    rate: Rate
    session_minutes: list[int]
    modes: list[Mode]
    place: Place | None = None
    languages: list[str]
    teaching_styles: list[str] = []
    communication: list[str] = []
    bio: str = ""
    qualifications: str = ""
    trial: TrialOffer | None = None
    media: list[Media] = []


class ListingSnapshotV2(_Part):
    """The public listing, its tutor's personal text sealed under the tutor's key
    (``catalog.keys``): the bio, the qualifications and the place (a JSON ``Place``)."""

    tutor_id: UUID
    title: str
    subjects: list[SubjectTaught]
    rate: Rate
    session_minutes: list[int]
    modes: list[Mode]
    place: SealedText | None = None
    languages: list[str]
    teaching_styles: list[str] = []
    communication: list[str] = []
    bio: SealedText | None = None
    qualifications: SealedText | None = None
    trial: TrialOffer | None = None
    media: list[Media] = []


class _CatalogEvent(IntegrationEvent):
    service: ClassVar[str] = "catalog"
    key_field: ClassVar[str] = "listing_id"


class ListingPublished(_CatalogEvent):
    """A tutor's listing became visible (first publication, or again after a pause)."""

    consumers = ("matching", "booking")
    listing_id: UUID
    listing: ListingSnapshot


class ListingUpdated(_CatalogEvent):
    """A published listing changed; carries the whole listing as it now stands."""

    consumers = ("matching", "booking")
    listing_id: UUID
    listing: ListingSnapshot


class ListingPublishedV2(_CatalogEvent):
    """A tutor's listing became visible (first publication, or again after a pause). v2:
    the tutor's personal text is sealed (see ``ListingSnapshotV2``)."""

    name = "ListingPublished"
    version = 2
    consumers = ("matching", "booking")
    listing_id: UUID
    listing: ListingSnapshotV2


class ListingUpdatedV2(_CatalogEvent):
    """A published listing changed; carries the whole listing as it now stands. v2: the
    tutor's personal text is sealed (see ``ListingSnapshotV2``)."""

    name = "ListingUpdated"
    version = 2
    consumers = ("matching", "booking")
    listing_id: UUID
    listing: ListingSnapshotV2


class ListingPaused(_CatalogEvent):
    """The tutor paused the listing; it is hidden until published again."""

    consumers = ("matching", "booking")
    listing_id: UUID
    tutor_id: UUID


class ListingWithdrawn(_CatalogEvent):
    """The listing is gone for good (by the tutor, staff, or because the tutor left)."""

    consumers = ("matching", "booking")
    listing_id: UUID
    tutor_id: UUID
    reason_code: Literal["by_tutor", "by_staff", "tutor_erased", "tutor_role_revoked"]


class PromotionCreated(_CatalogEvent):
    """A tutor offers a discount code on a listing; booking honours it within its limits."""

    consumers = ("booking", "matching")
    listing_id: UUID
    promotion_id: UUID
    tutor_id: UUID
    code: str
    percent_off: int | None = None
    credits_off: int | None = None
    max_redemptions: int | None = None
    expires_at: datetime


class PromotionEnded(_CatalogEvent):
    """A promotion was ended early by its tutor (expiry needs no event)."""

    consumers = ("booking", "matching")
    listing_id: UUID
    promotion_id: UUID


class CourseModule(_Part):
    title: str
    summary: str = ""
    material_count: int = 0
    has_quiz: bool = False


class CoursePublished(_CatalogEvent):
    """A course is open for enrolment (answer keys never leave catalog)."""

    key_field: ClassVar[str] = "course_id"
    consumers = ("matching", "booking", "reputation")
    course_id: UUID
    creator_id: UUID
    title: str
    description: str = ""
    subject_id: str
    level: Level
    modules: list[CourseModule]
    completion: dict[str, int]
    levels: list[str] = []
    price_credits: int = 0
    #: Modules passed to reach each of ``levels`` (same length; added in v1, empty before).
    level_thresholds: list[int] = []


class CourseRetired(_CatalogEvent):
    """No new enrolments; current learners keep access."""

    key_field: ClassVar[str] = "course_id"
    consumers = ("matching", "booking", "reputation")
    course_id: UUID
    reason_code: Literal["outdated", "replaced", "quality", "creator_left", "other"]


class EnrolmentCreated(_CatalogEvent):
    """A learner enrolled in a course, possibly paid by a funder (the ledger settles it)."""

    key_field: ClassVar[str] = "course_id"
    consumers = ("ledger", "reputation", "sessions")
    course_id: UUID
    enrolment_id: UUID
    student_id: UUID
    funded_by: UUID | None = None
    price_credits: int = 0


class CourseLevelReached(_CatalogEvent):
    """A learner reached a level of a course's progression (no scores, no answers: those
    stay in catalog, shown to the learner, the creator and staff)."""

    key_field: ClassVar[str] = "course_id"
    consumers = ("reputation", "matching")
    course_id: UUID
    enrolment_id: UUID
    student_id: UUID
    level: str
    level_index: int
    modules_passed: int


class CourseCompleted(_CatalogEvent):
    """A learner met the course's completion criteria: what certificates and a funder's
    progress report are built from."""

    key_field: ClassVar[str] = "course_id"
    consumers = ("reputation", "matching", "ledger")
    course_id: UUID
    enrolment_id: UUID
    student_id: UUID
    funded_by: UUID | None = None
    modules_passed: int
    modules_total: int
