"""The redemptions of one promotion code: at most ``max_redemptions`` bookings, one per
student. Saved with the booking that redeems it, so concurrent redemptions are decided one
after another (optimistic concurrency on this aggregate): a code limited to five is
redeemed five times, however many try at once. A booking that never took place (declined,
expired, failed, withdrawn before confirmation) gives its redemption back."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from booking.domain.errors import Invalid

NAMESPACE = UUID("2e9d8c7b-6a5f-4e3d-9c2b-1a0f9e8d7c6b")


class PromotionUse(Aggregate):
    @staticmethod
    def create_id(promotion_id: UUID) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE, f"promotion:{promotion_id}")

    @event("Opened")
    def __init__(self, id: UUID, promotion_id: UUID) -> None:
        self.promotion_id = promotion_id
        self.redeemed: dict[str, Any] = {}  # booking id → student id

    @classmethod
    def open(cls, promotion_id: UUID) -> PromotionUse:
        return cls(id=cls.create_id(promotion_id), promotion_id=promotion_id)

    @property
    def count(self) -> int:
        return len(self.redeemed)

    def redeem(self, booking_id: UUID, student_id: UUID, limit: int | None) -> None:
        if student_id in self.redeemed.values():
            raise Invalid("promotion_code", "you have already used this code")
        if limit is not None and self.count >= limit:
            raise Invalid("promotion_code", "this code has been used as often as it may be")
        self._redeemed(booking_id, student_id)

    @event("Redeemed")
    def _redeemed(self, booking_id: UUID, student_id: UUID) -> None:
        self.redeemed[str(booking_id)] = student_id

    def give_back(self, booking_id: UUID) -> bool:
        if str(booking_id) not in self.redeemed:
            return False
        self._given_back(booking_id)
        return True

    @event("GivenBack")
    def _given_back(self, booking_id: UUID) -> None:
        self.redeemed.pop(str(booking_id), None)
