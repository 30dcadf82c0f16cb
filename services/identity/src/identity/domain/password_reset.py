"""One-time password reset tokens, mailed to the account's address."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from identity.domain.errors import Conflict, Invalid
from identity.domain.ids import token_id

RESET_TTL = timedelta(hours=1)
NOT_A_TOKEN = "is not a valid password reset token"


class PasswordReset(Aggregate):
    """A one-time password reset token. Only its SHA-256 is known, as the source of the id.
    It expires (an hour by default), it can be used once, and it is good only for the
    password the account had when it was issued: once the password changes (by this token,
    another one, or the user), every older token is void."""

    class Issued(Aggregate.Created):
        """A reset token for ``user_id`` was mailed; good until ``expires_at`` while the
        user's password is still version ``password_version``."""

        user_id: UUID
        expires_at: datetime
        password_version: int

    class Used(Aggregate.Event):
        """The token set a new password and cannot be used again."""

    @staticmethod
    def create_id(token_hash: str) -> UUID:  # type: ignore[override]
        return token_id("password-reset", token_hash)

    @classmethod
    def issue(cls, token_hash: str, user_id: UUID, password_version: int, now: datetime,
              ttl: timedelta = RESET_TTL) -> PasswordReset:
        return cls(id=cls.create_id(token_hash), user_id=user_id, expires_at=now + ttl,
                   password_version=password_version)

    @event(Issued)
    def __init__(self, id: UUID, user_id: UUID, expires_at: datetime, password_version: int) -> None:
        self.user_id = user_id
        self.expires_at = expires_at
        self.password_version = password_version
        self.used = False

    def use(self, now: datetime, current_password_version: int) -> None:
        if self.used:
            raise Conflict("this password reset token was already used", field="token")
        if now >= self.expires_at:
            raise Invalid("token", "has expired; ask for a new one")
        if current_password_version != self.password_version:
            raise Invalid("token", "was issued before the password last changed; ask for a new one")
        self._used()

    @event(Used)
    def _used(self) -> None:
        self.used = True
