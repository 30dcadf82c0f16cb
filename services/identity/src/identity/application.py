"""Identity's use cases. Each takes and returns primitives and ids: it loads aggregates,
asks them to change, and saves together (one transaction) what must change together.

Personal data is sealed by the injected vault before it reaches an aggregate, and email
look-up goes through the injected keyed hash (``lookup_key``), so the event store holds
neither an address nor a name in the clear."""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from identity.domain import rules
from identity.domain.errors import (
    ConcurrentUpdate,
    Conflict,
    EmailTaken,
    InvalidCredentials,
    NotFound,
    ValidationError,
)
from identity.domain.model import (
    SESSION_TTL,
    AdminRoster,
    EmailIndex,
    EmailVerification,
    RefreshSession,
    RefreshTokenIndex,
    TutorApplication,
    User,
)
from identity.domain.ports import Vault
from servicekit.eventstore import ServiceApplication, retry_on_conflict

#: Identity's save turns a version conflict into ConcurrentUpdate; commands that may simply
#: be decided again on fresh state retry on it.
decided_again = retry_on_conflict(conflicts=(ConcurrentUpdate,))

A = TypeVar("A", bound=Aggregate)

WRONG_CREDENTIALS = "email or password is wrong"


def utc_now() -> datetime:
    return datetime.now(UTC)


def token_hash(token: str) -> str:
    """SHA-256 of a bearer token: what is stored instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class UserView:
    """A user as the user themself and staff may see it (personal data opened)."""

    id: UUID
    email: str | None
    email_verified: bool
    roles: list[str]
    display_name: str
    headline: str | None
    avatar_url: str | None
    languages: list[str]
    time_zone: str
    private_profile: dict[str, str | None]
    referral: dict[str, str | None] | None
    suspended: bool
    suspension_reason_code: str | None
    background_check: str
    background_check_provider: str | None
    background_check_updated_at: datetime | None
    erased: bool
    created_at: datetime
    open_application_id: UUID | None
    tutor_application_ids: list[UUID]


@dataclass(frozen=True)
class SuspensionView:
    """The suspension record, for staff (the note is private to staff)."""

    user_id: UUID
    suspended: bool
    reason_code: str | None
    note: str | None
    by: UUID | None
    since: datetime | None


@dataclass(frozen=True)
class ApplicationView:
    """A tutor application as the applicant and staff may see it (opened)."""

    id: UUID
    user_id: UUID
    status: str
    subjects: list[str]
    levels: list[str]
    qualifications: str | None
    statement: str | None
    documents: list[dict[str, Any]]
    document_count: int
    reviewer_id: UUID | None
    review_note: str | None
    submitted_at: datetime
    decided_at: datetime | None


class IdentityApplication(ServiceApplication):
    """Accounts, sign-in, sessions, roles, profiles, tutor vetting, suspension, erasure.

    ``vault`` seals personal data per user; ``lookup_key`` is the keyed hash (HMAC) of a
    normalised email; ``clock`` gives the time for expiry rules; ``hasher`` hashes
    passwords (argon2id). Keyword-only and passing ``env`` on, so it composes
    cooperatively with another ``Application`` subclass (``class X(IdentityApplication,
    SomeBase)``)."""

    name = "identity"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        vault: Vault,
        lookup_key: Callable[[str], str],
        clock: Callable[[], datetime] = utc_now,
        hasher: PasswordHasher | None = None,
    ) -> None:
        super().__init__(env)
        self.vault = vault
        self.lookup_key = lookup_key
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        # Checked against when the email is unknown, so that costs as much as a wrong password.
        self._dummy_hash = self.hasher.hash(new_token())

    # -- loading and saving ------------------------------------------------------------

    def _find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        try:
            aggregate: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, cls) else None

    def _load(self, cls: type[A], aggregate_id: UUID, what: str) -> A:
        aggregate = self._find(cls, aggregate_id)
        if aggregate is None:
            raise NotFound(f"no such {what}")
        return aggregate

    def _user(self, user_id: UUID) -> User:
        return self._load(User, user_id, "user")

    def _application(self, application_id: UUID) -> TutorApplication:
        return self._load(TutorApplication, application_id, "tutor application")

    def _email_index(self, normalised_email: str) -> EmailIndex | None:
        return self._find(EmailIndex, EmailIndex.create_id(self.lookup_key(normalised_email)))

    def _roster(self) -> AdminRoster:
        return self._find(AdminRoster, AdminRoster.create_id()) or AdminRoster()

    def _save(self, *aggregates: Aggregate) -> None:
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise ConcurrentUpdate() from None

    def _open(self, subject_id: UUID, sealed: str | None) -> str | None:
        return self.vault.open(subject_id, sealed) if sealed else None

    # -- registration and verification -------------------------------------------------

    def register(self, email: str, password: str, display_name: str, referral: dict[str, Any] | None = None,
                 time_zone: str = "UTC", languages: list[str] | None = None) -> UUID:
        """A new account with the role "student". Raises ``EmailTaken`` for an address in
        use and ``ValidationError`` naming the field for anything malformed."""
        email = rules.email(email)
        rules.password(password)
        name = rules.display_name(display_name)
        zone = rules.time_zone(time_zone)
        langs = rules.languages(languages)
        origin = rules.referral(referral)
        referrer = origin["referrer_user_id"] if origin else None
        if referrer and self._find(User, UUID(referrer)) is None:
            raise ValidationError("referral.referrer_user_id", "is not a user")

        key = self.lookup_key(email)
        index = self._find(EmailIndex, EmailIndex.create_id(key))
        changed: list[Aggregate] = []
        if index is not None and index.user_id is not None:
            holder = self._find(User, index.user_id)
            if holder is None or not holder.erased:
                raise EmailTaken()
            index.release(index.user_id)  # its holder was erased without releasing it

        user_id = uuid4()
        user = User(id=user_id, email_sealed=self.vault.seal(user_id, email),
                    password_hash=self.hasher.hash(password), display_name=name, time_zone=zone,
                    languages=langs, referral=origin, roles=["student"])
        if index is None:
            index = EmailIndex.claim(key, user_id)
        else:
            index.reclaim(user_id)
        changed += [user, index]
        try:
            self.save(*changed)
        except IntegrityError:  # a concurrent registration of the same address won
            self.vault.forget(user_id)
            raise EmailTaken() from None
        return user_id

    def issue_email_verification(self, user_id: UUID) -> str:
        """A one-time token (valid 48 h) to mail to the user; only its hash is stored."""
        user = self._user(user_id)
        user.check_not_erased()
        if user.email_verified:
            raise Conflict("the email address is already verified", field="email")
        token = new_token()
        self._save(EmailVerification.issue(token_hash(token), user.id, self.clock()))
        return token

    @decided_again
    def verify_email(self, token: str) -> UUID:
        """Marks the token's user verified; the token cannot be used again."""
        verification = self._find(EmailVerification, EmailVerification.create_id(token_hash(token or "")))
        if verification is None:
            raise ValidationError("token", "is not a valid verification token")
        verification.use(self.clock())
        user = self._user(verification.user_id)
        user.verify_email()
        self._save(verification, user)
        return user.id

    # -- credentials -------------------------------------------------------------------

    def authenticate(self, email: str, password: str) -> UUID:
        """The user id for a correct email and password. ``InvalidCredentials`` alike for
        an unknown (or erased) address and a wrong password; ``AccountSuspended`` only
        once the password was right. Re-hashes the password when the hasher's parameters
        changed."""
        try:
            normalised: str | None = rules.email(email)
        except ValidationError:
            normalised = None
        index = self._email_index(normalised) if normalised else None
        user = self._find(User, index.user_id) if index is not None and index.user_id else None
        if user is None or user.erased:
            self._verify_dummy(password)
            raise InvalidCredentials(WRONG_CREDENTIALS)
        try:
            self.hasher.verify(user.password_hash, password)
        except (VerificationError, InvalidHashError):
            raise InvalidCredentials(WRONG_CREDENTIALS) from None
        user.check_may_sign_in()
        if self.hasher.check_needs_rehash(user.password_hash):
            user.change_password(self.hasher.hash(password), reason="rehashed")
            with contextlib.suppress(ConcurrentUpdate):  # re-hashed next time instead
                self._save(user)
        return user.id

    def _verify_dummy(self, password: str) -> None:
        with contextlib.suppress(VerificationError, InvalidHashError):
            self.hasher.verify(self._dummy_hash, password)

    @decided_again
    def change_password(self, user_id: UUID, old: str, new: str) -> None:
        """Needs the current password; ends every session of the user."""
        user = self._user(user_id)
        user.check_not_erased()
        try:
            self.hasher.verify(user.password_hash, old)
        except (VerificationError, InvalidHashError):
            raise ValidationError("old_password", "is not your current password") from None
        rules.password(new, field="new_password")
        if new == old:
            raise ValidationError("new_password", "must differ from the current password")
        user.change_password(self.hasher.hash(new), reason="changed")
        user.revoke_sessions("password changed")
        self._save(user)

    # -- sessions (refresh-token families) -----------------------------------------------

    def start_session(self, user_id: UUID) -> tuple[UUID, str]:
        """A new session and its first refresh token (valid 30 days, sliding)."""
        user = self._user(user_id)
        user.check_may_sign_in()
        token = new_token()
        session = RefreshSession(user_id=user.id, token_hash=token_hash(token),
                                 expires_at=self.clock() + SESSION_TTL, generation=user.session_generation)
        self._save(session, RefreshTokenIndex.issue(token_hash(token), session.id))
        return session.id, token

    def _session_by_token(self, refresh_token: str) -> RefreshSession:
        index = self._find(RefreshTokenIndex, RefreshTokenIndex.create_id(token_hash(refresh_token or "")))
        session = self._find(RefreshSession, index.session_id) if index is not None else None
        if session is None:
            raise InvalidCredentials("unknown refresh token")
        return session

    def session_id_for(self, refresh_token: str) -> UUID:
        """The session a refresh token belongs to (for the ``sid`` of an access token)."""
        return self._session_by_token(refresh_token).id

    def refresh(self, refresh_token: str) -> tuple[UUID, str]:
        """Exchanges the session's current refresh token for a new one: ``(user_id,
        new_token)``. A token that was already exchanged means a copy is in someone
        else's hands: the whole session ends and ``InvalidCredentials`` is raised."""
        try:
            return self._refresh(refresh_token)
        except ConcurrentUpdate:
            # The same token was exchanged at the same moment: the retry sees it reused.
            return self._refresh(refresh_token)

    def _refresh(self, refresh_token: str) -> tuple[UUID, str]:
        presented = token_hash(refresh_token or "")
        session = self._session_by_token(refresh_token)
        if not session.is_current(presented):
            session.revoke("refresh token reused")
            self._save(session)
            raise InvalidCredentials("this refresh token was already used; the session has ended")
        user = self._user(session.user_id)
        if user.erased or user.suspended:
            session.revoke("suspended" if user.suspended else "erased")
            self._save(session)
        user.check_may_sign_in()
        now = self.clock()
        session.check_usable(now, user.session_generation)
        token = new_token()
        session.rotate(token_hash(token), now)
        self._save(session, RefreshTokenIndex.issue(token_hash(token), session.id))
        return user.id, token

    def revoke_session(self, refresh_token: str) -> None:
        """Signs out: the token's whole session ends. Unknown tokens are ignored."""
        try:
            session = self._session_by_token(refresh_token)
        except InvalidCredentials:
            return
        session.revoke("signed out")
        self._save(session)

    def revoke_all_sessions(self, user_id: UUID) -> None:
        """Ends every session the user has now (their refresh tokens stop working)."""
        user = self._user(user_id)
        user.revoke_sessions("revoked")
        self._save(user)

    # -- reading -----------------------------------------------------------------------

    def get_user(self, user_id: UUID) -> UserView:
        user = self._user(user_id)
        return UserView(
            id=user.id,
            email=self._open(user.id, user.email_sealed),
            email_verified=user.email_verified,
            roles=sorted(user.roles),
            display_name=user.display_name,
            headline=user.headline,
            avatar_url=user.avatar_url,
            languages=list(user.languages),
            time_zone=user.time_zone,
            private_profile={k: self._open(user.id, user.private.get(k)) for k in rules.PRIVATE_FIELDS},
            referral=dict(user.referral) if user.referral else None,
            suspended=user.suspended,
            suspension_reason_code=user.suspension_reason_code,
            background_check=user.background_check,
            background_check_provider=user.background_check_provider,
            background_check_updated_at=user.background_check_updated_at,
            erased=user.erased,
            created_at=user.created_on,
            open_application_id=user.open_application_id,
            tutor_application_ids=list(user.application_ids),
        )

    def get_public_profile(self, user_id: UUID) -> dict[str, Any]:
        """What any signed-in user may see."""
        user = self._user(user_id)
        return {
            "user_id": user.id,
            "display_name": user.display_name,
            "headline": user.headline,
            "avatar_url": user.avatar_url,
            "languages": list(user.languages),
            "time_zone": user.time_zone,
            "roles": [r for r in sorted(user.roles) if r in rules.PUBLIC_ROLES] if not user.erased else [],
            "erased": user.erased,
        }

    def get_suspension(self, user_id: UUID) -> SuspensionView:
        user = self._user(user_id)
        return SuspensionView(user_id=user.id, suspended=user.suspended, reason_code=user.suspension_reason_code,
                              note=self._open(user.id, user.suspension_note_sealed), by=user.suspended_by,
                              since=user.suspended_at)

    def application_ids_for_user(self, user_id: UUID) -> list[UUID]:
        """The user's tutor applications, oldest first."""
        return list(self._user(user_id).application_ids)

    # -- profiles and roles ------------------------------------------------------------

    @decided_again
    def update_public_profile(self, user_id: UUID, **fields: Any) -> None:
        """Fields: display_name, headline, avatar_url, languages, time_zone. Those not
        given keep their value; None clears headline, avatar_url and languages."""
        user = self._user(user_id)
        if user.update_public_profile(**fields):
            self._save(user)

    @decided_again
    def update_private_profile(self, user_id: UUID, **fields: Any) -> None:
        """Fields: legal_name, phone, date_of_birth (YYYY-MM-DD), notes; None or blank
        clears one. Stored sealed."""
        user = self._user(user_id)
        user.check_not_erased()
        cleaned = {field: rules.private_value(field, value) for field, value in fields.items()}
        sealed = {k: (self.vault.seal(user.id, v) if v is not None else None) for k, v in cleaned.items()}
        user.update_private_profile(sealed)
        self._save(user)

    @decided_again
    def grant_role(self, user_id: UUID, role: str, by: UUID | None) -> None:
        user = self._user(user_id)
        user.grant_role(role, by)
        changed: list[Aggregate] = [user]
        if role == "admin":
            roster = self._roster()
            roster.add(user.id)
            changed.append(roster)
        self._save(*changed)

    @decided_again
    def revoke_role(self, user_id: UUID, role: str, by: UUID | None) -> None:
        """Refuses to take the admin role from the last admin (``LastAdmin``)."""
        user = self._user(user_id)
        user.revoke_role(role, by)
        changed: list[Aggregate] = [user]
        if role == "admin":
            roster = self._roster()
            roster.remove(user.id)
            changed.append(roster)
        self._save(*changed)

    # -- tutor vetting -----------------------------------------------------------------

    @decided_again
    def submit_tutor_application(self, user_id: UUID, subjects: list[str], levels: list[str],
                                 qualifications: str, statement: str, documents: list[dict[str, Any]]) -> UUID:
        """One open application per user. ``documents`` are metadata of files stored
        elsewhere: document_id, filename, content_type, size, sha256."""
        user = self._user(user_id)
        user.check_not_erased()
        subjects = rules.item_list("subjects", subjects, rules.MAX_SUBJECTS)
        levels = rules.item_list("levels", levels, rules.MAX_LEVELS, max_len=60)
        qualifications = rules.long_text("qualifications", qualifications)
        statement = rules.long_text("statement", statement)
        docs = rules.documents(documents)
        application = TutorApplication(
            user_id=user.id, subjects=subjects, levels=levels,
            qualifications_sealed=self.vault.seal(user.id, qualifications),
            statement_sealed=self.vault.seal(user.id, statement),
            documents_sealed=self.vault.seal(user.id, json.dumps(docs)),
            document_count=len(docs),
        )
        user.open_application(application.id)
        self._save(application, user)
        return application.id

    def get_tutor_application(self, application_id: UUID) -> ApplicationView:
        app = self._application(application_id)
        documents = self._open(app.user_id, app.documents_sealed)
        return ApplicationView(
            id=app.id, user_id=app.user_id, status=app.status, subjects=list(app.subjects), levels=list(app.levels),
            qualifications=self._open(app.user_id, app.qualifications_sealed),
            statement=self._open(app.user_id, app.statement_sealed),
            documents=json.loads(documents) if documents else [], document_count=app.document_count,
            reviewer_id=app.reviewer_id, review_note=self._open(app.user_id, app.review_note_sealed),
            submitted_at=app.created_on, decided_at=app.decided_at,
        )

    @decided_again
    def approve_tutor_application(self, application_id: UUID, reviewer_id: UUID, note: str | None = None) -> None:
        """Approval and the applicant's tutor role are saved in one transaction. Nobody
        reviews their own application (``SelfReview``)."""
        app = self._application(application_id)
        app.check_reviewable_by(reviewer_id)
        user = self._user(app.user_id)
        user.check_not_erased()
        if user.suspended:
            raise Conflict("the applicant is suspended; reinstate them before approving")
        note = rules.long_text("note", note, rules.NOTE_MAX)
        app.approve(reviewer_id, self.vault.seal(app.user_id, note) if note else None)
        user.close_application(app.id, "approved")
        if not user.has_role("tutor"):
            user.grant_role("tutor", reviewer_id)
        self._save(app, user)

    @decided_again
    def reject_tutor_application(self, application_id: UUID, reviewer_id: UUID, reason: str) -> None:
        """The reason is required and stored sealed (the applicant may read it)."""
        app = self._application(application_id)
        app.check_reviewable_by(reviewer_id)
        reason = rules.long_text("reason", reason, rules.NOTE_MAX, required=True)
        user = self._user(app.user_id)
        app.reject(reviewer_id, self.vault.seal(app.user_id, reason))
        user.close_application(app.id, "rejected")
        self._save(app, user)

    @decided_again
    def set_background_check(self, user_id: UUID, status: str, provider: str) -> None:
        user = self._user(user_id)
        if user.set_background_check(status, provider):
            self._save(user)

    # -- safety ------------------------------------------------------------------------

    @decided_again
    def suspend(self, user_id: UUID, by: UUID, reason_code: str, note: str | None = None) -> None:
        """Blocks sign-in and ends every session at once. The note is sealed. The last
        admin cannot be suspended (``LastAdmin``)."""
        user = self._user(user_id)
        note = rules.long_text("note", note, rules.NOTE_MAX)
        if user.has_role("admin") and not user.suspended:
            self._roster().check_not_last(user.id)
        user.suspend(by, reason_code, self.vault.seal(user.id, note) if note else None)
        user.revoke_sessions("suspended")
        self._save(user)

    @decided_again
    def reinstate(self, user_id: UUID, by: UUID) -> None:
        """Sign-in works again; sessions ended by the suspension stay ended."""
        user = self._user(user_id)
        user.reinstate(by)
        self._save(user)

    def erase(self, user_id: UUID, by: UUID | None) -> None:
        """Destroys the user's personal data without rewriting history: records Erased
        (ids only), releases the email for a new registration, withdraws an open tutor
        application, ends every session, then deletes the user's vault key so every
        sealed value ever stored for them is unreadable. Safe to repeat."""
        user = self._user(user_id)
        if not user.erased:
            changed: list[Aggregate] = [user]
            if user.has_role("admin"):
                roster = self._roster()
                roster.remove(user.id)
                changed.append(roster)
            email = self._open(user.id, user.email_sealed)
            index = self._email_index(email) if email else None
            if index is not None:
                index.release(user.id)
                changed.append(index)
            if user.open_application_id is not None:
                application = self._application(user.open_application_id)
                application.withdraw("erased")
                user.close_application(application.id, "withdrawn")
                changed.append(application)
            user.revoke_sessions("erased")
            user.erase(by)
            self._save(*changed)
        self.vault.forget(user.id)  # after the save; again on a repeat, in case it failed

    def ensure_admin(self, email: str, password: str, display_name: str) -> UUID:
        """The first admin from configuration: registered if missing, verified, staff and
        admin. Safe to call at every start, by several replicas at once."""
        email = rules.email(email)
        for attempt in range(3):
            try:
                return self._ensure_admin(email, password, display_name)
            except (EmailTaken, ConcurrentUpdate):
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _ensure_admin(self, email: str, password: str, display_name: str) -> UUID:
        index = self._email_index(email)
        holder = self._find(User, index.user_id) if index is not None and index.user_id else None
        user_id = holder.id if holder is not None and not holder.erased else self.register(
            email, password, display_name)
        user = self._user(user_id)
        user.verify_email()
        for role in ("staff", "admin"):
            if not user.has_role(role):
                user.grant_role(role, None)
        roster = self._roster()
        roster.add(user.id)
        self._save(user, roster)
        return user.id

