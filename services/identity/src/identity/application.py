"""Identity's use cases: each loads aggregates, asks them to change, and saves what
changed together in one transaction."""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from identity.domain import rules
from identity.domain.errors import (
    AccountSuspended,
    Conflict,
    EmailTaken,
    InvalidCredentials,
    NotFound,
    ValidationError,
)
from identity.domain.model import (
    SESSION_TTL,
    VERIFICATION_TTL,
    EmailIndex,
    EmailVerification,
    RefreshSession,
    RefreshTokenIndex,
    TokenReused,
    TutorApplication,
    User,
)
from identity.domain.ports import Vault
from servicekit.eventstore import ServiceApplication

PRIVATE_FIELDS = ("legal_name", "phone", "date_of_birth", "notes")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class UserView:
    user_id: UUID
    email: str | None
    email_verified: bool
    roles: list[str]
    display_name: str
    headline: str | None
    avatar_url: str | None
    languages: list[str]
    time_zone: str
    private_profile: dict[str, str | None]
    referral: dict[str, Any] | None
    suspended: bool
    suspension_reason: str | None
    background_check: str
    erased: bool
    created_at: datetime
    tutor_application_ids: list[UUID] = field(default_factory=list)


@dataclass(frozen=True)
class ApplicationView:
    application_id: UUID
    user_id: UUID
    status: str
    subjects: list[str]
    levels: list[str]
    qualifications: str | None
    statement: str | None
    documents: list[dict[str, Any]]
    reviewer_id: UUID | None
    review_note: str | None
    submitted_at: datetime


class IdentityApplication(ServiceApplication):
    name = "identity"

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        vault: Vault,
        lookup_key: Callable[[str], str],
        clock: Callable[[], datetime] = _utcnow,
        hasher: PasswordHasher | None = None,
    ) -> None:
        super().__init__(env)
        self.vault = vault
        self.lookup_key = lookup_key
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        # Hashed once so an unknown email costs as much as a wrong password.
        self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    # -- loading ---------------------------------------------------------------------

    def _get(self, cls: type[Any], aggregate_id: UUID, what: str) -> Any:
        try:
            aggregate: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"no such {what}") from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"no such {what}")
        return aggregate

    def _user(self, user_id: UUID) -> User:
        user: User = self._get(User, user_id, "user")
        return user

    def _index(self, email: str) -> EmailIndex | None:
        try:
            index: Any = self.repository.get(EmailIndex.create_id(self.lookup_key(email)))
        except AggregateNotFoundError:
            return None
        assert isinstance(index, EmailIndex)
        return index

    def _open(self, user: User, sealed: str | None) -> str | None:
        return self.vault.open(user.id, sealed) if sealed else None

    # -- registration and verification -------------------------------------------------

    def register(self, email: str, password: str, display_name: str, referral: dict[str, Any] | None = None,
                 time_zone: str = "UTC", languages: list[str] | None = None) -> UUID:
        email = rules.email(email)
        rules.password(password)
        name = rules.display_name(display_name)
        zone = rules.time_zone(time_zone)
        langs = rules.languages(languages)
        referral = _clean_referral(referral)
        index = self._index(email)
        if index is not None and index.user_id is not None:
            raise EmailTaken()
        user_id = uuid4()
        key = self.lookup_key(email)
        user = User(id=user_id, email_sealed=self.vault.seal(user_id, email), email_key=key,
                    password_hash=self.hasher.hash(password), display_name=name, time_zone=zone,
                    languages=langs, referral=referral, roles=["student"])
        if index is None:
            index = EmailIndex(email_key=key, user_id=user_id)
        else:
            index.reclaim(user_id)
        try:
            self.save(user, index)
        except IntegrityError:  # a concurrent registration of the same address won
            raise EmailTaken() from None
        return user_id

    def issue_email_verification(self, user_id: UUID) -> str:
        user = self._user(user_id)
        user.check_active()
        if user.email_verified:
            raise Conflict("the email address is already verified")
        token = secrets.token_urlsafe(32)
        self.save(EmailVerification(token_hash=_hash(token), user_id=user_id,
                                    expires_at=self.clock() + VERIFICATION_TTL))
        return token

    def verify_email(self, token: str) -> UUID:
        try:
            verification: Any = self.repository.get(EmailVerification.create_id(_hash(token)))
        except AggregateNotFoundError:
            raise ValidationError("token", "is not a valid verification token") from None
        assert isinstance(verification, EmailVerification)
        verification.use(self.clock())
        user = self._user(verification.user_id)
        user.verify_email()
        self.save(verification, user)
        return user.id

    # -- credentials and sessions ------------------------------------------------------

    def authenticate(self, email: str, password: str) -> UUID:
        try:
            normalised = rules.email(email)
        except ValidationError:
            normalised = None
        index = self._index(normalised) if normalised else None
        if index is None or index.user_id is None:
            self._burn(password)
            raise InvalidCredentials("email or password is wrong")
        user = self._user(index.user_id)
        user.check_may_sign_in()
        try:
            self.hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            raise InvalidCredentials("email or password is wrong") from None
        if user.suspended:
            raise AccountSuspended("this account is suspended")
        if self.hasher.check_needs_rehash(user.password_hash):
            user.change_password(self.hasher.hash(password))
            self.save(user)
        return user.id

    def _burn(self, password: str) -> None:
        with contextlib.suppress(VerificationError, InvalidHashError):
            self.hasher.verify(self._dummy_hash, password)

    def change_password(self, user_id: UUID, old: str, new: str) -> None:
        user = self._user(user_id)
        user.check_active()
        try:
            self.hasher.verify(user.password_hash, old)
        except (VerificationError, InvalidHashError):
            raise ValidationError("old_password", "is not your current password") from None
        rules.password(new, field="new_password")
        user.change_password(self.hasher.hash(new))
        self.save(user, *self._end_sessions(user, "password changed"))

    def start_session(self, user_id: UUID) -> tuple[UUID, str]:
        user = self._user(user_id)
        token = secrets.token_urlsafe(32)
        session = RefreshSession(user_id=user_id, token_hash=_hash(token), expires_at=self.clock() + SESSION_TTL)
        user.session_opened(session.id)
        self.save(session, RefreshTokenIndex(token_hash=_hash(token), session_id=session.id), user)
        return session.id, token

    def _session_for(self, token: str) -> RefreshSession:
        try:
            index: Any = self.repository.get(RefreshTokenIndex.create_id(_hash(token)))
        except AggregateNotFoundError:
            raise InvalidCredentials("unknown refresh token") from None
        assert isinstance(index, RefreshTokenIndex)
        session: RefreshSession = self._get(RefreshSession, index.session_id, "session")
        return session

    def refresh(self, refresh_token: str) -> tuple[UUID, str]:
        session = self._session_for(refresh_token)
        try:
            session.check_usable(_hash(refresh_token), self.clock())
        except TokenReused:
            session.revoke("refresh token reused")
            self.save(session)
            raise InvalidCredentials("this refresh token was already used; the session is ended") from None
        token = secrets.token_urlsafe(32)
        session.rotate(token_hash=_hash(token), expires_at=self.clock() + SESSION_TTL)
        self.save(session, RefreshTokenIndex(token_hash=_hash(token), session_id=session.id))
        return session.user_id, token

    def session_id_for(self, refresh_token: str) -> UUID:
        return self._session_for(refresh_token).id

    def revoke_session(self, refresh_token: str) -> None:
        try:
            session = self._session_for(refresh_token)
        except InvalidCredentials:
            return  # logging out twice is fine
        session.revoke("signed out")
        self.save(session)

    def _end_sessions(self, user: User, reason: str) -> list[Any]:
        sessions = []
        for sid in user.session_ids:
            try:
                session = self._get(RefreshSession, sid, "session")
            except NotFound:
                continue
            session.revoke(reason)
            sessions.append(session)
        if user.session_ids:
            user.sessions_forgotten()
        return sessions

    def revoke_all_sessions(self, user_id: UUID) -> None:
        user = self._user(user_id)
        self.save(user, *self._end_sessions(user, "revoked"))

    # -- reading ---------------------------------------------------------------------

    def get_user(self, user_id: UUID) -> UserView:
        user = self._user(user_id)
        private = {k: self._open(user, user.private.get(k)) for k in PRIVATE_FIELDS}
        return UserView(
            user_id=user.id, email=self._open(user, user.email_sealed), email_verified=user.email_verified,
            roles=sorted(user.roles), display_name=user.display_name, headline=user.headline,
            avatar_url=user.avatar_url, languages=list(user.languages), time_zone=user.time_zone,
            private_profile=private, referral=user.referral, suspended=user.suspended,
            suspension_reason=user.suspension_reason, background_check=user.background_check,
            erased=user.erased, created_at=user.created_on, tutor_application_ids=list(user.application_ids),
        )

    def get_public_profile(self, user_id: UUID) -> dict[str, Any]:
        user = self._user(user_id)
        return {
            "user_id": user.id, "display_name": user.display_name, "headline": user.headline,
            "avatar_url": user.avatar_url, "languages": list(user.languages), "time_zone": user.time_zone,
            "roles": sorted(r for r in user.roles if r in ("student", "tutor", "creator")),
            "verified_tutor": "tutor" in user.roles and user.background_check in ("not_started", "clear"),
            "erased": user.erased,
        }

    # -- profiles and roles ------------------------------------------------------------

    def update_public_profile(self, user_id: UUID, **fields: Any) -> None:
        user = self._user(user_id)
        user.update_public_profile(**fields)
        self.save(user)

    def update_private_profile(self, user_id: UUID, **fields: str | None) -> None:
        user = self._user(user_id)
        unknown = set(fields) - set(PRIVATE_FIELDS)
        if unknown:
            raise ValidationError(sorted(unknown)[0], "is not a private profile field")
        if fields.get("date_of_birth"):
            try:
                datetime.strptime(str(fields["date_of_birth"]), "%Y-%m-%d")
            except ValueError:
                raise ValidationError("date_of_birth", "must be a date like 2004-05-17") from None
        sealed = {k: (self.vault.seal(user.id, v) if v else None) for k, v in fields.items()}
        user.update_private_profile(sealed)
        self.save(user)

    def grant_role(self, user_id: UUID, role: str, by: UUID | None) -> None:
        user = self._user(user_id)
        user.grant_role(role, by)
        self.save(user)

    def revoke_role(self, user_id: UUID, role: str, by: UUID | None) -> None:
        user = self._user(user_id)
        user.revoke_role(role, by)
        self.save(user)

    # -- tutor vetting -----------------------------------------------------------------

    def submit_tutor_application(self, user_id: UUID, subjects: list[str], levels: list[str],
                                 qualifications: str, statement: str, documents: list[dict[str, Any]]) -> UUID:
        user = self._user(user_id)
        subjects = rules.non_empty_list("subjects", subjects)
        levels = rules.non_empty_list("levels", levels, max_len=40)
        application = TutorApplication(
            user_id=user_id, subjects=subjects, levels=levels,
            qualifications_sealed=self.vault.seal(user_id, qualifications or ""),
            statement_sealed=self.vault.seal(user_id, statement or ""),
            documents_sealed=self.vault.seal(user_id, json.dumps(documents)),
            document_count=len(documents),
        )
        user.open_application(application.id)
        self.save(application, user)
        return application.id

    def get_tutor_application(self, application_id: UUID) -> ApplicationView:
        app: TutorApplication = self._get(TutorApplication, application_id, "tutor application")
        documents = self.vault.open(app.user_id, app.documents_sealed)
        return ApplicationView(
            application_id=app.id, user_id=app.user_id, status=app.status, subjects=list(app.subjects),
            levels=list(app.levels), qualifications=self.vault.open(app.user_id, app.qualifications_sealed),
            statement=self.vault.open(app.user_id, app.statement_sealed),
            documents=json.loads(documents) if documents else [], reviewer_id=app.reviewer_id,
            review_note=self.vault.open(app.user_id, app.review_note_sealed) if app.review_note_sealed else None,
            submitted_at=app.created_on,
        )

    def approve_tutor_application(self, application_id: UUID, reviewer_id: UUID, note: str | None = None) -> None:
        app: TutorApplication = self._get(TutorApplication, application_id, "tutor application")
        user = self._user(app.user_id)
        app.approve(reviewer_id, self.vault.seal(app.user_id, note) if note else None)
        user.close_application(app.id)
        if "tutor" not in user.roles:
            user.grant_role("tutor", reviewer_id)
        self.save(app, user)  # approval and the tutor role: one transaction

    def reject_tutor_application(self, application_id: UUID, reviewer_id: UUID, reason: str) -> None:
        if not reason.strip():
            raise ValidationError("reason", "must say why")
        app: TutorApplication = self._get(TutorApplication, application_id, "tutor application")
        user = self._user(app.user_id)
        app.reject(reviewer_id, self.vault.seal(app.user_id, reason))
        user.close_application(app.id)
        self.save(app, user)

    def set_background_check(self, user_id: UUID, status: str, provider: str) -> None:
        user = self._user(user_id)
        user.set_background_check(status, provider)
        self.save(user)

    # -- safety ----------------------------------------------------------------------

    def suspend(self, user_id: UUID, by: UUID, reason_code: str, note: str = "") -> None:
        user = self._user(user_id)
        user.suspend(by, reason_code, self.vault.seal(user_id, note) if note else None)
        self.save(user, *self._end_sessions(user, "suspended"))

    def reinstate(self, user_id: UUID, by: UUID) -> None:
        user = self._user(user_id)
        user.reinstate(by)
        self.save(user)

    def erase(self, user_id: UUID, by: UUID) -> None:
        """History keeps the ids; the personal data becomes unreadable (its key is
        destroyed) and the address may register again."""
        user = self._user(user_id)
        changed: list[Any] = []
        if not user.erased:
            index: Any = self.repository.get(EmailIndex.create_id(user.email_key))
            assert isinstance(index, EmailIndex)
            if index.user_id == user.id:
                index.release()
                changed.append(index)
            changed += self._end_sessions(user, "erased")
            user.erase(by)
            self.save(user, *changed)
        self.vault.forget(user_id)  # after the save, and again on a retry

    def ensure_admin(self, email: str, password: str, display_name: str) -> UUID:
        """The first admin account, from configuration; safe to call at every start."""
        index = self._index(rules.email(email))
        if index is not None and index.user_id is not None:
            user_id = index.user_id
        else:
            user_id = self.register(email, password, display_name)
        user = self._user(user_id)
        if not user.email_verified:
            user.verify_email()
        for role in ("staff", "admin"):
            if role not in user.roles:
                user.grant_role(role, None)
        self.save(user)
        return user_id


def _clean_referral(referral: dict[str, Any] | None) -> dict[str, Any] | None:
    if not referral:
        return None
    out: dict[str, Any] = {}
    ref = referral.get("referrer_user_id")
    if ref:
        try:
            out["referrer_user_id"] = str(UUID(str(ref)))
        except ValueError:
            raise ValidationError("referral.referrer_user_id", "is not a user id") from None
    for key, limit in (("channel", 64), ("campaign", 128)):
        value = referral.get(key)
        if value:
            if len(str(value)) > limit:
                raise ValidationError(f"referral.{key}", f"must be at most {limit} characters")
            out[key] = str(value)
    return out or None
