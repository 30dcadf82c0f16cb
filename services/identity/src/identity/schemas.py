"""Request and response bodies of identity's HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from alphapeer_contracts.vocabulary import Role
from identity.domain.rules import BackgroundStatus, SuspensionReason


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReferralIn(Strict):
    referrer_user_id: UUID | None = None
    channel: str | None = Field(default=None, max_length=64)
    campaign: str | None = Field(default=None, max_length=128)


class RegisterIn(Strict):
    email: str = Field(max_length=254, examples=["ada@uni.example"])
    password: str = Field(min_length=10, max_length=256)
    display_name: str = Field(min_length=1, max_length=80)
    time_zone: str = Field(default="UTC", examples=["Europe/London"])
    languages: list[str] = Field(default_factory=list, max_length=20)
    referral: ReferralIn | None = None


class Registered(BaseModel):
    user_id: UUID
    #: "not_sent": the mail server was away; ask again with POST /v1/auth/resend-verification.
    email_verification: Literal["sent", "not_sent"] = "sent"


class TokenIn(Strict):
    token: str = Field(min_length=10, max_length=200)


class LoginIn(Strict):
    email: str = Field(max_length=254)
    password: str = Field(max_length=256)


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=10, max_length=200)


class PasswordIn(Strict):
    old_password: str = Field(max_length=256)
    new_password: str = Field(min_length=10, max_length=256)


# The body of application.TokenPair (a comment, not a docstring: that would change the OpenAPI document).
class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    refresh_token: str
    user_id: UUID


class PublicProfileIn(Strict):
    display_name: str | None = Field(default=None, min_length=1, max_length=80)
    headline: str | None = Field(default=None, max_length=140)
    avatar_url: str | None = Field(default=None, max_length=2048)
    languages: list[str] | None = Field(default=None, max_length=20)
    time_zone: str | None = None


class PrivateProfileIn(Strict):
    legal_name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    date_of_birth: str | None = Field(default=None, max_length=10, examples=["2004-05-17"])
    notes: str | None = Field(default=None, max_length=2000)


class RoleIn(Strict):
    role: Role


class SuspendIn(Strict):
    reason_code: SuspensionReason
    note: str = Field(default="", max_length=2000)


class BackgroundCheckIn(Strict):
    status: BackgroundStatus


class ApplicationIn(Strict):
    subjects: list[str] = Field(min_length=1, max_length=30)
    levels: list[str] = Field(min_length=1, max_length=10)
    qualifications: str = Field(default="", max_length=4000)
    statement: str = Field(default="", max_length=4000)
    document_ids: list[UUID] = Field(default_factory=list, max_length=10)


class ReviewIn(Strict):
    note: str | None = Field(default=None, max_length=2000)


class RejectIn(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class DocumentOut(BaseModel):
    document_id: UUID
    filename: str | None
    content_type: str
    size: int
    sha256: str


class KeyRotated(BaseModel):
    kid: str
    rotated_at: datetime


class PasswordResetIn(Strict):
    email: str = Field(min_length=3, max_length=254, examples=["ada@uni.example"])


class PasswordResetRequested(BaseModel):
    password_reset: Literal["requested"] = "requested"


class PasswordResetConfirmIn(Strict):
    token: str = Field(min_length=10, max_length=200)
    new_password: str = Field(min_length=10, max_length=256)


class VerificationSent(BaseModel):
    email_verification: Literal["sent"] = "sent"


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
