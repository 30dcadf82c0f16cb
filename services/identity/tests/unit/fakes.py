"""In-memory stand-ins for identity's ports (a vault, a clock, the email hash, a mailer, a
token issuer, a document store, attempt counters, an access log), and a reader of what the
event store recorded."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from argon2 import PasswordHasher

from identity.application import IdentityApplication
from identity.domain.ports import ChainCheck, Document, DocumentAccess, Limit


class FakeVault:
    """Seals each value as an opaque random handle; the plaintext stays in a dict per
    subject. Forgetting a subject drops its dict, as deleting its key would."""

    def __init__(self) -> None:
        self.subjects: dict[UUID, dict[str, str]] = {}
        self.forgotten: set[UUID] = set()

    def seal(self, subject_id: UUID, plaintext: str) -> str:
        handle = secrets.token_hex(16)
        self.subjects.setdefault(subject_id, {})[handle] = plaintext
        self.forgotten.discard(subject_id)
        return f"v1.{handle}"  # the real format's prefix: recognised as sealed

    def open(self, subject_id: UUID, sealed: str) -> str | None:
        values = self.subjects.get(subject_id)
        if values is None:
            return None
        handle = sealed.removeprefix("v1.")
        if handle not in values:
            raise ValueError("sealed under another subject's key")
        return values[handle]

    def forget(self, subject_id: UUID) -> None:
        self.subjects.pop(subject_id, None)
        self.forgotten.add(subject_id)


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class FakeMailer:
    """Keeps what would have been mailed: (to, display name, token); password resets apart."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)
    resets: list[tuple[str, str, str]] = field(default_factory=list)
    #: Raised by every send while set (a mail server that is away).
    failure: Exception | None = None

    def send_verification(self, to: str, display_name: str, token: str) -> None:
        if self.failure is not None:
            raise self.failure
        self.sent.append((to, display_name, token))

    def send_password_reset(self, to: str, display_name: str, token: str, valid_minutes: int) -> None:
        if self.failure is not None:
            raise self.failure
        self.resets.append((to, display_name, token))

    def token_for(self, to: str) -> str:
        return next(token for address, _, token in reversed(self.sent) if address == to)

    def reset_token_for(self, to: str) -> str:
        return next(token for address, _, token in reversed(self.resets) if address == to)

    def forget(self, to: str) -> None:
        """As the mail folder does at erasure: nothing mailed to them is kept."""
        self.sent = [m for m in self.sent if m[0] != to]
        self.resets = [m for m in self.resets if m[0] != to]


class FakeTokens:
    """Access tokens that say what they were issued for: ``access:<user>:<session>:<roles>``."""

    ttl = 900

    def issue_access_token(self, user_id: UUID, roles: list[str], session_id: UUID) -> tuple[str, int]:
        return f"access:{user_id}:{session_id}:{','.join(roles)}", self.ttl


@dataclass
class FakeDocuments:
    """Keeps documents' metadata in a dict; trusts the declared type (sniffing is the real
    store's, tested with the gateway)."""

    stored: dict[UUID, Document] = field(default_factory=dict)

    def put(self, owner_id: UUID, filename: str, declared_type: str | None, data: bytes) -> Document:
        doc = Document(uuid4(), owner_id, hashlib.sha256(data).hexdigest(), declared_type or "application/pdf",
                       len(data), filename)
        self.stored[doc.document_id] = doc
        return doc

    def get(self, document_id: UUID) -> Document | None:
        return self.stored.get(document_id)

    def open(self, doc: Document) -> Iterator[bytes]:
        return iter([f"bytes of {doc.document_id}".encode()])

    def erase_owner(self, owner_id: UUID) -> int:
        mine = [d for d in self.stored.values() if d.owner_id == owner_id]
        for doc in mine:
            del self.stored[doc.document_id]
        return len(mine)

    def of(self, owner_id: UUID) -> list[Document]:
        return [d for d in self.stored.values() if d.owner_id == owner_id]


@dataclass
class EventLog:
    """What the application's event store recorded."""

    app: IdentityApplication

    def position(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def events(self, after: int = 0) -> list[Any]:
        notes = self.app.recorder.select_notifications(start=after, limit=1000, inclusive_of_start=False)
        return [self.app.mapper.to_domain_event(n) for n in notes]

    def of_type(self, cls: type, after: int = 0) -> list[Any]:
        return [e for e in self.events(after) if isinstance(e, cls)]

    def stored_bytes(self) -> bytes:
        """Every stored event's state, as the database would hold it."""
        return b"\n".join(n.state for n in self.app.recorder.select_notifications(start=1, limit=1000))


LOOKUP_SECRET = b"unit-test-lookup-secret"


def lookup_key(email: str) -> str:
    """HMAC-SHA256 of the normalised address, as the service supplies it."""
    return hmac.new(LOOKUP_SECRET, email.encode(), hashlib.sha256).hexdigest()


PASSWORD = "a-long-password-1"


def cheap_hasher() -> PasswordHasher:
    """argon2id with tiny parameters: these tests are about rules, not hashing cost."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@dataclass
class FakeThrottle:
    """Fixed-window counters in a dict, as the PostgreSQL ones count."""

    windows: dict[str, tuple[float, float, int]] = field(default_factory=dict)  # key → (start, length, hits)

    def wait_for(self, keys: Sequence[tuple[str, Limit]], now: float) -> float:
        wait = 0.0
        for key, limit in keys:
            start, length, hits = self.windows.get(key, (0.0, 0.0, 0))
            if hits >= limit.count and start + length > now:
                wait = max(wait, start + length - now)
        return wait

    def hit(self, keys: Sequence[tuple[str, Limit]], now: float) -> None:
        for key, limit in keys:
            start, length, hits = self.windows.get(key, (0.0, 0.0, 0))
            self.windows[key] = (start, length, hits + 1) if start + length > now else (now, limit.window, 1)

    def clear(self, key: str) -> None:
        self.windows.pop(key, None)


@dataclass
class FakeAccessLog:
    """Keeps entries in a list; the chain is the real adapter's (tested on PostgreSQL)."""

    entries: list[DocumentAccess] = field(default_factory=list)

    def record(self, application_id: UUID, document_id: UUID, actor_id: UUID, actor_role: str,
               at: datetime) -> DocumentAccess:
        entry = DocumentAccess(len(self.entries) + 1, at, actor_id, actor_role, application_id, document_id,
                               "0" * 64, "0" * 64)
        self.entries.append(entry)
        return entry

    def for_application(self, application_id: UUID, limit: int, after_seq: int = 0) -> list[DocumentAccess]:
        return [e for e in self.entries if e.application_id == application_id and e.seq > after_seq][:limit]

    def verify(self) -> ChainCheck:
        return ChainCheck(len(self.entries), True, None, "0" * 64)
