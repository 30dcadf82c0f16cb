"""Events published by the identity service on ``identity.events``, keyed by user id.

No personal data beyond a public profile: no email, legal name, documents or free-text
reasons."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from alphapeer_contracts.base import IntegrationEvent, SealedText
from alphapeer_contracts.vocabulary import Role

BackgroundCheckStatus = Literal["not_started", "pending", "clear", "consider", "failed"]
SuspensionReason = Literal["conduct", "safety", "fraud", "policy", "other"]


class Referral(BaseModel):
    """Where a user came from at sign-up, for analytics."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    referrer_user_id: UUID | None = None
    channel: str | None = None
    campaign: str | None = None


class _IdentityEvent(IntegrationEvent):
    service: ClassVar[str] = "identity"
    key_field: ClassVar[str] = "user_id"


class UserRegistered(_IdentityEvent):
    """A person created an account."""

    consumers = ("matching", "booking", "ledger", "reputation")
    user_id: UUID
    display_name: str
    roles: list[Role]
    referral: Referral | None = None


class UserRegisteredV2(_IdentityEvent):
    """A person created an account. v2: the display name is sealed under the user's key
    (``identity.keys``), so it is unreadable everywhere once the user is erased."""

    name = "UserRegistered"
    version = 2
    consumers = ("matching", "booking", "ledger", "reputation")
    user_id: UUID
    display_name: SealedText
    roles: list[Role]
    referral: Referral | None = None


class EmailVerified(_IdentityEvent):
    """The user proved they own the email address they registered with."""

    consumers = ("booking",)
    user_id: UUID


class RoleGranted(_IdentityEvent):
    """A role was granted; ``granted_by`` is None when the system granted it."""

    consumers = ("catalog", "matching", "booking", "ledger")
    user_id: UUID
    role: Role
    granted_by: UUID | None = None


class RoleRevoked(_IdentityEvent):
    """A role was taken away."""

    consumers = ("catalog", "matching", "booking", "ledger")
    user_id: UUID
    role: Role
    revoked_by: UUID | None = None


class PublicProfileUpdated(_IdentityEvent):
    """The public section of a profile changed; carries the whole public section."""

    consumers = ("catalog", "matching", "reputation")
    user_id: UUID
    display_name: str
    headline: str | None = None
    avatar_url: str | None = None
    languages: list[str]
    time_zone: str


class PublicProfileUpdatedV2(_IdentityEvent):
    """The public section of a profile changed; carries the whole public section. v2: the
    personal text (name, headline, avatar URL) is sealed under the user's key (``identity.keys``)."""

    name = "PublicProfileUpdated"
    version = 2
    consumers = ("catalog", "matching", "reputation")
    user_id: UUID
    display_name: SealedText
    headline: SealedText | None = None
    avatar_url: SealedText | None = None
    languages: list[str]
    time_zone: str


class TutorApplicationSubmitted(_IdentityEvent):
    """A user applied to teach; documents stay private in identity."""

    consumers = ("matching",)
    application_id: UUID
    user_id: UUID
    subjects: list[str]
    levels: list[str]
    document_count: int


class TutorApproved(_IdentityEvent):
    """Staff approved a tutor application; the user now holds the tutor role."""

    consumers = ("catalog", "matching", "booking")
    application_id: UUID
    user_id: UUID
    subjects: list[str]
    levels: list[str]
    approved_by: UUID


class TutorRejected(_IdentityEvent):
    """Staff rejected a tutor application (the reason stays private)."""

    consumers = ("matching",)
    application_id: UUID
    user_id: UUID
    rejected_by: UUID


class BackgroundCheckUpdated(_IdentityEvent):
    """A background-check provider (or staff, manually) reported a status."""

    consumers = ("matching", "booking")
    user_id: UUID
    status: BackgroundCheckStatus
    provider: str


class UserSuspended(_IdentityEvent):
    """The user may no longer act on the platform (the note stays private)."""

    consumers = ("catalog", "matching", "booking", "sessions")
    user_id: UUID
    suspended_by: UUID
    reason_code: SuspensionReason


class UserReinstated(_IdentityEvent):
    """A suspension was lifted."""

    consumers = ("catalog", "matching", "booking", "sessions")
    user_id: UUID
    reinstated_by: UUID


class UserErased(_IdentityEvent):
    """The user's personal data was erased; keep ids, drop anything personal you hold."""

    consumers = ("catalog", "matching", "booking", "ledger", "sessions", "reputation")
    user_id: UUID
