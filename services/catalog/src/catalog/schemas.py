"""Request bodies of catalog's HTTP API. Everything JSON Schema can say is declared here —
types, lengths, ranges, patterns (text is taken as sent: a pattern refuses white space at
either end and control characters instead of the server trimming them), fields that go
together (``dependentRequired``, ``anyOf``/``oneOf`` of ``required``) — and the gateway
enforces exactly that. The domain then checks only the rules that need the catalogue or
the stored state (a subject that exists, topics of that subject, …); those are named in
the operation's description. Both answer with the field at fault."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictBool, StrictFloat, StringConstraints, model_validator

from alphapeer_contracts.vocabulary import Level, Mode
from catalog.domain.commands import Communication, RetireReason, SessionMinutes, TeachingStyle, TrialMinutes
from servicekit.bodies import (
    VISIBLE,
    Body,
    Omittable,
    Timestamp,
    Uuid,
    WholeNumber,
    explained,
    line,
    paragraphs,
)

# A name in the taxonomy: words of visible characters, one space between them. An area's
# or a subject's name makes the subject's id (its letters and digits, lower case, the rest
# as hyphens), so it needs at least one ASCII letter or digit.
_WORDS = rf"{VISIBLE}+(?: {VISIBLE}+)*"
TOPIC_PATTERN = explained(rf"^{_WORDS}$", "must be words with one space between them, nothing to trim")
NAME_PATTERN = explained(rf"^(?:{VISIBLE}+ )*{VISIBLE}*[A-Za-z0-9]{VISIBLE}*(?: {VISIBLE}+)*$",
                         "must be words with one space between them, nothing to trim, and a letter or digit A-Z/0-9")
#: What a subject id looks like (``area.subject``, from the names); whether it exists is the taxonomy's say.
SUBJECT_ID_PATTERN = explained(r"^[a-z0-9-]*\.[a-z0-9-]*$", "must be a subject id like mathematics.algebra-i")
URL_PATTERN = explained(rf"^https?://{VISIBLE}+$", "must be an http(s) URL without white space")

TopicName = Annotated[str, Field(min_length=1, max_length=80, pattern=TOPIC_PATTERN,
                                 description="One or more words, one space between them, nothing to trim")]
TaxonomyName = Annotated[str, Field(min_length=1, max_length=80, pattern=NAME_PATTERN,
                                    description="One or more words, one space between them, nothing to trim, "
                                                "with at least one letter or digit A-Z/0-9 (the id is made from "
                                                "them)")]
SubjectId = Annotated[str, Field(min_length=2, max_length=200, pattern=SUBJECT_ID_PATTERN,
                                 description="A subject of the current taxonomy (GET /v1/subjects), not retired",
                                 examples=["mathematics.algebra-i"])]
LanguageTag = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. GBP")]
Amount = Annotated[WholeNumber, Field(ge=0, le=10_000_000)]
PromotionCode = Annotated[str, StringConstraints(to_upper=True,
                                                 pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{2,18}[A-Za-z0-9]$")]
HttpUrl = Annotated[str, Field(min_length=8, max_length=2048, pattern=URL_PATTERN)]


def _schema(**keywords: Any) -> ConfigDict:
    """A body's config adding JSON Schema keywords about several fields at once."""
    return ConfigDict(json_schema_extra=keywords)


# -- taxonomy -------------------------------------------------------------------------------------

class SubjectIn(Body):
    area: TaxonomyName
    name: TaxonomyName
    topics: list[TopicName] = Field(default_factory=list, max_length=50)


# -- listings ------------------------------------------------------------------------------------

class SubjectLevelIn(Body):
    subject_id: SubjectId
    level: Level = Field(examples=["introductory"])
    topics: list[TopicName] = Field(default_factory=list, max_length=30,
                                    description="Topics of that subject, as the taxonomy names them")


class RateIn(Body):
    """Per hour; 0 means free. Credits, money, or both; money needs its currency."""

    model_config = _schema(anyOf=[{"required": ["credits_per_hour"]}, {"required": ["amount_minor_per_hour"]}],
                           dependentRequired={"amount_minor_per_hour": ["currency"]})

    credits_per_hour: Omittable[Amount] = None
    amount_minor_per_hour: Omittable[Amount] = Field(default=None, description="in the currency's minor unit")
    currency: Omittable[Currency] = Field(default=None, description="ISO 4217; needed with a money rate")


class PlaceIn(Body):
    """A campus, a point (lat and lon together), or both."""

    model_config = _schema(anyOf=[{"required": ["campus"]}, {"required": ["lat"]}],
                           dependentRequired={"lat": ["lon"], "lon": ["lat"]})

    campus: Omittable[Annotated[str, line(120)]] = None
    lat: Omittable[Annotated[StrictFloat, Field(ge=-90, le=90)]] = None
    lon: Omittable[Annotated[StrictFloat, Field(ge=-180, le=180)]] = None
    travel_radius_km: StrictFloat = Field(default=0, ge=0, le=100)


class TrialIn(Body):
    minutes: TrialMinutes
    free: StrictBool = True


Title = Annotated[str, line(120, min_length=3)]
Subjects = Annotated[list[SubjectLevelIn], Field(min_length=1, max_length=20)]
Sessions = Annotated[list[SessionMinutes], Field(min_length=1, max_length=6)]
Modes = Annotated[list[Mode], Field(min_length=1, max_length=5)]
Languages = Annotated[list[LanguageTag], Field(min_length=1, max_length=20)]
Styles = Annotated[list[TeachingStyle], Field(max_length=10)]
Channels = Annotated[list[Communication], Field(max_length=5)]
Bio = Annotated[str, paragraphs(3000)]
Qualifications = Annotated[str, paragraphs(1000)]

#: In-person tutoring needs a place.
IN_PERSON_NEEDS_A_PLACE = {
    "if": {"required": ["modes"], "properties": {"modes": {"contains": {"const": "in_person"}}}},
    "then": {"required": ["place"], "properties": {"place": {"type": "object"}}},
}


class ListingIn(Body):
    """A whole listing (POST)."""

    model_config = _schema(**IN_PERSON_NEEDS_A_PLACE)

    title: Title
    subjects: Subjects
    rate: RateIn
    session_minutes: Sessions
    modes: Modes
    place: PlaceIn | None = Field(default=None, description="needed for in-person tutoring")
    languages: Languages
    teaching_styles: Styles = []
    communication: Channels = []
    bio: Bio = ""
    qualifications: Qualifications = ""
    trial: TrialIn | None = None


class ListingPatch(Body):
    """Part of a listing (PATCH): a field left out keeps its value, and at least one is
    named. Only ``place`` and ``trial`` may be sent as null (to remove them); the others are
    required fields of a listing: they may be left out, not nulled."""

    model_config = _schema(minProperties=1, **{
        "if": {"required": ["modes", "place"], "properties": {"modes": {"contains": {"const": "in_person"}}}},
        "then": {"properties": {"place": {"type": "object"}}},
    })

    title: Omittable[Title] = None
    subjects: Omittable[Subjects] = None
    rate: Omittable[RateIn] = None
    session_minutes: Omittable[Sessions] = None
    modes: Omittable[Modes] = None
    place: PlaceIn | None = None
    languages: Omittable[Languages] = None
    teaching_styles: Omittable[Styles] = None
    communication: Omittable[Channels] = None
    bio: Omittable[Bio] = None
    qualifications: Omittable[Qualifications] = None
    trial: TrialIn | None = None

    @model_validator(mode="after")
    def _names_a_field(self) -> ListingPatch:
        if not self.model_fields_set:
            raise ValueError("names no field to change")
        return self


class PromotionIn(Body):
    """Either ``percent_off`` or ``credits_off``."""

    model_config = _schema(oneOf=[{"required": ["percent_off"]}, {"required": ["credits_off"]}])

    code: PromotionCode = Field(examples=["EXAM-WEEK"], description="Stored in upper case")
    percent_off: Omittable[Annotated[WholeNumber, Field(ge=1, le=100)]] = None
    credits_off: Omittable[Annotated[WholeNumber, Field(ge=1)]] = None
    max_redemptions: WholeNumber | None = Field(default=None, ge=1)
    expires_at: Timestamp = Field(description="Must be in the future")


# -- courses -------------------------------------------------------------------------------------

class MaterialIn(Body):
    title: str = line(200)
    url: HttpUrl


class QuestionIn(Body):
    prompt: str = paragraphs(1000, min_length=1)
    choices: list[Annotated[str, line(300)]] = Field(min_length=2, max_length=8)
    answer: WholeNumber = Field(ge=0, le=7, description="The index of the right choice (less than the number of "
                                                        "choices); never shown to learners")


class ModuleIn(Body):
    title: str = line(200)
    summary: str = paragraphs(2000, default="")
    materials: list[MaterialIn] = Field(default_factory=list, max_length=50)
    quiz: list[QuestionIn] = Field(default_factory=list, max_length=100)


class CompletionIn(Body):
    min_quiz_score_pct: WholeNumber = Field(default=70, ge=0, le=100)
    modules_required: WholeNumber | None = Field(
        default=None, ge=1, le=60, description="At most the number of modules; default: every module")


class CourseIn(Body):
    title: str = line(200, min_length=3)
    description: str = paragraphs(5000, default="")
    subject_id: SubjectId
    level: Level
    modules: list[ModuleIn] = Field(min_length=1, max_length=60)
    completion: CompletionIn = Field(default_factory=CompletionIn)
    levels: list[Annotated[str, line(80)]] = Field(default_factory=list, max_length=10,
                                                   description="e.g. Bronze, Silver, Gold")
    level_up_after: list[Annotated[WholeNumber, Field(ge=1, le=60)]] | None = Field(
        default=None, max_length=10,
        description="Modules passed to reach each level: one number per level, each more than the one before, "
                    "none more than the number of modules; default: spread evenly over the modules")
    price_credits: WholeNumber = Field(default=0, ge=0)


class RetireIn(Body):
    reason_code: RetireReason


class EnrolIn(Body):
    funded_by: Uuid | None = Field(default=None, description="a funder (sponsor) paying for the learner")


class AttemptIn(Body):
    answers: list[Annotated[WholeNumber, Field(ge=0, le=7)]] = Field(
        max_length=100, description="The index of the chosen answer, one per question of the module's quiz")
