"""In-memory stand-ins for identity's ports: a vault, a clock, a keyed email hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID

from argon2 import PasswordHasher


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
        return f"sealed:{handle}"

    def open(self, subject_id: UUID, sealed: str) -> str | None:
        values = self.subjects.get(subject_id)
        if values is None:
            return None
        handle = sealed.removeprefix("sealed:")
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


LOOKUP_SECRET = b"unit-test-lookup-secret"


def lookup_key(email: str) -> str:
    """HMAC-SHA256 of the normalised address, as the gateway supplies it."""
    return hmac.new(LOOKUP_SECRET, email.encode(), hashlib.sha256).hexdigest()


PASSWORD = "a-long-password-1"


def cheap_hasher() -> PasswordHasher:
    """argon2id with tiny parameters: these tests are about rules, not hashing cost."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
