"""The shapes of catalog's answers (each route's ``response_model``), so the OpenAPI
document says exactly what a client receives. A listing is its public snapshot (the shape
of ``alphapeer_contracts.catalog.ListingSnapshot``, with each media file's digest and size)
plus its id, tutor, status and times; a course is what ``CoursePublished`` carries plus its
syllabus (answer keys only for its creator and staff)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from alphapeer_contracts.vocabulary import Level, Mode

# -- taxonomy -------------------------------------------------------------------------------------


class SubjectEntry(BaseModel):
    subject_id: str
    name: str
    topics: list[str]


class Area(BaseModel):
    area: str
    subjects: list[SubjectEntry]


class TaxonomyOut(BaseModel):
    areas: list[Area]
    levels: list[Level]
    session_minutes: list[int]
    teaching_styles: list[str]
    communication: list[str]


class SubjectAdded(BaseModel):
    subject_id: str


# -- listings -------------------------------------------------------------------------------------

class SubjectTaught(BaseModel):
    subject_id: str
    name: str
    area: str
    level: Level
    topics: list[str] = []


class Rate(BaseModel):
    credits_per_hour: int | None = None
    amount_minor_per_hour: int | None = None
    currency: str | None = Field(default=None, description="with a money rate only")


class Place(BaseModel):
    campus: str | None = None
    lat: float | None = None
    lon: float | None = None
    travel_radius_km: float = 0


class Trial(BaseModel):
    minutes: int
    free: bool = True


class MediaOut(BaseModel):
    media_id: UUID
    kind: Literal["image", "audio", "video", "document"]
    content_type: str
    url: str = Field(description="Where it is served: GET /v1/media/{listing_id}/{media_id}")
    sha256: str
    size: int | None = Field(default=None, description="bytes (unknown for files recorded long ago)")


class ListingOut(BaseModel):
    listing_id: UUID
    tutor_id: UUID
    status: Literal["draft", "published", "paused", "withdrawn"]
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
    trial: Trial | None = None
    media: list[MediaOut] = []
    created_at: datetime
    updated_at: datetime


class Listings(BaseModel):
    items: list[ListingOut]


class PromotionOut(BaseModel):
    promotion_id: UUID
    code: str
    percent_off: int | None
    credits_off: int | None
    max_redemptions: int | None
    expires_at: datetime
    ended: bool


class Promotions(BaseModel):
    items: list[PromotionOut]


class StandingOut(BaseModel):
    tutor_id: UUID
    approved: bool
    suspended: bool
    erased: bool
    may_publish: bool


# -- courses --------------------------------------------------------------------------------------

class CompletionOut(BaseModel):
    min_quiz_score_pct: int
    modules_required: int


class ModuleSummary(BaseModel):
    title: str
    summary: str = ""
    material_count: int = 0
    has_quiz: bool = False


class MaterialOut(BaseModel):
    title: str
    url: str


class QuestionOut(BaseModel):
    prompt: str
    choices: list[str]
    answer: int | None = Field(default=None, description="The right choice: only for the course's creator and staff "
                                                          "(left out for others)")


class ModuleOut(BaseModel):
    title: str
    summary: str = ""
    materials: list[MaterialOut] = []
    quiz: list[QuestionOut] = []


class CourseOut(BaseModel):
    course_id: UUID
    creator_id: UUID
    status: Literal["draft", "published", "retired"]
    title: str
    description: str = ""
    subject_id: str
    level: Level
    completion: CompletionOut
    levels: list[str] = []
    level_thresholds: list[int] = Field(default=[], description="modules passed to reach each of `levels`")
    price_credits: int = 0
    modules: list[ModuleSummary]
    enrolments: int
    syllabus: list[ModuleOut]


class EnrolmentOut(BaseModel):
    enrolment_id: UUID
    course_id: UUID
    student_id: UUID
    funded_by: UUID | None


class ProgressOut(BaseModel):
    enrolment_id: UUID
    course_id: UUID
    student_id: UUID
    modules_total: int
    modules_required: int
    modules_passed: list[int]
    best_scores_pct: dict[int, int] = Field(description="best score per module index")
    attempts: int
    level: str | None
    levels: list[str]
    level_thresholds: list[int]
    completed: bool
    pass_mark_pct: int


class AttemptOut(BaseModel):
    module: int
    score_pct: int
    passed: bool
    correct: list[bool] = Field(description="whether each answer was right (never the key)")
    pass_mark_pct: int
    progress: ProgressOut
