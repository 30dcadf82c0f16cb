"""A background check ordered from an outside provider, and the provider's reports on it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from identity.domain.ids import derived_id


class ProviderCheck(Aggregate):
    """A check ordered from a provider (e.g. Checkr) for a user. It is found from the
    provider's own reference (the candidate the provider's webhooks name), and remembers
    every provider event it received, so a replayed webhook changes nothing and a report
    older than the one applied does not overwrite it."""

    class Ordered(Aggregate.Created):
        """``provider`` accepted a check of ``user_id`` under its reference ``reference``."""

        provider: str
        reference: str
        user_id: UUID

    class ReportReceived(Aggregate.Event):
        """The provider's event ``event_id`` reported ``status`` as of ``reported_at``;
        ``applied`` is False when a later report had already been applied."""

        event_id: str
        status: str
        reported_at: datetime
        applied: bool

    @staticmethod
    def create_id(provider: str, reference: str) -> UUID:  # type: ignore[override]
        return derived_id(f"background-check:{provider}:{reference}")

    @classmethod
    def order(cls, provider: str, reference: str, user_id: UUID) -> ProviderCheck:
        return cls(id=cls.create_id(provider, reference), provider=provider, reference=reference, user_id=user_id)

    @event(Ordered)
    def __init__(self, id: UUID, provider: str, reference: str, user_id: UUID) -> None:
        self.provider = provider
        self.reference = reference
        self.user_id = user_id
        self.event_ids: list[str] = []
        self.status: str | None = None
        self.reported_at: datetime | None = None

    def has_seen(self, event_id: str) -> bool:
        return event_id in self.event_ids

    def receive(self, event_id: str, status: str, reported_at: datetime) -> bool:
        """Records the provider's event; True when its status is now the check's (the
        newest report so far). A repeat of an event already received records nothing."""
        if self.has_seen(event_id):
            return False
        applied = self.reported_at is None or reported_at >= self.reported_at
        self._report_received(event_id, status, reported_at, applied)
        return applied

    @event(ReportReceived)
    def _report_received(self, event_id: str, status: str, reported_at: datetime, applied: bool) -> None:
        self.event_ids.append(event_id)
        if applied:
            self.status = status
            self.reported_at = reported_at
