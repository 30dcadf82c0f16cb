"""What identity's use cases need from outside the domain. The application receives an
implementation of each in its constructor (``identity.adapters`` in the service, fakes in
the unit tests)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID


class Vault(Protocol):
    """Seals personal data under a key of its subject (a user). Forgetting the subject
    destroys the key: every value sealed for it, in every stored event, becomes unreadable."""

    def seal(self, subject_id: UUID, plaintext: str) -> str:
        """An opaque string that reveals nothing of ``plaintext``."""
        ...

    def open(self, subject_id: UUID, sealed: str) -> str | None:
        """The plaintext, or None once the subject was forgotten."""
        ...

    def forget(self, subject_id: UUID) -> None:
        """Destroy the subject's key. Idempotent."""
        ...


class Mailer(Protocol):
    """Sends identity's mail; raises ``MailUnavailable`` when the mail server cannot take it."""

    def send_verification(self, to: str, display_name: str, token: str) -> None:
        """Mail ``to`` the token that proves they own the address."""
        ...

    def send_password_reset(self, to: str, display_name: str, token: str, valid_minutes: int) -> None:
        """Mail ``to`` the token that sets a new password."""
        ...

    def forget(self, to: str) -> None:
        """Deletes what was mailed to ``to`` and is still ours to delete (their erasure)."""
        ...


class PasswordHasher(Protocol):
    """argon2id (``argon2.PasswordHasher``'s interface). ``verify`` raises argon2's
    ``VerificationError`` or ``InvalidHashError`` for a wrong password; the service's hasher
    also raises ``PasswordHashingBusy`` when no hashing slot frees in time."""

    def hash(self, password: str) -> str: ...

    def verify(self, hash: str, password: str) -> bool: ...

    def check_needs_rehash(self, hash: str) -> bool: ...


@dataclass(frozen=True)
class Limit:
    """At most ``count`` hits per ``window`` seconds (a fixed window that starts at the first hit)."""

    count: int
    window: int


@dataclass(frozen=True)
class AttemptLimits:
    """How often sign-ins may fail and mail may be asked for. Windows are short, and a
    successful sign-in (or a password reset) clears the account's count, so a storm of
    wrong passwords holds an account's owner off for one window at most."""

    login_per_account: Limit = Limit(10, 300)
    login_per_address: Limit = Limit(100, 300)
    mail_per_account: Limit = Limit(5, 3600)
    mail_per_address: Limit = Limit(30, 3600)


class Throttle(Protocol):
    """Counters shared by every replica. Keys are opaque (keyed hashes, never an address)."""

    def wait_for(self, keys: Sequence[tuple[str, Limit]], now: float) -> float:
        """Seconds until every key is under its limit again (0: now)."""
        ...

    def hit(self, keys: Sequence[tuple[str, Limit]], now: float) -> None:
        """Counts one against each key, in its current window (a new one when it ended)."""
        ...

    def clear(self, key: str) -> None: ...


class TokenIssuer(Protocol):
    def issue_access_token(self, user_id: UUID, roles: list[str], session_id: UUID) -> tuple[str, int]:
        """A signed access token and its lifetime in seconds."""
        ...


@dataclass(frozen=True)
class Document:
    """An uploaded file as stored: its bytes are elsewhere, its name is personal."""

    document_id: UUID
    owner_id: UUID
    sha256: str
    content_type: str
    size: int
    filename: str | None


class DocumentStore(Protocol):
    def put(self, owner_id: UUID, filename: str, declared_type: str | None, data: bytes) -> Document:
        """Checks the file is what it claims and keeps it; refuses it with an ``Invalid``
        naming the field (the kit's ``UploadRejected``: 413, 415 or 422)."""
        ...

    def get(self, document_id: UUID) -> Document | None: ...

    def open(self, doc: Document) -> Iterator[bytes]:
        """The document's bytes in chunks; a missing file is raised by this call, before
        the first chunk."""
        ...

    def erase_owner(self, owner_id: UUID) -> int:
        """Deletes every document of ``owner_id`` (metadata and bytes); how many. Idempotent."""
        ...


@dataclass(frozen=True)
class CheckStarted:
    """What a provider answered when asked for a check: the status to record now and, for
    a provider that reports back later, its reference for the check (what its reports name)."""

    status: str
    reference: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderReport:
    """A provider's report on a check, from its webhook: event ``event_id`` says the check
    under ``reference`` has ``status`` (one of ``rules.BACKGROUND_STATUSES``) as of ``reported_at``."""

    event_id: str
    reference: str
    status: str
    reported_at: datetime
    kind: str = ""


class BackgroundCheckProvider(Protocol):
    name: str

    def start(self, user_id: UUID, email: str, display_name: str) -> CheckStarted:
        """Start a check (the provider asks the person for what it needs); raises
        ``ProviderUnavailable`` or ``ProviderRefused``."""
        ...

    def read_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderReport | None:
        """The report a signed webhook carries, or None for an event that reports no status.
        Raises ``InvalidSignature`` unless the body is signed as the provider signs, and
        ``Invalid`` for a body that is not the provider's shape."""
        ...


@dataclass(frozen=True)
class DocumentAccess:
    """One opening of an application's document: who (as applicant or staff), when."""

    seq: int
    accessed_at: datetime
    actor_id: UUID
    actor_role: str
    application_id: UUID
    document_id: UUID
    previous_hash: str
    hash: str


@dataclass(frozen=True)
class ChainCheck:
    """The access log checked end to end: ``intact`` unless an entry was changed, removed
    or inserted (``first_bad_seq`` then names the first entry that does not chain)."""

    entries: int
    intact: bool
    first_bad_seq: int | None
    head_hash: str


class AccessLog(Protocol):
    """Append-only and hash-chained: every entry seals the one before it."""

    def record(self, application_id: UUID, document_id: UUID, actor_id: UUID, actor_role: str,
               at: datetime) -> DocumentAccess: ...

    def for_application(self, application_id: UUID, limit: int, after_seq: int = 0) -> list[DocumentAccess]: ...

    def verify(self) -> ChainCheck: ...
