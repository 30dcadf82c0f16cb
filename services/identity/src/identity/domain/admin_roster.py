"""Who holds the admin role, so that the last admin is never removed."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from identity.domain.errors import LastAdmin
from identity.domain.ids import derived_id


class AdminRoster(Aggregate):
    """Who holds the admin role, so that the last admin is never removed. One per service."""

    class Started(Aggregate.Created):
        """The roster exists (empty)."""

    class AdminAdded(Aggregate.Event):
        """``user_id`` became an admin."""

        user_id: UUID

    class AdminRemoved(Aggregate.Event):
        """``user_id`` is no longer an admin."""

        user_id: UUID

    @staticmethod
    def create_id() -> UUID:  # type: ignore[override]
        return derived_id("admin-roster")

    @event(Started)
    def __init__(self) -> None:
        self.admin_ids: list[UUID] = []

    def add(self, user_id: UUID) -> None:
        if user_id not in self.admin_ids:
            self._admin_added(user_id)

    @event(AdminAdded)
    def _admin_added(self, user_id: UUID) -> None:
        self.admin_ids.append(user_id)

    def check_not_last(self, user_id: UUID) -> None:
        if self.admin_ids == [user_id]:
            raise LastAdmin()

    def remove(self, user_id: UUID) -> None:
        self.check_not_last(user_id)
        if user_id in self.admin_ids:
            self._admin_removed(user_id)

    @event(AdminRemoved)
    def _admin_removed(self, user_id: UUID) -> None:
        self.admin_ids.remove(user_id)
