"""What catalog knows of a user from identity's events: approved as a tutor, suspended,
erased; and the listings they drafted, so a departure can withdraw them.

One per user who ever drafted a listing or was named by such an event — creators who are
not tutors too: while a user is suspended, what they made is not shown to others."""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import register_topic

NAMESPACE = UUID("6a1e2f4c-3b7d-4c9e-8f10-2d3c4b5a6978")


class TutorStanding(Aggregate):
    @staticmethod
    def create_id(tutor_id: UUID) -> UUID:
        return uuid5(NAMESPACE, f"standing:{tutor_id}")

    @event("Opened")
    def __init__(self, tutor_id: UUID) -> None:
        self.tutor_id = tutor_id
        self.approved = False
        self.suspended = False
        self.erased = False
        self.listing_ids: list[UUID] = []

    @property
    def may_publish(self) -> bool:
        return self.approved and not self.suspended and not self.erased

    @property
    def why_not(self) -> str:
        if self.erased:
            return "this account was erased"
        if self.suspended:
            return "your account is suspended"
        return "you are not an approved tutor yet"

    def update(self, *, approved: bool | None = None, suspended: bool | None = None,
               erased: bool | None = None) -> bool:
        """Records what changed, if anything did (a repeated fact changes nothing)."""
        new = (self.approved if approved is None else approved, self.suspended if suspended is None else suspended,
               self.erased if erased is None else erased)
        if new == (self.approved, self.suspended, self.erased):
            return False
        self.change(*new)
        return True

    @event("Changed")
    def change(self, approved: bool, suspended: bool, erased: bool) -> None:
        self.approved, self.suspended, self.erased = approved, suspended, erased

    @event("ListingAdded")
    def add_listing(self, listing_id: UUID) -> None:
        self.listing_ids.append(listing_id)


def withheld(owner: TutorStanding | None) -> bool:
    """Whether what this user made is kept from others: while they are suspended."""
    return owner is not None and owner.suspended


# Stored before the move out of listing.py: those events name the old module. Registering
# the old topic resolves it (and its events, "…:TutorStanding.Opened" etc.) to this class.
OLD_TOPIC = "catalog.domain.listing:TutorStanding"
register_topic(OLD_TOPIC, TutorStanding)
