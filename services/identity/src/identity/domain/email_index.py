"""Uniqueness of an email address without a table lock."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from identity.domain.errors import Conflict
from identity.domain.ids import derived_id


class EmailIndex(Aggregate):
    """Uniqueness of an email address without a table lock. The id is derived from a keyed
    hash of the normalised address (never the address), so two registrations of one
    address collide on the same aggregate id. Released at erasure, claimable again."""

    class Claimed(Aggregate.Created):
        """The address now belongs to ``user_id``."""

        user_id: UUID

    class Released(Aggregate.Event):
        """``user_id`` was erased; the address is free."""

        user_id: UUID

    class Reclaimed(Aggregate.Event):
        """A released address now belongs to ``user_id``."""

        user_id: UUID

    @staticmethod
    def create_id(email_key: str) -> UUID:  # type: ignore[override]
        """``email_key`` is the keyed hash of the normalised address."""
        return derived_id(email_key)

    @classmethod
    def claim(cls, email_key: str, user_id: UUID) -> EmailIndex:
        return cls(id=cls.create_id(email_key), user_id=user_id)

    @event(Claimed)
    def __init__(self, id: UUID, user_id: UUID) -> None:
        self.user_id: UUID | None = user_id

    def reclaim(self, user_id: UUID) -> None:
        if self.user_id is not None:
            raise Conflict("is already registered", field="email")
        self._reclaimed(user_id)

    @event(Reclaimed)
    def _reclaimed(self, user_id: UUID) -> None:
        self.user_id = user_id

    def release(self, user_id: UUID) -> None:
        if self.user_id == user_id:
            self._released(user_id)

    @event(Released)
    def _released(self, user_id: UUID) -> None:
        self.user_id = None
