"""Request and response bodies of identity's HTTP API. Everything JSON Schema can say is
declared here — types, lengths, patterns, enums, ``minProperties`` for a change — and the
gateway enforces exactly that. The patterns are the domain's rules (``identity.domain.rules``)
or say what those rules keep unchanged: text is taken as it will be stored (a pattern refuses
white space at either end, runs of spaces inside a name, and control characters, instead of
the server trimming or squashing them). What needs stored state (a token this API issued,
the current password, a cursor it returned, a document the caller uploaded, a user that
exists) is checked behind the schema and named in the operation's description."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from alphapeer_contracts.vocabulary import Role
from identity.domain import rules
from identity.domain.rules import BackgroundStatus, SuspensionReason
from identity.domain.time_zones import TIME_ZONES
from servicekit.bodies import VISIBLE, Body, Omittable, Uuid, explained, paragraphs


def _or_empty(pattern: str) -> str:
    """``pattern`` (anchored), or the empty string."""
    return f"^(?:{pattern[1:-1]})?$"


# -- values ---------------------------------------------------------------------------------

_WORDS = rf"^{VISIBLE}+(?: {VISIBLE}+)*$"
WORDS_REASON = "must be words with one space between them, nothing to trim, no control characters"
#: A name, a headline, a subject: words of visible characters with one space between them.
WORDS_PATTERN = explained(_WORDS, WORDS_REASON)
WORDS_OR_EMPTY_PATTERN = explained(_or_empty(_WORDS), WORDS_REASON + " (or empty)")
EMAIL_PATTERN = explained(rules.EMAIL_PATTERN,
                          "must be an email address like ada@uni.example (ASCII, nothing to trim)")
LANGUAGE_PATTERN = explained(rules.LANGUAGE_PATTERN, "must be a language tag like en or pt-BR")
SLUG_OR_EMPTY_PATTERN = explained(_or_empty(rules.SLUG_PATTERN),
                                  "must start with a letter or digit, then letters, digits, spaces and _ . : / + -, "
                                  "not ending with a space")
URL_OR_EMPTY_PATTERN = explained(_or_empty(rules.URL_PATTERN),
                                 "must be an http or https URL with a host, without white space")
PHONE_OR_EMPTY_PATTERN = explained(_or_empty(rules.PHONE_PATTERN),
                                   "must be a phone number: digits, spaces, ( ) . - after an optional +, "
                                   "nothing to trim")
#: A date from 1900 on (whether it is past is the server's to say: it depends on the day).
DATE_PATTERN = explained(r"^(?:19|[2-9][0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}$", "must be a date like 2004-05-17, "
                                                                            "from 1900 on")


def _local_part(value: str) -> str:
    if not re.match(rules.EMAIL_LOCAL_PATTERN, value):
        raise ValueError(f"must have at most {rules.EMAIL_LOCAL_MAX} characters before the @")
    return value


def _each_once(ids: list[UUID]) -> list[UUID]:
    """``uniqueItems``, and the same id in other letter case counts as the same too."""
    for i, one in enumerate(ids):
        if one in ids[:i]:
            raise ValueError(f"lists a document twice (items {ids.index(one)} and {i})")
    return ids


def _calendar_date(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a real date like 2004-05-17") from None
    return value


Email = Annotated[str, Field(max_length=rules.EMAIL_MAX, pattern=EMAIL_PATTERN, examples=["ada@uni.example"],
                             description="Stored lower-cased",
                             json_schema_extra={"allOf": [{"pattern": rules.EMAIL_LOCAL_PATTERN}]}),
                  AfterValidator(_local_part)]
Password = Annotated[str, Field(min_length=rules.PASSWORD_MIN, max_length=rules.PASSWORD_MAX)]
DisplayName = Annotated[str, Field(min_length=1, max_length=rules.DISPLAY_NAME_MAX, pattern=WORDS_PATTERN)]
LanguageTag = Annotated[str, Field(max_length=rules.LANGUAGE_MAX, pattern=LANGUAGE_PATTERN,
                                   description="Stored canonically cased (en, pt-BR, zh-Hant-TW)")]
Languages = Annotated[list[LanguageTag], Field(max_length=rules.MAX_LANGUAGES,
                                               description="Repeats are listed once")]
#: A token this API mailed or issued (whether it is one is the server's to say).
Token = Annotated[str, Field(min_length=10, max_length=200)]
Note = Annotated[str, paragraphs(rules.NOTE_MAX)]

if TYPE_CHECKING:
    TimeZone = str
else:
    TimeZone = StrEnum("TimeZone", {zone: zone for zone in TIME_ZONES})
    TimeZone.__doc__ = "A zone name of the IANA time zone database"
_ZONES = frozenset(TIME_ZONES)


def _known_zone(value: Any) -> Any:
    if not isinstance(value, str) or value not in _ZONES:
        raise ValueError("must be an IANA time zone name like Europe/London")
    return value


#: A time zone, by its IANA name (refused with a short reason rather than the whole list).
Zone = Annotated[TimeZone, BeforeValidator(_known_zone)]


# -- auth -----------------------------------------------------------------------------------

class ReferralIn(Body):
    referrer_user_id: Uuid | None = Field(default=None, description="A registered user")
    channel: Annotated[str, Field(max_length=64, pattern=SLUG_OR_EMPTY_PATTERN)] | None = None
    campaign: Annotated[str, Field(max_length=128, pattern=SLUG_OR_EMPTY_PATTERN)] | None = None


class RegisterIn(Body):
    email: Email
    password: Password
    display_name: DisplayName
    time_zone: Zone = Field(default="UTC", examples=["Europe/London"])
    languages: Languages = []
    referral: ReferralIn | None = None


class TokenIn(Body):
    token: Token


class LoginIn(Body):
    #: Any text: a wrong or malformed address is a 401 like a wrong password.
    email: str = Field(max_length=rules.EMAIL_MAX)
    password: str = Field(max_length=rules.PASSWORD_MAX)


class RefreshIn(Body):
    refresh_token: Token


class PasswordIn(Body):
    old_password: str = Field(max_length=rules.PASSWORD_MAX)
    new_password: Password


class PasswordResetIn(Body):
    email: Email


class PasswordResetConfirmIn(Body):
    token: Token
    new_password: Password


# -- users ----------------------------------------------------------------------------------

class PublicProfileIn(Body):
    """A change: a field left out keeps its value, and at least one is named. ``headline``,
    ``avatar_url`` and ``languages`` are cleared with null (or an empty text)."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    display_name: Omittable[DisplayName] = None
    headline: Annotated[str, Field(max_length=rules.HEADLINE_MAX, pattern=WORDS_OR_EMPTY_PATTERN)] | None = None
    avatar_url: Annotated[str, Field(max_length=rules.URL_MAX, pattern=URL_OR_EMPTY_PATTERN)] | None = None
    languages: Languages | None = None
    time_zone: Omittable[Zone] = None

    @model_validator(mode="after")
    def _names_a_field(self) -> PublicProfileIn:
        if not self.model_fields_set:
            raise ValueError("names no field to change")
        return self


class PrivateProfileIn(Body):
    """A change: a field left out keeps its value, and at least one is named; null (or an
    empty text) clears one."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    legal_name: Annotated[str, Field(max_length=200, pattern=WORDS_OR_EMPTY_PATTERN)] | None = None
    phone: Annotated[str, Field(max_length=40, pattern=PHONE_OR_EMPTY_PATTERN)] | None = None
    date_of_birth: Literal[""] | Annotated[str, Field(pattern=DATE_PATTERN, examples=["2004-05-17"],
                                                      json_schema_extra={"format": "date"},
                                                      description="Not in the future"),
                                           AfterValidator(_calendar_date)] | None = None
    notes: Annotated[str, paragraphs(rules.NOTE_MAX)] | None = None

    @model_validator(mode="after")
    def _names_a_field(self) -> PrivateProfileIn:
        if not self.model_fields_set:
            raise ValueError("names no field to change")
        return self


class RoleIn(Body):
    role: Role


class SuspendIn(Body):
    reason_code: SuspensionReason
    note: Note = Field(default="", description="Private to staff")


class BackgroundCheckIn(Body):
    status: BackgroundStatus


# -- tutor applications ---------------------------------------------------------------------

Subject = Annotated[str, Field(min_length=1, max_length=120, pattern=WORDS_PATTERN)]
LevelName = Annotated[str, Field(min_length=1, max_length=60, pattern=WORDS_PATTERN)]


class ApplicationIn(Body):
    subjects: list[Subject] = Field(min_length=1, max_length=rules.MAX_SUBJECTS, description="Repeats are listed once")
    levels: list[LevelName] = Field(min_length=1, max_length=rules.MAX_LEVELS, description="Repeats are listed once")
    qualifications: Annotated[str, paragraphs(rules.TEXT_MAX)] = ""
    statement: Annotated[str, paragraphs(rules.TEXT_MAX)] = ""
    document_ids: Annotated[list[Uuid], AfterValidator(_each_once)] = Field(
        default_factory=list, max_length=rules.MAX_DOCUMENTS, json_schema_extra={"uniqueItems": True},
        description="Documents the caller uploaded (POST /v1/users/me/documents), each once (in any letter case)")


class ReviewIn(Body):
    note: Note | None = None


class RejectIn(Body):
    reason: Annotated[str, paragraphs(rules.NOTE_MAX, min_length=1)]


# -- answers --------------------------------------------------------------------------------

class Registered(BaseModel):
    user_id: UUID
    #: "not_sent": the mail server was away; ask again with POST /v1/auth/resend-verification.
    email_verification: Literal["sent", "not_sent"] = "sent"


class EmailVerifiedOut(BaseModel):
    user_id: UUID
    email_verified: Literal[True] = True


# The body of application.TokenPair (a comment, not a docstring: that would change the OpenAPI document).
class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    refresh_token: str
    user_id: UUID


class PasswordResetRequested(BaseModel):
    password_reset: Literal["requested"] = "requested"


class VerificationSent(BaseModel):
    email_verification: Literal["sent"] = "sent"


class JWK(BaseModel):
    """A public signing key (RFC 7517)."""

    model_config = ConfigDict(extra="allow")

    kty: str
    kid: str
    use: str
    alg: str
    n: str
    e: str


class JWKS(BaseModel):
    keys: list[JWK]


class KeyRotated(BaseModel):
    kid: str
    rotated_at: datetime


class PrivateProfileOut(BaseModel):
    legal_name: str | None
    phone: str | None
    date_of_birth: str | None
    notes: str | None


class ReferralOut(BaseModel):
    referrer_user_id: UUID | None
    channel: str | None
    campaign: str | None


class UserOut(BaseModel):
    user_id: UUID
    email: str | None = Field(description="null once the account is erased")
    email_verified: bool
    roles: list[str]
    display_name: str
    headline: str | None
    avatar_url: str | None
    languages: list[str]
    time_zone: str
    private_profile: PrivateProfileOut
    referral: ReferralOut | None
    suspended: bool
    suspension_reason_code: SuspensionReason | None
    background_check: BackgroundStatus
    background_check_provider: str | None
    background_check_updated_at: datetime | None
    erased: bool
    created_at: datetime
    open_application_id: UUID | None
    tutor_application_ids: list[UUID]


class PublicProfileOut(BaseModel):
    user_id: UUID
    display_name: str
    headline: str | None
    avatar_url: str | None
    languages: list[str]
    time_zone: str
    roles: list[str] = Field(description="Public roles only (not staff or admin)")
    erased: bool


class RolesOut(BaseModel):
    user_id: UUID
    roles: list[str]


class SuspendedOut(BaseModel):
    user_id: UUID
    suspended: Literal[True] = True
    reason_code: SuspensionReason


class ReinstatedOut(BaseModel):
    user_id: UUID
    suspended: Literal[False] = False


class BackgroundCheckOut(BaseModel):
    user_id: UUID
    background_check: BackgroundStatus


class ErasedOut(BaseModel):
    user_id: UUID
    erased: Literal[True] = True


class DocumentOut(BaseModel):
    document_id: UUID
    filename: str | None
    content_type: str
    size: int
    sha256: str


class ApplicationDocumentOut(BaseModel):
    document_id: UUID
    filename: str
    content_type: str
    size: int
    sha256: str


ApplicationStatus = Literal["submitted", "approved", "rejected", "withdrawn"]


class ApplicationOut(BaseModel):
    application_id: UUID
    user_id: UUID
    status: ApplicationStatus
    subjects: list[str]
    levels: list[str]
    qualifications: str | None = Field(description="null once the applicant is erased")
    statement: str | None
    documents: list[ApplicationDocumentOut]
    document_count: int
    reviewer_id: UUID | None
    review_note: str | None = Field(description="The reviewer's note, or the reason for a rejection")
    submitted_at: datetime
    decided_at: datetime | None


class QueuedApplication(BaseModel):
    application_id: UUID
    user_id: UUID
    display_name: str
    subjects: list[str]
    levels: list[str]
    document_count: int
    status: ApplicationStatus
    submitted_at: datetime
    decided_at: datetime | None
    reviewer_id: UUID | None


class ReviewQueuePage(BaseModel):
    items: list[QueuedApplication]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class BackgroundCheckStartedOut(BaseModel):
    user_id: UUID
    background_check: BackgroundStatus
    provider: str
    #: The provider's reference for the check (a Checkr candidate id), when it reports back.
    reference: str | None = None


class WebhookReceived(BaseModel):
    #: applied; duplicate (this event was received before: nothing changed); superseded (older
    #: than the report already applied); ignored (an event that reports no status).
    result: Literal["applied", "duplicate", "superseded", "ignored"]


class DocumentAccessOut(BaseModel):
    seq: int = Field(ge=1)
    accessed_at: datetime
    actor_id: UUID
    actor_role: Literal["applicant", "staff"]
    application_id: UUID
    document_id: UUID
    #: HMAC chain: this entry's seal, over its fields and the previous entry's seal.
    previous_hash: str = Field(min_length=64, max_length=64)
    hash: str = Field(min_length=64, max_length=64)


class DocumentAccessPage(BaseModel):
    items: list[DocumentAccessOut]
    #: Pass as ``after`` for the next page; null on the last page.
    next_after: int | None


class AccessLogCheck(BaseModel):
    entries: int = Field(ge=0)
    intact: bool
    #: The first entry that does not chain (changed, removed or inserted), when not intact.
    first_bad_seq: int | None
    #: The newest entry's seal: note it to prove later that nothing was cut from the end.
    head_hash: str
