"""Request bodies of catalog's HTTP API. Types are checked here; the rules (a subject that
exists, a place for in-person tutoring, …) in the domain — both answer with the field."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictFloat, StrictInt


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubjectIn(Strict):
    area: str = Field(min_length=1, max_length=80)
    name: str = Field(min_length=1, max_length=80)
    topics: list[str] = Field(default_factory=list, max_length=50)


class SubjectLevelIn(Strict):
    subject_id: str = Field(max_length=200, examples=["mathematics.algebra-i"])
    level: str = Field(max_length=40, examples=["introductory"])
    topics: list[str] = Field(default_factory=list, max_length=30)


class RateIn(Strict):
    credits_per_hour: StrictInt | None = Field(default=None, ge=0)
    amount_minor_per_hour: StrictInt | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, max_length=3)


class PlaceIn(Strict):
    campus: str | None = Field(default=None, max_length=120)
    lat: StrictFloat | StrictInt | None = Field(default=None, ge=-90, le=90)
    lon: StrictFloat | StrictInt | None = Field(default=None, ge=-180, le=180)
    travel_radius_km: StrictFloat | StrictInt = Field(default=0, ge=0, le=100)


class TrialIn(Strict):
    minutes: StrictInt
    free: bool = True


class ListingIn(Strict):
    """All fields optional here so PATCH can send a part; POST must give a whole listing."""

    title: str | None = Field(default=None, max_length=120)
    subjects: list[SubjectLevelIn] | None = Field(default=None, max_length=20)
    rate: RateIn | None = None
    session_minutes: list[StrictInt] | None = Field(default=None, max_length=6)
    modes: list[Literal["online", "in_person"]] | None = None
    place: PlaceIn | None = None
    languages: list[str] | None = Field(default=None, max_length=20)
    teaching_styles: list[str] | None = Field(default=None, max_length=10)
    communication: list[str] | None = Field(default=None, max_length=5)
    bio: str | None = Field(default=None, max_length=3000)
    qualifications: str | None = Field(default=None, max_length=1000)
    trial: TrialIn | None = None


class PromotionIn(Strict):
    code: str = Field(min_length=4, max_length=20, examples=["EXAM-WEEK"])
    percent_off: StrictInt | None = None
    credits_off: StrictInt | None = None
    max_redemptions: StrictInt | None = None
    expires_at: AwareDatetime


class MaterialIn(Strict):
    title: str = Field(min_length=1, max_length=200)
    url: str = Field(max_length=2048)


class QuestionIn(Strict):
    prompt: str = Field(min_length=1, max_length=1000)
    choices: list[str] = Field(min_length=2, max_length=8)
    answer: StrictInt = Field(description="index of the right choice; never shown to learners")


class ModuleIn(Strict):
    title: str = Field(min_length=1, max_length=200)
    summary: str = Field(default="", max_length=2000)
    materials: list[MaterialIn] = Field(default_factory=list, max_length=50)
    quiz: list[QuestionIn] = Field(default_factory=list, max_length=100)


class CompletionIn(Strict):
    min_quiz_score_pct: StrictInt = 70
    modules_required: StrictInt | None = None


class CourseIn(Strict):
    title: str = Field(min_length=3, max_length=200)
    description: str = Field(default="", max_length=5000)
    subject_id: str = Field(max_length=200)
    level: str = Field(max_length=40)
    modules: list[ModuleIn] = Field(min_length=1, max_length=60)
    completion: CompletionIn = Field(default_factory=CompletionIn)
    levels: list[str] = Field(default_factory=list, max_length=10, description="e.g. Bronze, Silver, Gold")
    level_up_after: list[StrictInt] | None = Field(
        default=None, max_length=10,
        description="modules passed to reach each level (rising); default: spread evenly over the modules")
    price_credits: StrictInt = Field(default=0, ge=0)


class RetireIn(Strict):
    reason_code: Literal["outdated", "replaced", "quality", "creator_left", "other"]


class EnrolIn(Strict):
    funded_by: UUID | None = Field(default=None, description="a funder (sponsor) paying for the learner")


class AttemptIn(Strict):
    answers: list[StrictInt] = Field(max_length=100, description="the index of the chosen answer, per question")
