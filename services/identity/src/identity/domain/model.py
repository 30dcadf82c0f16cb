"""Identity's aggregates. Personal values arrive here already sealed (see ports.Vault):
the domain never sees an email or a name in the clear, and so neither does the event store.

Each public method checks its rule and then calls a decorated private method that records
the fact; the decorated method only changes state (it is replayed when loading)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from identity.domain import rules
from identity.domain.errors import Conflict, IdentityError, InvalidCredentials, SelfReview, ValidationError

NAMESPACE = UUID("5f2b1c9e-8a4d-4e7f-9b3a-2c6d8e0f1a24")
ERASED_NAME = "Erased user"


class User(Aggregate):
    @event("Registered")
    def __init__(
        self,
        id: UUID,
        email_sealed: str,
        email_key: str,
        password_hash: str,
        display_name: str,
        time_zone: str,
        languages: list[str],
        referral: dict[str, Any] | None,
        roles: list[str],
    ) -> None:
        """A person created an account (email sealed; a keyed hash for look-up)."""
        self.email_sealed: str | None = email_sealed
        self.email_key = email_key
        self.password_hash = password_hash
        self.display_name = display_name
        self.headline: str | None = None
        self.avatar_url: str | None = None
        self.time_zone = time_zone
        self.languages = list(languages)
        self.referral = referral
        self.roles = list(roles)
        self.email_verified = False
        self.private: dict[str, str] = {}
        self.suspended = False
        self.suspension_reason: str | None = None
        self.suspension_note_sealed: str | None = None
        self.background_check = "not_started"
        self.background_check_provider: str | None = None
        self.erased = False
        self.open_application_id: UUID | None = None
        self.application_ids: list[UUID] = []
        self.session_ids: list[UUID] = []

    # -- rules -----------------------------------------------------------------------

    def check_active(self) -> None:
        if self.erased:
            raise Conflict("this account was erased")

    def check_may_sign_in(self) -> None:
        if self.erased:
            raise InvalidCredentials("email or password is wrong")

    # -- commands --------------------------------------------------------------------

    def verify_email(self) -> None:
        self.check_active()
        if self.email_verified:
            raise Conflict("the email address is already verified", field="token")
        self._email_verified()

    @event("EmailVerified")
    def _email_verified(self) -> None:
        """The user proved they own the address."""
        self.email_verified = True

    @event("PasswordChanged")
    def change_password(self, password_hash: str) -> None:
        """Internal: a new hash (changed, or re-hashed with stronger parameters)."""
        self.password_hash = password_hash

    def grant_role(self, role: str, by: UUID | None) -> None:
        self.check_active()
        rules.role(role)
        if role in self.roles:
            raise Conflict(f"already holds the role {role}", field="role")
        self._role_granted(role, by)

    @event("RoleGranted")
    def _role_granted(self, role: str, by: UUID | None) -> None:
        self.roles.append(role)

    def revoke_role(self, role: str, by: UUID | None) -> None:
        self.check_active()
        rules.role(role)
        if role not in self.roles:
            raise Conflict(f"does not hold the role {role}", field="role")
        self._role_revoked(role, by)

    @event("RoleRevoked")
    def _role_revoked(self, role: str, by: UUID | None) -> None:
        self.roles.remove(role)

    def update_public_profile(self, **changes: Any) -> None:
        self.check_active()
        unknown = set(changes) - {"display_name", "headline", "avatar_url", "languages", "time_zone"}
        if unknown:
            raise ValidationError(sorted(unknown)[0], "is not a public profile field")
        self._public_profile_updated(
            display_name=rules.display_name(changes.get("display_name") or self.display_name),
            headline=rules.headline(changes["headline"]) if "headline" in changes else self.headline,
            avatar_url=rules.avatar_url(changes["avatar_url"]) if "avatar_url" in changes else self.avatar_url,
            languages=rules.languages(changes["languages"]) if changes.get("languages") is not None
            else self.languages,
            time_zone=rules.time_zone(changes["time_zone"]) if changes.get("time_zone") else self.time_zone,
        )

    @event("PublicProfileUpdated")
    def _public_profile_updated(self, display_name: str, headline: str | None, avatar_url: str | None,
                                languages: list[str], time_zone: str) -> None:
        """The whole public section, as it now stands."""
        self.display_name = display_name
        self.headline = headline
        self.avatar_url = avatar_url
        self.languages = list(languages)
        self.time_zone = time_zone

    def update_private_profile(self, sealed: dict[str, str | None]) -> None:
        self.check_active()
        self._private_profile_updated(sealed)

    @event("PrivateProfileUpdated")
    def _private_profile_updated(self, sealed: dict[str, str | None]) -> None:
        """Internal: private fields, sealed; None clears a field."""
        for key, value in sealed.items():
            if value is None:
                self.private.pop(key, None)
            else:
                self.private[key] = value

    def suspend(self, by: UUID, reason_code: str, note_sealed: str | None) -> None:
        self.check_active()
        rules.choice("reason_code", reason_code, rules.SUSPENSION_REASONS)
        if self.suspended:
            raise Conflict("the user is already suspended")
        self._suspended(by, reason_code, note_sealed)

    @event("Suspended")
    def _suspended(self, by: UUID, reason_code: str, note_sealed: str | None) -> None:
        self.suspended = True
        self.suspension_reason = reason_code
        self.suspension_note_sealed = note_sealed

    def reinstate(self, by: UUID) -> None:
        self.check_active()
        if not self.suspended:
            raise Conflict("the user is not suspended")
        self._reinstated(by)

    @event("Reinstated")
    def _reinstated(self, by: UUID) -> None:
        self.suspended = False
        self.suspension_reason = None
        self.suspension_note_sealed = None

    def set_background_check(self, status: str, provider: str) -> None:
        self.check_active()
        rules.choice("status", status, rules.BACKGROUND_STATUSES)
        self._background_check_updated(status, provider)

    @event("BackgroundCheckUpdated")
    def _background_check_updated(self, status: str, provider: str) -> None:
        self.background_check = status
        self.background_check_provider = provider

    def open_application(self, application_id: UUID) -> None:
        self.check_active()
        if self.open_application_id is not None:
            raise Conflict("you already have an application under review", field="application")
        self._application_opened(application_id)

    @event("ApplicationOpened")
    def _application_opened(self, application_id: UUID) -> None:
        self.open_application_id = application_id
        self.application_ids.append(application_id)

    @event("ApplicationClosed")
    def close_application(self, application_id: UUID) -> None:
        if self.open_application_id == application_id:
            self.open_application_id = None

    @event("SessionOpened")
    def session_opened(self, session_id: UUID) -> None:
        self.session_ids.append(session_id)

    @event("SessionsForgotten")
    def sessions_forgotten(self) -> None:
        self.session_ids = []

    def erase(self, by: UUID) -> None:
        if self.erased:
            return
        self._erased(by)

    @event("Erased")
    def _erased(self, by: UUID) -> None:
        """Personal data is gone (its key destroyed); the account keeps its id only."""
        self.erased = True
        self.email_sealed = None
        self.display_name = ERASED_NAME
        self.headline = None
        self.avatar_url = None
        self.private = {}
        self.suspension_note_sealed = None
        self.referral = None


class EmailIndex(Aggregate):
    """Uniqueness of an email without a table lock: the id is derived from a keyed hash of
    the address, so two registrations of one address collide on version 1."""

    @staticmethod
    def create_id(email_key: str) -> UUID:
        return uuid5(NAMESPACE, f"email:{email_key}")

    @event("Claimed")
    def __init__(self, email_key: str, user_id: UUID) -> None:
        self.email_key = email_key
        self.user_id: UUID | None = user_id

    @event("Released")
    def release(self) -> None:
        self.user_id = None

    def reclaim(self, user_id: UUID) -> None:
        if self.user_id is not None:
            raise Conflict("is already registered", field="email")
        self._reclaimed(user_id)

    @event("Reclaimed")
    def _reclaimed(self, user_id: UUID) -> None:
        self.user_id = user_id


def token_id(purpose: str, token_hash: str) -> UUID:
    return uuid5(NAMESPACE, f"{purpose}:{token_hash}")


class EmailVerification(Aggregate):
    """A one-time token; only its hash is stored, as the aggregate's id."""

    @staticmethod
    def create_id(token_hash: str) -> UUID:
        return token_id("verify", token_hash)

    @event("Issued")
    def __init__(self, token_hash: str, user_id: UUID, expires_at: datetime) -> None:
        self.user_id = user_id
        self.expires_at = expires_at
        self.used = False

    def use(self, now: datetime) -> None:
        if self.used:
            raise Conflict("this verification token was already used", field="token")
        if now >= self.expires_at:
            raise ValidationError("token", "has expired; ask for a new one")
        self._used()

    @event("Used")
    def _used(self) -> None:
        self.used = True


class TutorApplication(Aggregate):
    @event("Submitted")
    def __init__(self, user_id: UUID, subjects: list[str], levels: list[str], qualifications_sealed: str,
                 statement_sealed: str, documents_sealed: str, document_count: int) -> None:
        """A user applied to teach; what they wrote and uploaded is sealed."""
        self.user_id = user_id
        self.subjects = list(subjects)
        self.levels = list(levels)
        self.qualifications_sealed = qualifications_sealed
        self.statement_sealed = statement_sealed
        self.documents_sealed = documents_sealed
        self.document_count = document_count
        self.status = "submitted"
        self.reviewer_id: UUID | None = None
        self.review_note_sealed: str | None = None

    def _check_reviewable(self, reviewer_id: UUID) -> None:
        if reviewer_id == self.user_id:
            raise SelfReview("you cannot review your own application")
        if self.status != "submitted":
            raise Conflict(f"the application was already {self.status}")

    def approve(self, reviewer_id: UUID, note_sealed: str | None) -> None:
        self._check_reviewable(reviewer_id)
        # The event carries what a public TutorApproved needs, so no other read is required.
        self._approved(reviewer_id, note_sealed, self.user_id, self.subjects, self.levels)

    @event("Approved")
    def _approved(self, reviewer_id: UUID, note_sealed: str | None, user_id: UUID, subjects: list[str],
                  levels: list[str]) -> None:
        self.status = "approved"
        self.reviewer_id = reviewer_id
        self.review_note_sealed = note_sealed

    def reject(self, reviewer_id: UUID, reason_sealed: str) -> None:
        self._check_reviewable(reviewer_id)
        self._rejected(reviewer_id, reason_sealed, self.user_id)

    @event("Rejected")
    def _rejected(self, reviewer_id: UUID, reason_sealed: str, user_id: UUID) -> None:
        self.status = "rejected"
        self.reviewer_id = reviewer_id
        self.review_note_sealed = reason_sealed


class RefreshSession(Aggregate):
    """A sign-in session: a family of refresh tokens, each used once."""

    @event("Started")
    def __init__(self, user_id: UUID, token_hash: str, expires_at: datetime) -> None:
        self.user_id = user_id
        self.token_hash = token_hash
        self.expires_at = expires_at
        self.revoked = False

    def check_usable(self, token_hash: str, now: datetime) -> None:
        if self.revoked:
            raise InvalidCredentials("this session has ended; sign in again")
        if token_hash != self.token_hash:
            raise TokenReused()
        if now >= self.expires_at:
            raise InvalidCredentials("this session has expired; sign in again")

    @event("Rotated")
    def rotate(self, token_hash: str, expires_at: datetime) -> None:
        self.token_hash = token_hash
        self.expires_at = expires_at

    def revoke(self, reason: str) -> None:
        if not self.revoked:
            self._revoked(reason)

    @event("Revoked")
    def _revoked(self, reason: str) -> None:
        self.revoked = True


class TokenReused(IdentityError):
    """A refresh token that was already rotated came back: assume it was stolen."""


class RefreshTokenIndex(Aggregate):
    @staticmethod
    def create_id(token_hash: str) -> UUID:
        return token_id("refresh", token_hash)

    @event("Issued")
    def __init__(self, token_hash: str, session_id: UUID) -> None:
        self.session_id = session_id


SESSION_TTL = timedelta(days=30)
VERIFICATION_TTL = timedelta(hours=48)
