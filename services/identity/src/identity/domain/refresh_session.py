"""Sign-in sessions: refresh-token families, and the index that finds a family from any
token it ever issued (so a replayed, already rotated token still leads to its family)."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from identity.domain.errors import InvalidCredentials
from identity.domain.ids import token_id

SESSION_TTL = timedelta(days=30)


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
