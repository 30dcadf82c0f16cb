"""One-time email verification tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from identity.domain.errors import Conflict, Invalid
from identity.domain.ids import token_id

VERIFICATION_TTL = timedelta(hours=48)


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
            raise Invalid("token", "has expired; ask for a new one")
        self._used()

    @event(Used)
    def _used(self) -> None:
        self.used = True
