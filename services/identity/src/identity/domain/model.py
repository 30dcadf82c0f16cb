"""Identity's aggregates.

Personal values (email, private profile, notes, reasons, document metadata) arrive here
already sealed by the vault (see ``ports.Vault``): the domain never holds them in the clear,
so neither does the event store, and erasing a user's key makes all of them unreadable
without rewriting history.

Each command method checks its rules, then calls a method decorated with ``@event`` that
only changes state; that method is what replays when an aggregate is loaded, so rules that
depend on the clock or on other aggregates never run during replay. A decorated method
that wants the event's time declares ``timestamp: datetime | None = None``: the library
fills it in when the event is created and passes the stored one on replay.

Every event keeps what a public integration event needs (display name, roles, subjects,
who acted...), so a translator never has to read another aggregate."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from identity.domain import rules
from identity.domain.errors import (
    AccountErased,
    AccountSuspended,
    ApplicationPending,
    Conflict,
    Forbidden,
    InvalidCredentials,
    LastAdmin,
    SelfReview,
    ValidationError,
)

#: Namespace of every derived aggregate id in identity.
NAMESPACE = UUID("5f2b1c9e-8a4d-4e7f-9b3a-2c6d8e0f1a24")
ERASED_NAME = "Erased user"
VERIFICATION_TTL = timedelta(hours=48)
SESSION_TTL = timedelta(days=30)


class User(Aggregate):
    """An account: credentials, roles, profiles, vetting and safety state."""

    class Registered(Aggregate.Created):
        """A person created an account. The email is sealed; roles start as ["student"]."""

        email_sealed: str
        password_hash: str
        display_name: str
        time_zone: str
        languages: list[str]
        referral: dict[str, Any] | None
        roles: list[str]

    class EmailVerified(Aggregate.Event):
        """The user proved they own their email address."""

    class PasswordChanged(Aggregate.Event):
        """A new password hash: ``reason`` is "changed" by the user or "rehashed" with
        stronger parameters at sign-in. Internal; never published."""

        password_hash: str
        reason: str

    class SessionsRevoked(Aggregate.Event):
        """Every refresh session started before this ends (``reason``: password changed,
        suspended, erased, revoked). Internal."""

        reason: str

    class RoleGranted(Aggregate.Event):
        """The user was given ``role``; ``by`` is the actor (None: the system)."""

        role: str
        by: UUID | None

    class RoleRevoked(Aggregate.Event):
        """The user lost ``role``; ``by`` is the actor (None: the system)."""

        role: str
        by: UUID | None

    class PublicProfileUpdated(Aggregate.Event):
        """The whole public profile as it now stands."""

        display_name: str
        headline: str | None
        avatar_url: str | None
        languages: list[str]
        time_zone: str

    class PrivateProfileUpdated(Aggregate.Event):
        """Private fields changed, sealed; a None value clears the field. Internal."""

        sealed: dict[str, str | None]

    class Suspended(Aggregate.Event):
        """Staff member ``by`` suspended the account for ``reason_code``; the free-text
        note is sealed."""

        by: UUID
        reason_code: str
        note_sealed: str | None

    class Reinstated(Aggregate.Event):
        """Staff member ``by`` lifted the suspension."""

        by: UUID

    class BackgroundCheckUpdated(Aggregate.Event):
        """The background check now has ``status`` as reported by ``provider``."""

        status: str
        provider: str

    class TutorApplicationOpened(Aggregate.Event):
        """The user submitted tutor application ``application_id``. Internal."""

        application_id: UUID

    class TutorApplicationClosed(Aggregate.Event):
        """Application ``application_id`` was decided or withdrawn (``outcome``). Internal."""

        application_id: UUID
        outcome: str

    class Erased(Aggregate.Event):
        """The account's personal data was destroyed (its key deleted); only ids remain.
        ``by`` is the actor: the user themself or an admin."""

        by: UUID | None

    @event(Registered)
    def __init__(
        self,
        id: UUID,
        email_sealed: str,
        password_hash: str,
        display_name: str,
        time_zone: str,
        languages: list[str],
        referral: dict[str, Any] | None,
        roles: list[str],
    ) -> None:
        self.email_sealed: str | None = email_sealed
        self.password_hash = password_hash
        self.display_name = display_name
        self.headline: str | None = None
        self.avatar_url: str | None = None
        self.time_zone = time_zone
        self.languages = list(languages)
        self.referral = dict(referral) if referral else None
        self.roles = sorted(roles)
        self.email_verified = False
        self.private: dict[str, str] = {}
        self.suspended = False
        self.suspension_reason_code: str | None = None
        self.suspension_note_sealed: str | None = None
        self.suspended_by: UUID | None = None
        self.suspended_at: datetime | None = None
        self.background_check = "not_started"
        self.background_check_provider: str | None = None
        self.background_check_updated_at: datetime | None = None
        self.session_generation = 0
        self.open_application_id: UUID | None = None
        self.application_ids: list[UUID] = []
        self.erased = False
        self.erased_at: datetime | None = None

    # -- rules -----------------------------------------------------------------------

    def check_not_erased(self) -> None:
        if self.erased:
            raise AccountErased()

    def check_may_sign_in(self) -> None:
        """Erased accounts do not exist for sign-in; suspended ones are refused."""
        if self.erased:
            raise InvalidCredentials("email or password is wrong")
        if self.suspended:
            raise AccountSuspended()

    def has_role(self, role: str) -> bool:
        return role in self.roles

    # -- credentials -----------------------------------------------------------------

    def verify_email(self) -> bool:
        """True when this verified the address; False when it already was."""
        self.check_not_erased()
        if self.email_verified:
            return False
        self._email_verified()
        return True

    @event(EmailVerified)
    def _email_verified(self) -> None:
        self.email_verified = True

    def change_password(self, password_hash: str, reason: str = "changed") -> None:
        self.check_not_erased()
        self._password_changed(password_hash, reason)

    @event(PasswordChanged)
    def _password_changed(self, password_hash: str, reason: str) -> None:
        self.password_hash = password_hash

    def revoke_sessions(self, reason: str) -> None:
        self._sessions_revoked(reason)

    @event(SessionsRevoked)
    def _sessions_revoked(self, reason: str) -> None:
        self.session_generation += 1

    # -- roles -----------------------------------------------------------------------

    def grant_role(self, role: str, by: UUID | None) -> None:
        self.check_not_erased()
        rules.role(role)
        if role in self.roles:
            raise Conflict(f"already holds the role {role}", field="role")
        self._role_granted(role, by)

    @event(RoleGranted)
    def _role_granted(self, role: str, by: UUID | None) -> None:
        self.roles = sorted([*self.roles, role])

    def revoke_role(self, role: str, by: UUID | None) -> None:
        self.check_not_erased()
        rules.role(role)
        if role not in self.roles:
            raise Conflict(f"does not hold the role {role}", field="role")
        self._role_revoked(role, by)

    @event(RoleRevoked)
    def _role_revoked(self, role: str, by: UUID | None) -> None:
        self.roles = [r for r in self.roles if r != role]

    # -- profiles --------------------------------------------------------------------

    def update_public_profile(self, **changes: Any) -> bool:
        """Fields not given keep their value; None clears headline, avatar_url and
        languages. True when something changed (no event otherwise)."""
        self.check_not_erased()
        unknown = set(changes) - set(rules.PUBLIC_FIELDS)
        if unknown:
            raise ValidationError(sorted(unknown)[0], "is not a public profile field")
        display_name = rules.display_name(changes["display_name"]) if "display_name" in changes \
            else self.display_name
        headline = rules.headline(changes["headline"]) if "headline" in changes else self.headline
        avatar_url = rules.avatar_url(changes["avatar_url"]) if "avatar_url" in changes else self.avatar_url
        languages = rules.languages(changes["languages"]) if "languages" in changes else self.languages
        time_zone = rules.time_zone(changes["time_zone"]) if "time_zone" in changes else self.time_zone
        current = (self.display_name, self.headline, self.avatar_url, self.languages, self.time_zone)
        if (display_name, headline, avatar_url, languages, time_zone) == current:
            return False
        self._public_profile_updated(display_name, headline, avatar_url, languages, time_zone)
        return True

    @event(PublicProfileUpdated)
    def _public_profile_updated(self, display_name: str, headline: str | None, avatar_url: str | None,
                                languages: list[str], time_zone: str) -> None:
        self.display_name = display_name
        self.headline = headline
        self.avatar_url = avatar_url
        self.languages = list(languages)
        self.time_zone = time_zone

    def update_private_profile(self, sealed: dict[str, str | None]) -> None:
        self.check_not_erased()
        unknown = set(sealed) - set(rules.PRIVATE_FIELDS)
        if unknown:
            raise ValidationError(sorted(unknown)[0], "is not a private profile field")
        if sealed:
            self._private_profile_updated(sealed)

    @event(PrivateProfileUpdated)
    def _private_profile_updated(self, sealed: dict[str, str | None]) -> None:
        for key, value in sealed.items():
            if value is None:
                self.private.pop(key, None)
            else:
                self.private[key] = value

    # -- safety ----------------------------------------------------------------------

    def suspend(self, by: UUID, reason_code: str, note_sealed: str | None) -> None:
        self.check_not_erased()
        rules.choice("reason_code", reason_code, rules.SUSPENSION_REASONS)
        if by == self.id:
            raise Forbidden("you cannot suspend yourself")
        if self.suspended:
            raise Conflict("the account is already suspended")
        self._suspended(by, reason_code, note_sealed)

    @event(Suspended)
    def _suspended(self, by: UUID, reason_code: str, note_sealed: str | None,
                   timestamp: datetime | None = None) -> None:
        self.suspended = True
        self.suspension_reason_code = reason_code
        self.suspension_note_sealed = note_sealed
        self.suspended_by = by
        self.suspended_at = timestamp

    def reinstate(self, by: UUID) -> None:
        self.check_not_erased()
        if not self.suspended:
            raise Conflict("the account is not suspended")
        self._reinstated(by)

    @event(Reinstated)
    def _reinstated(self, by: UUID) -> None:
        self.suspended = False
        self.suspension_reason_code = None
        self.suspension_note_sealed = None
        self.suspended_by = None
        self.suspended_at = None

    # -- vetting ---------------------------------------------------------------------

    def set_background_check(self, status: str, provider: str) -> bool:
        """True when the recorded status or provider changed (no event otherwise)."""
        self.check_not_erased()
        rules.choice("status", status, rules.BACKGROUND_STATUSES)
        provider = rules.provider(provider)
        if (status, provider) == (self.background_check, self.background_check_provider):
            return False
        self._background_check_updated(status, provider)
        return True

    @event(BackgroundCheckUpdated)
    def _background_check_updated(self, status: str, provider: str, timestamp: datetime | None = None) -> None:
        self.background_check = status
        self.background_check_provider = provider
        self.background_check_updated_at = timestamp

    def open_application(self, application_id: UUID) -> None:
        self.check_not_erased()
        if self.suspended:
            raise AccountSuspended()
        if self.open_application_id is not None:
            raise ApplicationPending()
        self._application_opened(application_id)

    @event(TutorApplicationOpened)
    def _application_opened(self, application_id: UUID) -> None:
        self.open_application_id = application_id
        self.application_ids.append(application_id)

    def close_application(self, application_id: UUID, outcome: str) -> None:
        if self.open_application_id == application_id:
            self._application_closed(application_id, outcome)

    @event(TutorApplicationClosed)
    def _application_closed(self, application_id: UUID, outcome: str) -> None:
        self.open_application_id = None

    # -- erasure ---------------------------------------------------------------------

    def erase(self, by: UUID | None) -> None:
        self.check_not_erased()
        self._erased(by)

    @event(Erased)
    def _erased(self, by: UUID | None, timestamp: datetime | None = None) -> None:
        self.erased = True
        self.erased_at = timestamp
        self.email_sealed = None
        self.display_name = ERASED_NAME
        self.headline = None
        self.avatar_url = None
        self.languages = []
        self.private = {}
        self.referral = None
        self.suspension_note_sealed = None


class EmailIndex(Aggregate):
    """Uniqueness of an email address without a table lock. The id is derived from a keyed
    hash of the normalised address (never the address), so two registrations of one
    address collide on the same aggregate id. Released at erasure, claimable again."""

    class Claimed(Aggregate.Created):
        """The address now belongs to ``user_id``."""

        user_id: UUID

    class Released(Aggregate.Event):
        """``user_id`` was erased; the address is free."""

        user_id: UUID

    class Reclaimed(Aggregate.Event):
        """A released address now belongs to ``user_id``."""

        user_id: UUID

    @staticmethod
    def create_id(email_key: str) -> UUID:  # type: ignore[override]
        """``email_key`` is the keyed hash of the normalised address."""
        return uuid5(NAMESPACE, email_key)

    @classmethod
    def claim(cls, email_key: str, user_id: UUID) -> EmailIndex:
        return cls(id=cls.create_id(email_key), user_id=user_id)

    @event(Claimed)
    def __init__(self, id: UUID, user_id: UUID) -> None:
        self.user_id: UUID | None = user_id

    def reclaim(self, user_id: UUID) -> None:
        if self.user_id is not None:
            raise Conflict("is already registered", field="email")
        self._reclaimed(user_id)

    @event(Reclaimed)
    def _reclaimed(self, user_id: UUID) -> None:
        self.user_id = user_id

    def release(self, user_id: UUID) -> None:
        if self.user_id == user_id:
            self._released(user_id)

    @event(Released)
    def _released(self, user_id: UUID) -> None:
        self.user_id = None


def token_id(purpose: str, token_hash: str) -> UUID:
    """The id of the aggregate that holds a token, found from the token's hash alone."""
    return uuid5(NAMESPACE, f"{purpose}:{token_hash}")


class EmailVerification(Aggregate):
    """A one-time email verification token. Only its SHA-256 is known, as the source of
    the id; it expires, and it can be used once."""

    class Issued(Aggregate.Created):
        """A token for ``user_id`` was issued; it is good until ``expires_at``."""

        user_id: UUID
        expires_at: datetime

    class Used(Aggregate.Event):
        """The token verified its user's address and cannot be used again."""

    @staticmethod
    def create_id(token_hash: str) -> UUID:  # type: ignore[override]
        return token_id("verify", token_hash)

    @classmethod
    def issue(cls, token_hash: str, user_id: UUID, now: datetime) -> EmailVerification:
        return cls(id=cls.create_id(token_hash), user_id=user_id, expires_at=now + VERIFICATION_TTL)

    @event(Issued)
    def __init__(self, id: UUID, user_id: UUID, expires_at: datetime) -> None:
        self.user_id = user_id
        self.expires_at = expires_at
        self.used = False

    def use(self, now: datetime) -> None:
        if self.used:
            raise Conflict("this verification token was already used", field="token")
        if now >= self.expires_at:
            raise ValidationError("token", "has expired; ask for a new one")
        self._used()

    @event(Used)
    def _used(self) -> None:
        self.used = True


class TutorApplication(Aggregate):
    """A user's request to tutor, with what they wrote and uploaded (sealed), decided once
    by a reviewer who is not the applicant."""

    class Submitted(Aggregate.Created):
        """``user_id`` applied to teach ``subjects`` at ``levels`` with ``document_count``
        documents; qualifications, statement and document metadata are sealed."""

        user_id: UUID
        subjects: list[str]
        levels: list[str]
        qualifications_sealed: str
        statement_sealed: str
        documents_sealed: str
        document_count: int

    class Approved(Aggregate.Event):
        """Reviewer ``reviewer_id`` approved ``user_id`` to tutor ``subjects`` at
        ``levels``; the optional note is sealed."""

        reviewer_id: UUID
        note_sealed: str | None
        user_id: UUID
        subjects: list[str]
        levels: list[str]

    class Rejected(Aggregate.Event):
        """Reviewer ``reviewer_id`` rejected ``user_id``'s application; the reason is sealed."""

        reviewer_id: UUID
        reason_sealed: str
        user_id: UUID

    class Withdrawn(Aggregate.Event):
        """The application ended undecided (``reason``: "erased" when its user was erased)."""

        user_id: UUID
        reason: str

    @event(Submitted)
    def __init__(self, user_id: UUID, subjects: list[str], levels: list[str], qualifications_sealed: str,
                 statement_sealed: str, documents_sealed: str, document_count: int) -> None:
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
        self.decided_at: datetime | None = None

    def check_reviewable_by(self, reviewer_id: UUID) -> None:
        if reviewer_id == self.user_id:
            raise SelfReview()
        if self.status != "submitted":
            raise Conflict(f"the application was already {self.status}", field="status")

    def approve(self, reviewer_id: UUID, note_sealed: str | None) -> None:
        self.check_reviewable_by(reviewer_id)
        self._approved(reviewer_id, note_sealed, self.user_id, self.subjects, self.levels)

    @event(Approved)
    def _approved(self, reviewer_id: UUID, note_sealed: str | None, user_id: UUID, subjects: list[str],
                  levels: list[str], timestamp: datetime | None = None) -> None:
        self.status = "approved"
        self.reviewer_id = reviewer_id
        self.review_note_sealed = note_sealed
        self.decided_at = timestamp

    def reject(self, reviewer_id: UUID, reason_sealed: str) -> None:
        self.check_reviewable_by(reviewer_id)
        self._rejected(reviewer_id, reason_sealed, self.user_id)

    @event(Rejected)
    def _rejected(self, reviewer_id: UUID, reason_sealed: str, user_id: UUID,
                  timestamp: datetime | None = None) -> None:
        self.status = "rejected"
        self.reviewer_id = reviewer_id
        self.review_note_sealed = reason_sealed
        self.decided_at = timestamp

    def withdraw(self, reason: str) -> None:
        if self.status == "submitted":
            self._withdrawn(self.user_id, reason)

    @event(Withdrawn)
    def _withdrawn(self, user_id: UUID, reason: str, timestamp: datetime | None = None) -> None:
        self.status = "withdrawn"
        self.decided_at = timestamp


class RefreshSession(Aggregate):
    """A sign-in session: a family of refresh tokens of which only the newest is valid.
    Presenting an older one means a token was copied, so the whole family ends."""

    class Started(Aggregate.Created):
        """``user_id`` signed in; ``token_hash`` is the SHA-256 of the first refresh token.
        ``generation`` is the user's session generation at the time (see
        ``User.SessionsRevoked``)."""

        user_id: UUID
        token_hash: str
        expires_at: datetime
        generation: int

    class Rotated(Aggregate.Event):
        """The current token was exchanged for a new one (``token_hash``); the session
        now lasts until ``expires_at`` (sliding)."""

        token_hash: str
        expires_at: datetime

    class Revoked(Aggregate.Event):
        """The session ended (``reason``: signed out, refresh token reused, ...)."""

        reason: str

    @event(Started)
    def __init__(self, user_id: UUID, token_hash: str, expires_at: datetime, generation: int) -> None:
        self.user_id = user_id
        self.token_hash = token_hash
        self.expires_at = expires_at
        self.generation = generation
        self.revoked = False
        self.revoked_reason: str | None = None

    def is_current(self, token_hash: str) -> bool:
        return token_hash == self.token_hash

    def check_usable(self, now: datetime, user_generation: int) -> None:
        if self.revoked:
            raise InvalidCredentials("this session has ended; sign in again")
        if now >= self.expires_at:
            raise InvalidCredentials("this session has expired; sign in again")
        if self.generation != user_generation:
            raise InvalidCredentials("this session was revoked; sign in again")

    def rotate(self, token_hash: str, now: datetime, ttl: timedelta = SESSION_TTL) -> None:
        self._rotated(token_hash, now + ttl)

    @event(Rotated)
    def _rotated(self, token_hash: str, expires_at: datetime) -> None:
        self.token_hash = token_hash
        self.expires_at = expires_at

    def revoke(self, reason: str) -> None:
        if not self.revoked:
            self._revoked(reason)

    @event(Revoked)
    def _revoked(self, reason: str) -> None:
        self.revoked = True
        self.revoked_reason = reason


class RefreshTokenIndex(Aggregate):
    """Finds a refresh session from a token: the id is derived from the token's SHA-256.
    One per token ever issued, so a rotated token still leads to its family."""

    class Issued(Aggregate.Created):
        """A refresh token of session ``session_id`` was issued."""

        session_id: UUID

    @staticmethod
    def create_id(token_hash: str) -> UUID:  # type: ignore[override]
        return token_id("refresh", token_hash)

    @classmethod
    def issue(cls, token_hash: str, session_id: UUID) -> RefreshTokenIndex:
        return cls(id=cls.create_id(token_hash), session_id=session_id)

    @event(Issued)
    def __init__(self, id: UUID, session_id: UUID) -> None:
        self.session_id = session_id


class AdminRoster(Aggregate):
    """Who holds the admin role, so that the last admin is never removed. One per service."""

    class Started(Aggregate.Created):
        """The roster exists (empty)."""

    class AdminAdded(Aggregate.Event):
        """``user_id`` became an admin."""

        user_id: UUID

    class AdminRemoved(Aggregate.Event):
        """``user_id`` is no longer an admin."""

        user_id: UUID

    @staticmethod
    def create_id() -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE, "admin-roster")

    @event(Started)
    def __init__(self) -> None:
        self.admin_ids: list[UUID] = []

    def add(self, user_id: UUID) -> None:
        if user_id not in self.admin_ids:
            self._admin_added(user_id)

    @event(AdminAdded)
    def _admin_added(self, user_id: UUID) -> None:
        self.admin_ids.append(user_id)

    def check_not_last(self, user_id: UUID) -> None:
        if self.admin_ids == [user_id]:
            raise LastAdmin()

    def remove(self, user_id: UUID) -> None:
        self.check_not_last(user_id)
        if user_id in self.admin_ids:
            self._admin_removed(user_id)

    @event(AdminRemoved)
    def _admin_removed(self, user_id: UUID) -> None:
        self.admin_ids.remove(user_id)
