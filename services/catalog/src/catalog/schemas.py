"""Request bodies of catalog's HTTP API, with every type, length and range declared here
(text is trimmed before its length is checked). The domain then checks only the rules that
need the catalogue or several fields at once (a subject that exists, a place for
in-person tutoring, …). Both answer with the field at fault."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from alphapeer_contracts.vocabulary import Level, Mode
from catalog.domain.commands import Communication, RetireReason, SessionMinutes, TeachingStyle, TrialMinutes


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


#: Text is trimmed before its length is checked (lengths are given with each field).
Trimmed = Annotated[str, StringConstraints(strip_whitespace=True)]


def _squash(text: str) -> str:
    return " ".join(text.split())


# A name in the taxonomy: inner runs of spaces count as one (the subject's id is made from it).
TaxonomyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80),
                         AfterValidator(_squash)]
LanguageTag = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Amount = Annotated[StrictInt, Field(ge=0, le=10_000_000)]
PromotionCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True,
                                                 pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{2,18}[A-Za-z0-9]$")]
HttpUrl = Annotated[str, StringConstraints(strip_whitespace=True, min_length=8, max_length=2048,
                                           pattern=r"^https?://")]


# -- taxonomy -------------------------------------------------------------------------------------

class SubjectIn(Strict):
    area: TaxonomyName
    name: TaxonomyName
    topics: list[TaxonomyName] = Field(default_factory=list, max_length=50)


# -- listings ------------------------------------------------------------------------------------

class SubjectLevelIn(Strict):
    subject_id: str = Field(max_length=200, examples=["mathematics.algebra-i"])
    level: Level = Field(examples=["introductory"])
    topics: list[Annotated[Trimmed, Field(min_length=1, max_length=80)]] = Field(default_factory=list, max_length=30)


class RateIn(Strict):
    credits_per_hour: Amount | None = None
    amount_minor_per_hour: Amount | None = None
    currency: Currency | None = Field(default=None, description="ISO 4217; needed with a money rate")


class PlaceIn(Strict):
    campus: Trimmed | None = Field(default=None, max_length=120)
    lat: StrictFloat | StrictInt | None = Field(default=None, ge=-90, le=90)
    lon: StrictFloat | StrictInt | None = Field(default=None, ge=-180, le=180)
    travel_radius_km: StrictFloat | StrictInt = Field(default=0, ge=0, le=100)


class TrialIn(Strict):
    minutes: TrialMinutes
    free: bool = True


Title = Annotated[Trimmed, Field(min_length=3, max_length=120)]
Subjects = Annotated[list[SubjectLevelIn], Field(min_length=1, max_length=20)]
Sessions = Annotated[list[SessionMinutes], Field(min_length=1, max_length=6)]
Modes = Annotated[list[Mode], Field(min_length=1, max_length=5)]
Languages = Annotated[list[LanguageTag], Field(min_length=1, max_length=20)]
Styles = Annotated[list[TeachingStyle], Field(max_length=10)]
Channels = Annotated[list[Communication], Field(max_length=5)]
Bio = Annotated[Trimmed, Field(max_length=3000)]
Qualifications = Annotated[Trimmed, Field(max_length=1000)]


class ListingIn(Strict):
    """A whole listing (POST)."""

    title: Title
    subjects: Subjects
    rate: RateIn
    session_minutes: Sessions
    modes: Modes
    place: PlaceIn | None = None
    languages: Languages
    teaching_styles: Styles = []
    communication: Channels = []
    bio: Bio = ""
    qualifications: Qualifications = ""
    trial: TrialIn | None = None


class ListingPatch(Strict):
    """Part of a listing (PATCH): a field left out keeps its value. Only ``place`` and
    ``trial`` may be sent as null (to remove them); the others are required fields of a
    listing: they may be left out, not nulled."""

    title: Title | None = None
    subjects: Subjects | None = None
    rate: RateIn | None = None
    session_minutes: Sessions | None = None
    modes: Modes | None = None
    place: PlaceIn | None = None
    languages: Languages | None = None
    teaching_styles: Styles | None = None
    communication: Channels | None = None
    bio: Bio | None = None
    qualifications: Qualifications | None = None
    trial: TrialIn | None = None

    # Runs only for fields that were sent (defaults are not validated).
    @field_validator("title", "subjects", "rate", "session_minutes", "modes", "languages", "teaching_styles",
                     "communication", "bio", "qualifications", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be left out, not null")
        return value

    @model_validator(mode="after")
    def _names_a_field(self) -> ListingPatch:
        if not self.model_fields_set:
            raise ValueError("names no field to change")
        return self


class PromotionIn(Strict):
    code: PromotionCode = Field(examples=["EXAM-WEEK"])
    percent_off: StrictInt | None = Field(default=None, ge=1, le=100)
    credits_off: StrictInt | None = Field(default=None, ge=1)
    max_redemptions: StrictInt | None = Field(default=None, ge=1)
    expires_at: AwareDatetime


# -- courses -------------------------------------------------------------------------------------

class MaterialIn(Strict):
    title: Trimmed = Field(min_length=1, max_length=200)
    url: HttpUrl


class QuestionIn(Strict):
    prompt: Trimmed = Field(min_length=1, max_length=1000)
    choices: list[Annotated[Trimmed, Field(min_length=1, max_length=300)]] = Field(min_length=2, max_length=8)
    answer: StrictInt = Field(ge=0, description="index of the right choice; never shown to learners")


class ModuleIn(Strict):
    title: Trimmed = Field(min_length=1, max_length=200)
    summary: Trimmed = Field(default="", max_length=2000)
    materials: list[MaterialIn] = Field(default_factory=list, max_length=50)
    quiz: list[QuestionIn] = Field(default_factory=list, max_length=100)


class CompletionIn(Strict):
    min_quiz_score_pct: StrictInt = Field(default=70, ge=0, le=100)
    modules_required: StrictInt | None = Field(default=None, ge=1, description="default: every module")


class CourseIn(Strict):
    title: Trimmed = Field(min_length=3, max_length=200)
    description: Trimmed = Field(default="", max_length=5000)
    subject_id: str = Field(max_length=200)
    level: Level
    modules: list[ModuleIn] = Field(min_length=1, max_length=60)
    completion: CompletionIn = Field(default_factory=CompletionIn)
    levels: list[Annotated[Trimmed, Field(min_length=1, max_length=80)]] = Field(
        default_factory=list, max_length=10, description="e.g. Bronze, Silver, Gold")
    level_up_after: list[Annotated[StrictInt, Field(ge=1)]] | None = Field(
        default=None, max_length=10,
        description="modules passed to reach each level (rising); default: spread evenly over the modules")
    price_credits: StrictInt = Field(default=0, ge=0)


class RetireIn(Strict):
    reason_code: RetireReason


class EnrolIn(Strict):
    funded_by: UUID | None = Field(default=None, description="a funder (sponsor) paying for the learner")


class AttemptIn(Strict):
    answers: list[StrictInt] = Field(max_length=100, description="the index of the chosen answer, per question")
