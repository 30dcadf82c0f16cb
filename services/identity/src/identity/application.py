"""Identity's use cases, the one application layer: accounts, sign-in and sessions, roles,
profiles, tutor vetting, suspension, erasure.

Each command loads aggregates (``self.load`` / ``self.find``), lets them decide, and saves
together (one transaction) what must change together. A command that may simply be decided
again on fresh state is ``@retry_on_conflict()``: when another writer saved the same
aggregate first, the store refuses the save and the command runs again. Inputs are ids and
command values (``domain.commands``); outputs are ids and the views below.

Personal data is sealed by the vault before it reaches an aggregate, and an email is found
through its keyed hash (``lookup_key``), so the event store holds neither an address nor a
name in the clear. The outside world comes in through the constructor (``domain.ports``)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict
from uuid import UUID, uuid4

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import RecordConflictError

from alphapeer_contracts.vocabulary import PUBLIC_ROLES, ROLES, STAFF_ROLES
from identity.domain import rules
from identity.domain.admin_roster import AdminRoster
from identity.domain.background_check import ProviderCheck
from identity.domain.commands import PrivateProfileChange, PublicProfileChange, Registration, TutorApplicationForm
from identity.domain.email_index import EmailIndex
from identity.domain.email_verification import EmailVerification
from identity.domain.errors import (
    AccountSuspended,
    Conflict,
    EmailTaken,
    Forbidden,
    Invalid,
    InvalidCredentials,
    InvalidToken,
    MailUnavailable,
    NotFound,
    TooManyAttempts,
)
from identity.domain.password_reset import NOT_A_TOKEN, RESET_TTL, PasswordReset
from identity.domain.ports import (
    AccessLog,
    AttemptLimits,
    BackgroundCheckProvider,
    ChainCheck,
    Document,
    DocumentAccess,
    DocumentStore,
    Limit,
    Mailer,
    ProviderReport,
    Throttle,
    TokenIssuer,
    Vault,
)
from identity.domain.ports import PasswordHasher as HasherPort
from identity.domain.refresh_session import SESSION_TTL, RefreshSession, RefreshTokenIndex
from identity.domain.tutor_application import TutorApplication
from identity.domain.user import ERASED_NAME, User
from servicekit.eventstore import ServiceApplication, retry_on_conflict
from servicekit.vault import is_sealed

if TYPE_CHECKING:
    from servicekit.auth import Principal

log = logging.getLogger(__name__)

WRONG_CREDENTIALS = "email or password is wrong"


def utc_now() -> datetime:
    return datetime.now(UTC)


def token_hash(token: str) -> str:
    """SHA-256 of a bearer token: what is stored instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


# -- views --------------------------------------------------------------------------------

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
class PublicProfile:
    """What any signed-in user may see."""

    user_id: UUID
    display_name: str
    headline: str | None
    avatar_url: str | None
    languages: list[str]
    time_zone: str
    roles: list[str]
    erased: bool


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


@dataclass(frozen=True)
class TokenPair:
    """What signing in or refreshing gives: an access token and the session's next refresh token."""

    access_token: str
    expires_in: int
    refresh_token: str
    user_id: UUID


@dataclass(frozen=True)
class BackgroundCheckStarted:
    user_id: UUID
    status: str
    provider: str
    reference: str | None = None


@dataclass(frozen=True)
class NewAccount:
    """A registration's outcome: the account, and whether its verification mail went out
    (if not, the user asks for it again once signed in)."""

    user_id: UUID
    verification_mailed: bool


@dataclass(frozen=True)
class OpenedDocument:
    """An application's document being read: its metadata and its bytes in chunks."""

    document: Document
    chunks: Iterator[bytes]
    access: DocumentAccess


class ProfileText(TypedDict):
    """A public profile's personal text as it reads (opened from the shared vault)."""

    display_name: str
    headline: str | None
    avatar_url: str | None


class IdentityApplication(ServiceApplication):
    """Accounts, sign-in, sessions, roles, profiles, tutor vetting, suspension, erasure.

    Ports: ``vault`` seals personal data per user; ``lookup_key`` is the keyed hash (HMAC)
    of a normalised email; ``tokens`` signs access tokens; ``mailer`` sends verification
    and password reset tokens; ``documents`` keeps uploaded files; ``access_log`` records
    who opened which of them; ``background`` starts background checks and reads the
    provider's reports; ``throttle`` counts attempts against ``limits``; ``clock`` gives the
    time for expiry rules and limits; ``hasher`` hashes passwords (argon2id, in the service
    with a bounded number of slots)."""

    name = "identity"

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        vault: Vault,
        shared: Vault,
        lookup_key: Callable[[str], str],
        tokens: TokenIssuer,
        mailer: Mailer,
        documents: DocumentStore,
        background: BackgroundCheckProvider,
        throttle: Throttle,
        access_log: AccessLog,
        limits: AttemptLimits | None = None,
        reset_ttl: int | timedelta = RESET_TTL,
        clock: Callable[[], datetime] = utc_now,
        hasher: HasherPort | None = None,
        forget_requests: Callable[[UUID], None] = lambda user_id: None,
    ) -> None:
        super().__init__(env)
        self.vault = vault
        # Personal text that travels in identity's events (name, headline, avatar URL), under
        # keys shared with the services that read them (servicekit.shredding).
        self.shared = shared
        self.forget_requests = forget_requests
        self.lookup_key = lookup_key
        self.tokens = tokens
        self.mailer = mailer
        self.documents = documents
        self.background = background
        self.throttle = throttle
        self.access_log = access_log
        self.limits = limits or AttemptLimits()
        self.reset_ttl = reset_ttl if isinstance(reset_ttl, timedelta) else timedelta(seconds=reset_ttl)
        self.clock = clock
        self.hasher: HasherPort = hasher or PasswordHasher()
        # Checked against when the email is unknown, so that costs as much as a wrong password.
        self._dummy_hash = self.hasher.hash(new_token())

    # -- helpers -----------------------------------------------------------------------

    def _user(self, user_id: UUID) -> User:
        return self.load(User, user_id, "user")

    def _application(self, application_id: UUID) -> TutorApplication:
        return self.load(TutorApplication, application_id, "tutor application")

    def _email_index(self, normalised_email: str) -> EmailIndex | None:
        return self.find(EmailIndex, EmailIndex.create_id(self.lookup_key(normalised_email)))

    def _roster(self) -> AdminRoster:
        return self.find(AdminRoster, AdminRoster.create_id()) or AdminRoster()

    def _open(self, subject_id: UUID, sealed: str | None) -> str | None:
        return self.vault.open(subject_id, sealed) if sealed else None

    # -- registration and verification -------------------------------------------------

    def register(self, registration: Registration) -> UUID:
        """A new account with the role "student", and a verification token mailed to it.
        Raises ``EmailTaken`` for an address in use and ``Invalid`` naming the field for
        anything malformed."""
        return self.open_account(registration).user_id

    def open_account(self, registration: Registration) -> NewAccount:
        """``register``, saying whether the verification mail went out: a mail server that
        is away does not undo the account (the user asks for the mail again later)."""
        user_id = self.create_account(registration)
        return NewAccount(user_id, verification_mailed=self.mail_verification(user_id))

    def create_account(self, registration: Registration) -> UUID:
        """The account alone (the password hashed, nothing mailed): ``open_account``'s first half."""
        return self._open_account(registration)

    def mail_verification(self, user_id: UUID) -> bool:
        """``open_account``'s second half: False when the mail server is away."""
        try:
            self.send_verification(user_id)
        except MailUnavailable:
            log.warning("registered %s, but its verification mail could not be sent", user_id)
            return False
        return True

    @retry_on_conflict()
    def _open_account(self, registration: Registration) -> UUID:
        # Two registrations of one address collide on the index's derived id: the loser's
        # retry finds the address claimed and raises EmailTaken.
        user, index = self._new_account(registration)
        self._save_new_account(user, index)
        return user.id

    def _new_account(self, r: Registration) -> tuple[User, EmailIndex]:
        """A new user and the address claimed for it, not saved yet."""
        email = rules.email(r.email)
        rules.password(r.password)
        name = rules.display_name(r.display_name)
        zone = rules.time_zone(r.time_zone)
        langs = rules.languages(r.languages)
        origin = rules.referral(dict(r.referral) if r.referral else None)
        referrer = origin["referrer_user_id"] if origin else None
        if referrer and self.find(User, UUID(referrer)) is None:
            raise Invalid("referral.referrer_user_id", "is not a user")

        key = self.lookup_key(email)
        index = self.find(EmailIndex, EmailIndex.create_id(key))
        if index is not None and index.user_id is not None:
            holder = self.find(User, index.user_id)
            if holder is None or not holder.erased:
                raise EmailTaken()
            index.release(index.user_id)  # its holder was erased without releasing it

        user_id = uuid4()
        user = User(id=user_id, email_sealed=self.vault.seal(user_id, email),
                    password_hash=self.hasher.hash(r.password), display_name=self.shared.seal(user_id, name),
                    time_zone=zone,
                    languages=langs, referral=origin, roles=["student"])
        if index is None:
            index = EmailIndex.claim(key, user_id)
        else:
            index.reclaim(user_id)
        return user, index

    def _save_new_account(self, user: User, *others: Aggregate) -> None:
        try:
            self.save(user, *others)
        except RecordConflictError:
            # The account was never stored: drop the keys its email and name were sealed under.
            self.vault.forget(user.id)
            self.shared.forget(user.id)
            raise

    def public_text(self, user_id: UUID, stored: str | None) -> str | None:
        """A public profile value as it reads: opened from the shared vault (None once the
        user is erased), or as stored by events from before sealing."""
        if not stored or not is_sealed(stored):
            return stored
        return self.shared.open(user_id, stored)

    def _profile_text(self, user: User) -> ProfileText:
        name = ERASED_NAME if user.erased else self.public_text(user.id, user.display_name) or ERASED_NAME
        return {"display_name": name, "headline": self.public_text(user.id, user.headline),
                "avatar_url": self.public_text(user.id, user.avatar_url)}

    def resend_verification(self, user_id: UUID) -> None:
        """Mails the user a new verification token, at most ``limits.mail_per_account``
        times a window (``TooManyAttempts``)."""
        self._take([(f"mail:user:{user_id}", self.limits.mail_per_account)], "too many mails asked for")
        self.send_verification(user_id)

    def send_verification(self, user_id: UUID) -> None:
        """Mails the user a new verification token."""
        token = self.issue_email_verification(user_id)
        user = self._user(user_id)
        self.mailer.send_verification(self._open(user.id, user.email_sealed) or "",
                                      self._profile_text(user)["display_name"] or "", token)

    def issue_email_verification(self, user_id: UUID) -> str:
        """A one-time token (valid 48 h); only its hash is stored."""
        user = self._user(user_id)
        user.check_not_erased()
        if user.email_verified:
            raise Conflict("the email address is already verified")
        token = new_token()
        self.save(EmailVerification.issue(token_hash(token), user.id, self.clock()))
        return token

    @retry_on_conflict()
    def verify_email(self, token: str) -> UUID:
        """Marks the token's user verified; the token cannot be used again."""
        verification = self.find(EmailVerification, EmailVerification.create_id(token_hash(token or "")))
        if verification is None:
            raise Invalid("token", "is not a valid verification token")
        verification.use(self.clock())
        user = self._user(verification.user_id)
        user.verify_email()
        self.save(verification, user)
        return user.id

    # -- credentials -------------------------------------------------------------------

    def authenticate(self, email: str, password: str) -> UUID:
        """The user id for a correct email and password. ``InvalidCredentials`` alike for
        an unknown (or erased) address and a wrong password; ``AccountSuspended`` only
        once the password was right. Re-hashes the password when the hasher's parameters
        changed."""
        try:  # sign-in forgives white space around the address (registration refuses it)
            normalised: str | None = rules.email(email.strip())
        except Invalid:
            normalised = None
        index = self._email_index(normalised) if normalised else None
        user = self.find(User, index.user_id) if index is not None and index.user_id else None
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
            with contextlib.suppress(RecordConflictError):  # re-hashed at the next sign-in instead
                self.save(user)
        return user.id

    def _verify_dummy(self, password: str) -> None:
        with contextlib.suppress(VerificationError, InvalidHashError):
            self.hasher.verify(self._dummy_hash, password)

    def login(self, email: str, password: str, client: str = "") -> TokenPair:
        """Signs in: a new session, its first refresh token and an access token.

        Failed attempts are counted per account and per client address (``client``, as the
        gateway saw it); past ``limits`` every attempt is ``TooManyAttempts`` until the
        window ends — before any hashing, and alike for known and unknown addresses. A
        successful sign-in clears the account's count."""
        keys = self._sign_in_keys(email, client)
        self._check_limits(keys, "too many failed sign-ins")
        try:
            user_id = self.authenticate(email, password)
        except InvalidCredentials:
            self.throttle.hit(keys, self._now())
            raise
        self.throttle.clear(keys[0][0])
        session_id, refresh_token = self.start_session(user_id)
        return self._token_pair(self._user(user_id), session_id, refresh_token)

    def check_sign_in_limits(self, email: str, client: str = "") -> None:
        """``TooManyAttempts`` when a sign-in as ``email`` from ``client`` would be refused
        for the attempt limits now (``login`` checks again itself): lets the gateway turn a
        held-off attempt away before it queues for a hashing slot."""
        self._check_limits(self._sign_in_keys(email, client), "too many failed sign-ins")

    # -- attempt limits ----------------------------------------------------------------

    def _sign_in_keys(self, email: str, client: str) -> list[tuple[str, Limit]]:
        """The account's key first, then the address's (when known)."""
        keys = [(self._account_key(email), self.limits.login_per_account)]
        if client:
            keys.append((self._address_key("login", client), self.limits.login_per_address))
        return keys

    def _now(self) -> float:
        return self.clock().timestamp()

    def _account_key(self, email: str, purpose: str = "login") -> str:
        try:
            normalised = rules.email(email)
        except Invalid:
            normalised = str(email).strip().lower()[:rules.EMAIL_MAX]
        return f"{purpose}:account:{self.lookup_key(normalised)}"

    def _address_key(self, purpose: str, client: str) -> str:
        return f"{purpose}:address:{self.lookup_key('address:' + client)}"

    def _check_limits(self, keys: Sequence[tuple[str, Limit]], what: str) -> None:
        wait = self.throttle.wait_for(keys, self._now())
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise TooManyAttempts(f"{what}; try again in {seconds} seconds", retry_after=seconds)

    def _take(self, keys: Sequence[tuple[str, Limit]], what: str) -> None:
        """Counts a request against every key, unless one is already at its limit."""
        self._check_limits(keys, what)
        self.throttle.hit(keys, self._now())

    def _token_pair(self, user: User, session_id: UUID, refresh_token: str) -> TokenPair:
        access, ttl = self.tokens.issue_access_token(user.id, sorted(user.roles), session_id)
        return TokenPair(access_token=access, expires_in=ttl, refresh_token=refresh_token, user_id=user.id)

    @retry_on_conflict()
    def change_password(self, user_id: UUID, old: str, new: str) -> None:
        """Needs the current password; ends every session of the user."""
        user = self._user(user_id)
        user.check_not_erased()
        try:
            self.hasher.verify(user.password_hash, old)
        except (VerificationError, InvalidHashError):
            raise Invalid("old_password", "is not your current password") from None
        rules.password(new, field="new_password")
        if new == old:
            raise Invalid("new_password", "must differ from the current password")
        user.change_password(self.hasher.hash(new), reason="changed")
        user.revoke_sessions("password changed")
        self.save(user)

    # -- password reset by mail --------------------------------------------------------

    def admit_password_reset(self, email: str, client: str = "") -> str:
        """The first half of asking for a reset, answered at once: the address, normalised
        (``Invalid`` when it is none), counted per account and per client address
        (``TooManyAttempts`` past ``limits``). Says nothing of whether the account exists."""
        normalised = rules.email(email)
        keys = [(self._account_key(normalised, "reset"), self.limits.mail_per_account)]
        if client:
            keys.append((self._address_key("reset", client), self.limits.mail_per_address))
        self._take(keys, "too many password resets asked for")
        return normalised

    def send_password_reset(self, email: str) -> bool:
        """The second half, done after answering (so the answer's timing says nothing
        either): mails a one-time token (only its hash is stored) to the account with this
        address. False, and nothing mailed, when there is no usable account."""
        index = self._email_index(rules.email(email))
        user = self.find(User, index.user_id) if index is not None and index.user_id else None
        if user is None or user.erased or user.suspended:
            return False
        token = new_token()
        self.save(PasswordReset.issue(token_hash(token), user.id, user.password_version, self.clock(),
                                      self.reset_ttl))
        self.mailer.send_password_reset(self._open(user.id, user.email_sealed) or email,
                                        self._profile_text(user)["display_name"] or "", token,
                                        valid_minutes=int(self.reset_ttl.total_seconds() // 60))
        return True

    @retry_on_conflict()
    def reset_password(self, token: str, new_password: str) -> UUID:
        """Sets a new password with a mailed token: the token is used up, every session
        ends, the address counts as verified (the mail reached it) and the account's failed
        sign-ins are forgotten. ``Invalid`` naming ``token`` when it is unknown, expired or
        older than the current password; ``Conflict`` when it was used."""
        reset = self.find(PasswordReset, PasswordReset.create_id(token_hash(token or "")))
        user = self.find(User, reset.user_id) if reset is not None else None
        if reset is None or user is None or user.erased:
            raise Invalid("token", NOT_A_TOKEN)
        rules.password(new_password, field="new_password")  # before the token is used up
        reset.use(self.clock(), user.password_version)
        user.change_password(self.hasher.hash(new_password), reason="reset")
        user.revoke_sessions("password reset")
        user.verify_email()
        self.save(reset, user)
        email = self._open(user.id, user.email_sealed)
        if email:
            self.throttle.clear(self._account_key(email))
        return user.id

    def check_principal(self, principal: Principal) -> None:
        """Identity's own routes refuse a suspended or erased account at once, however
        fresh its access token (other services learn it from ``identity.events``)."""
        user = self.find(User, principal.user_id)
        if user is None:
            raise InvalidToken("no such user")
        if user.erased:
            raise InvalidToken("this account was erased")
        if user.suspended:
            raise AccountSuspended("this account is suspended")

    # -- sessions (refresh-token families) -----------------------------------------------

    def start_session(self, user_id: UUID) -> tuple[UUID, str]:
        """A new session and its first refresh token (valid 30 days, sliding)."""
        user = self._user(user_id)
        user.check_may_sign_in()
        token = new_token()
        session = RefreshSession(user_id=user.id, token_hash=token_hash(token),
                                 expires_at=self.clock() + SESSION_TTL, generation=user.session_generation)
        self.save(session, RefreshTokenIndex.issue(token_hash(token), session.id))
        return session.id, token

    def _session_by_token(self, refresh_token: str) -> RefreshSession:
        index = self.find(RefreshTokenIndex, RefreshTokenIndex.create_id(token_hash(refresh_token or "")))
        session = self.find(RefreshSession, index.session_id) if index is not None else None
        if session is None:
            raise InvalidCredentials("unknown refresh token")
        return session

    def session_id_for(self, refresh_token: str) -> UUID:
        """The session a refresh token belongs to."""
        return self._session_by_token(refresh_token).id

    def refresh(self, refresh_token: str) -> TokenPair:
        """Exchanges the session's current refresh token for a new one, with a new access
        token. A token that was already exchanged means a copy is in someone else's
        hands: the whole session ends and ``InvalidCredentials`` is raised."""
        user, session_id, token = self._rotate(refresh_token)
        return self._token_pair(user, session_id, token)

    @retry_on_conflict()
    def _rotate(self, refresh_token: str) -> tuple[User, UUID, str]:
        # Two exchanges of one token at the same moment: the loser's save conflicts, and
        # its retry finds the token already rotated, which is reuse.
        presented = token_hash(refresh_token or "")
        session = self._session_by_token(refresh_token)
        if not session.is_current(presented):
            session.revoke("refresh token reused")
            self.save(session)
            raise InvalidCredentials("this refresh token was already used; the session has ended")
        user = self._user(session.user_id)
        if user.erased or user.suspended:
            session.revoke("suspended" if user.suspended else "erased")
            self.save(session)
        user.check_may_sign_in()
        now = self.clock()
        session.check_usable(now, user.session_generation)
        token = new_token()
        session.rotate(token_hash(token), now)
        self.save(session, RefreshTokenIndex.issue(token_hash(token), session.id))
        return user, session.id, token

    @retry_on_conflict()
    def revoke_session(self, refresh_token: str) -> None:
        """Signs out: the token's whole session ends. Unknown tokens are ignored."""
        try:
            session = self._session_by_token(refresh_token)
        except InvalidCredentials:
            return
        session.revoke("signed out")
        self.save(session)

    @retry_on_conflict()
    def revoke_all_sessions(self, user_id: UUID) -> None:
        """Ends every session the user has now (their refresh tokens stop working)."""
        user = self._user(user_id)
        user.revoke_sessions("revoked")
        self.save(user)

    # -- reading -----------------------------------------------------------------------

    def get_user(self, user_id: UUID) -> UserView:
        user = self._user(user_id)
        return UserView(
            id=user.id,
            email=self._open(user.id, user.email_sealed),
            email_verified=user.email_verified,
            roles=sorted(user.roles),
            **self._profile_text(user),
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

    def get_public_profile(self, user_id: UUID) -> PublicProfile:
        user = self._user(user_id)
        return PublicProfile(
            user_id=user.id, **self._profile_text(user), languages=list(user.languages), time_zone=user.time_zone,
            roles=[r for r in sorted(user.roles) if r in PUBLIC_ROLES] if not user.erased else [],
            erased=user.erased,
        )

    def get_suspension(self, user_id: UUID) -> SuspensionView:
        user = self._user(user_id)
        return SuspensionView(user_id=user.id, suspended=user.suspended, reason_code=user.suspension_reason_code,
                              note=self._open(user.id, user.suspension_note_sealed), by=user.suspended_by,
                              since=user.suspended_at)

    def application_ids_for_user(self, user_id: UUID) -> list[UUID]:
        """The user's tutor applications, oldest first."""
        return list(self._user(user_id).application_ids)

    # -- profiles and roles ------------------------------------------------------------

    @retry_on_conflict()
    def update_public_profile(self, user_id: UUID, change: PublicProfileChange) -> None:
        """Fields not given keep their value; no event when nothing changes."""
        user = self._user(user_id)
        if user.update_public_profile(self._profile_text(user), lambda text: self.shared.seal(user.id, text),
                                      **change.given()):
            self.save(user)

    @retry_on_conflict()
    def update_private_profile(self, user_id: UUID, change: PrivateProfileChange) -> None:
        """Stored sealed."""
        user = self._user(user_id)
        user.check_not_erased()
        cleaned = {field: rules.private_value(field, value) for field, value in change.given().items()}
        sealed = {k: (self.vault.seal(user.id, v) if v is not None else None) for k, v in cleaned.items()}
        user.update_private_profile(sealed)
        self.save(user)

    @retry_on_conflict()
    def grant_role(self, user_id: UUID, role: str, by: UUID | None) -> None:
        user = self._user(user_id)
        user.grant_role(rules.choice("role", role, ROLES), by)
        changed: list[Aggregate] = [user]
        if role == "admin":
            roster = self._roster()
            roster.add(user.id)
            changed.append(roster)
        self.save(*changed)

    @retry_on_conflict()
    def revoke_role(self, user_id: UUID, role: str, by: UUID | None) -> None:
        """Refuses to take the admin role from the last admin (``LastAdmin``)."""
        user = self._user(user_id)
        user.revoke_role(rules.choice("role", role, ROLES), by)
        changed: list[Aggregate] = [user]
        if role == "admin":
            roster = self._roster()
            roster.remove(user.id)
            changed.append(roster)
        self.save(*changed)

    # -- tutor vetting -----------------------------------------------------------------

    def upload_document(self, owner_id: UUID, filename: str, declared_type: str | None, data: bytes) -> Document:
        """A certificate or transcript (PDF, PNG, JPEG, recognised by its bytes) for a later
        application; refused with the kit's ``UploadRejected`` (413/415/422, naming the field)."""
        return self.documents.put(owner_id, filename, declared_type, data)

    @retry_on_conflict()
    def submit_tutor_application(self, user_id: UUID, form: TutorApplicationForm) -> UUID:
        """One open application per user; documents are the applicant's own uploads."""
        user = self._user(user_id)
        user.check_not_erased()
        subjects = rules.item_list("subjects", form.subjects, rules.MAX_SUBJECTS)
        levels = rules.item_list("levels", form.levels, rules.MAX_LEVELS, max_len=60)
        qualifications = rules.long_text("qualifications", form.qualifications)
        statement = rules.long_text("statement", form.statement)
        docs = rules.documents([self._own_document(user.id, i, d) for i, d in enumerate(form.document_ids)])
        application = TutorApplication(
            user_id=user.id, subjects=subjects, levels=levels,
            qualifications_sealed=self.vault.seal(user.id, qualifications),
            statement_sealed=self.vault.seal(user.id, statement),
            documents_sealed=self.vault.seal(user.id, json.dumps(docs)),
            document_count=len(docs),
        )
        user.open_application(application.id)
        self.save(application, user)
        return application.id

    def _own_document(self, owner_id: UUID, position: int, document_id: UUID) -> dict[str, Any]:
        doc = self.documents.get(document_id)
        if doc is None or doc.owner_id != owner_id:
            raise Invalid(f"document_ids.{position}", "is not a document you uploaded")
        return {"document_id": str(doc.document_id), "filename": doc.filename or "",
                "content_type": doc.content_type, "size": doc.size, "sha256": doc.sha256}

    def open_application_document(self, application_id: UUID, document_id: UUID, reader: UUID,
                                  reader_is_staff: bool) -> OpenedDocument:
        """A document of an application, for its applicant or staff, recorded in the access
        log (who, as applicant or staff, when) before a byte is read: no access goes
        unrecorded. ``NotFound`` for a document the application does not list, or one
        deleted with its owner's erasure."""
        app = self._application(application_id)
        if reader != app.user_id and not reader_is_staff:
            raise Forbidden("only the applicant and staff open an application's documents")
        listed = self._open(app.user_id, app.documents_sealed)
        if str(document_id) not in {d["document_id"] for d in (json.loads(listed) if listed else [])}:
            raise NotFound("this application lists no such document")
        doc = self.documents.get(document_id)
        if doc is None:
            raise NotFound("the document was deleted")
        chunks = self.documents.open(doc)  # a missing file is refused here, before it is logged
        try:
            access = self.access_log.record(app.id, doc.document_id, reader,
                                            "applicant" if reader == app.user_id else "staff", self.clock())
        except BaseException:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            raise
        return OpenedDocument(doc, chunks, access)

    def document_access(self, application_id: UUID, reader: UUID, reader_is_staff: bool, limit: int = 100,
                        after_seq: int = 0) -> list[DocumentAccess]:
        """Who opened the application's documents, oldest first: for staff and the applicant."""
        app = self._application(application_id)
        if reader != app.user_id and not reader_is_staff:
            raise Forbidden("only the applicant and staff read who opened an application's documents")
        return self.access_log.for_application(app.id, limit, after_seq)

    def verify_access_log(self) -> ChainCheck:
        return self.access_log.verify()

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

    @retry_on_conflict()
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
        self.save(app, user)

    @retry_on_conflict()
    def reject_tutor_application(self, application_id: UUID, reviewer_id: UUID, reason: str) -> None:
        """The reason is required and stored sealed (the applicant may read it)."""
        app = self._application(application_id)
        app.check_reviewable_by(reviewer_id)
        reason = rules.long_text("reason", reason, rules.NOTE_MAX, required=True)
        user = self._user(app.user_id)
        app.reject(reviewer_id, self.vault.seal(app.user_id, reason))
        user.close_application(app.id, "rejected")
        self.save(app, user)

    @retry_on_conflict()
    def set_background_check(self, user_id: UUID, status: str, provider: str | None = None) -> None:
        """Records an outcome; ``provider`` defaults to the configured one."""
        user = self._user(user_id)
        if user.set_background_check(status, self.background.name if provider is None else provider):
            self.save(user)

    def start_background_check(self, user_id: UUID) -> BackgroundCheckStarted:
        """Starts a check with the configured provider and records the status it reports;
        a provider that reports back later gets its reference recorded, so its reports
        find the user."""
        user = self._user(user_id)  # no check is started for nobody
        user.check_not_erased()
        started = self.background.start(user.id, self._open(user.id, user.email_sealed) or "",
                                        self._profile_text(user)["display_name"] or "")
        self._record_check_started(user.id, started.status, started.reference)
        return BackgroundCheckStarted(user.id, started.status, self.background.name, started.reference)

    @retry_on_conflict()
    def _record_check_started(self, user_id: UUID, status: str, reference: str | None) -> None:
        user = self._user(user_id)
        changed: list[Aggregate] = []
        if reference is not None:
            changed.append(ProviderCheck.order(self.background.name, reference, user.id))
        if user.set_background_check(status, self.background.name):
            changed.append(user)
        if changed:
            self.save(*changed)

    def receive_background_check_report(self, provider: str, body: bytes, headers: Mapping[str, str]) -> str:
        """A provider's webhook: verified (``InvalidSignature`` otherwise) and applied to the
        user whose check it reports. What happened: "applied", "duplicate" (this event was
        received before: nothing changes), "superseded" (older than the report applied) or
        "ignored" (an event that reports no status). A report on a check identity never
        ordered is ``NotFound`` naming the provider's reference."""
        if provider != self.background.name:
            raise NotFound(f"no background-check provider {provider!r} is configured")
        report = self.background.read_webhook(body, headers)
        if report is None:
            return "ignored"
        return self._apply_report(report)

    @retry_on_conflict()
    def _apply_report(self, report: ProviderReport) -> str:
        check = self.find(ProviderCheck, ProviderCheck.create_id(self.background.name, report.reference))
        if check is None:
            raise NotFound(f"{report.reference!r} names no background check ordered here",
                           field="data.object.candidate_id")
        if check.has_seen(report.event_id):
            return "duplicate"
        status = rules.choice("status", report.status, rules.BACKGROUND_STATUSES)
        applied = check.receive(report.event_id, status, report.reported_at)
        user = self._user(check.user_id)
        changed: list[Aggregate] = [check]
        if applied and not user.erased and user.set_background_check(status, self.background.name):
            changed.append(user)
        self.save(*changed)
        return "applied" if applied else "superseded"

    # -- safety ------------------------------------------------------------------------

    @retry_on_conflict()
    def suspend(self, user_id: UUID, by: UUID, reason_code: str, note: str | None = None) -> None:
        """Blocks sign-in and ends every session at once. The note is sealed. Nobody
        suspends themselves; the last admin cannot be suspended (``LastAdmin``)."""
        user = self._user(user_id)
        note = rules.long_text("note", note, rules.NOTE_MAX)
        user.suspend(by, reason_code, self.vault.seal(user.id, note) if note else None)
        if user.has_role("admin"):
            self._roster().check_not_last(user.id)
        user.revoke_sessions("suspended")
        self.save(user)

    @retry_on_conflict()
    def reinstate(self, user_id: UUID, by: UUID) -> None:
        """Sign-in works again; sessions ended by the suspension stay ended."""
        user = self._user(user_id)
        user.reinstate(by)
        self.save(user)

    @retry_on_conflict()
    def erase(self, user_id: UUID, by: UUID | None) -> None:
        """Destroys the user's personal data without rewriting history: records Erased
        (ids only), releases the email for a new registration, withdraws an open tutor
        application, ends every session; then deletes the user's vault key, so every
        sealed value ever stored for them is unreadable, and their uploaded documents.
        Safe to repeat."""
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
            self.save(*changed)
            if email:
                self.mailer.forget(email)  # what was mailed to them and is still ours to delete
        # Only once the erasure is recorded (a refusal such as LastAdmin keeps everything),
        # and again on a repeat, in case a step failed the first time: the keys (every value
        # sealed for them, here and in every service that read identity's events, stays
        # sealed for good), their documents, the answers kept for their Idempotency-Keys.
        self.vault.forget(user.id)
        self.shared.forget(user.id)
        self.documents.erase_owner(user.id)
        self.forget_requests(user.id)

    @retry_on_conflict()
    def ensure_admin(self, email: str, password: str, display_name: str) -> UUID:
        """The first admin from configuration: registered if missing, verified, staff and
        admin, in one transaction. Safe to call at every start, by several replicas at
        once: a replica that loses the race decides again and promotes the winner's."""
        changed: list[Aggregate] = []
        try:
            user, index = self._new_account(Registration(email, password, display_name))
            changed.append(index)
        except EmailTaken:  # the account exists: promote it
            held = self._email_index(rules.email(email))
            assert held is not None and held.user_id is not None
            user = self._user(held.user_id)
        user.verify_email()
        for role in STAFF_ROLES:
            if not user.has_role(role):
                user.grant_role(role, None)
        roster = self._roster()
        roster.add(user.id)
        if changed:
            self._save_new_account(user, roster, *changed)
        else:
            self.save(user, roster)
        return user.id
