"""The account: credentials, roles, profiles, vetting and safety state.

Personal values (email, private profile, notes, reasons) arrive already sealed by the vault
(see ``ports.Vault``): the aggregate never holds them in the clear, so neither does the
event store, and erasing a user's key makes all of them unreadable without rewriting
history.

Each command method checks its rules, then calls a method decorated with ``@event`` that
only changes state; that method is what replays when an aggregate is loaded, so rules that
depend on the clock or on other aggregates never run during replay. A decorated method
that wants the event's time declares ``timestamp: datetime | None = None``: the library
fills it in when the event is created and passes the stored one on replay.

Every event keeps what a public integration event needs (display name, roles, who
acted...), so a translator never has to read another aggregate."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from identity.domain import rules
from identity.domain.errors import (
    AccountErased,
    AccountSuspended,
    ApplicationPending,
    Conflict,
    Forbidden,
    Invalid,
    InvalidCredentials,
)

ERASED_NAME = "Erased user"


class User(Aggregate):
    """An account: credentials, roles, profiles, vetting and safety state."""

    class Registered(Aggregate.Created):
        """A person created an account. The email is sealed in identity's own vault, the
        display name in the shared one (its key travels on ``identity.keys``; events stored
        before that hold it in the clear); roles start as ["student"]."""

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
        """A new password hash: ``reason`` is "changed" by the user, "reset" with a mailed
        token, or "rehashed" with stronger parameters at sign-in. Internal; never published."""

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
        """The whole public profile as it now stands; name, headline and avatar URL sealed
        in the shared vault (in the clear in events stored before sealing)."""

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
        #: Counts real password changes (not re-hashes): a reset token is good for one version.
        self.password_version = 0
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
        if reason != "rehashed":
            self.password_version += 1

    def revoke_sessions(self, reason: str) -> None:
        self._sessions_revoked(reason)

    @event(SessionsRevoked)
    def _sessions_revoked(self, reason: str) -> None:
        self.session_generation += 1

    # -- roles -----------------------------------------------------------------------

    def grant_role(self, role: str, by: UUID | None) -> None:
        """``role`` is a name of the platform's vocabulary (the application checks it: the
        vocabulary lives with the contracts, which the domain does not import)."""
        self.check_not_erased()
        if role in self.roles:
            raise Conflict(f"already holds the role {role}", field="role")
        self._role_granted(role, by)

    @event(RoleGranted)
    def _role_granted(self, role: str, by: UUID | None) -> None:
        self.roles = sorted([*self.roles, role])

    def revoke_role(self, role: str, by: UUID | None) -> None:
        self.check_not_erased()
        if role not in self.roles:
            raise Conflict(f"does not hold the role {role}", field="role")
        self._role_revoked(role, by)

    @event(RoleRevoked)
    def _role_revoked(self, role: str, by: UUID | None) -> None:
        self.roles = [r for r in self.roles if r != role]

    # -- profiles --------------------------------------------------------------------

    def update_public_profile(self, current: Mapping[str, Any], seal: Callable[[str], str],
                              **changes: Any) -> bool:
        """Fields not given keep their value; None clears headline, avatar_url and
        languages. True when something changed (no event otherwise). ``current`` is the
        profile's personal text as it reads now (the stored values are sealed, and only the
        application holds the vault); the new text is recorded sealed with ``seal``."""
        self.check_not_erased()
        unknown = set(changes) - set(rules.PUBLIC_FIELDS)
        if unknown:
            raise Invalid(sorted(unknown)[0], "is not a public profile field")
        display_name = rules.display_name(changes["display_name"]) if "display_name" in changes \
            else current["display_name"]
        headline = rules.headline(changes["headline"]) if "headline" in changes else current["headline"]
        avatar_url = rules.avatar_url(changes["avatar_url"]) if "avatar_url" in changes else current["avatar_url"]
        languages = rules.languages(changes["languages"]) if "languages" in changes else self.languages
        time_zone = rules.time_zone(changes["time_zone"]) if "time_zone" in changes else self.time_zone
        now = (current["display_name"], current["headline"], current["avatar_url"], self.languages, self.time_zone)
        if (display_name, headline, avatar_url, languages, time_zone) == now:
            return False
        self._public_profile_updated(seal(display_name or ERASED_NAME), seal(headline) if headline else None,
                                     seal(avatar_url) if avatar_url else None, languages, time_zone)
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
            raise Invalid(sorted(unknown)[0], "is not a private profile field")
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
