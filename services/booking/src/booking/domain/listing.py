"""What booking knows of a catalog listing, from catalog's events: its tutor, title, rate,
session lengths, modes, trial offer, whether it is bookable, and its promotions. Prices
are worked out here.

Price rule: a listing's rate is per hour; a session of ``m`` minutes costs
``rate * m / 60``, rounded half up to a whole minor unit (a credit for ``XAP``): 45 minutes
at 13 credits an hour is 9.75, so 10; 30 minutes at 5 is 2.5, so 3. Each occurrence is
priced alone, so a package costs the sum of its sessions. A promotion's discount is taken
from the total (percent: rounded half up; credits off: at most the total) and shared among
the occurrences in proportion to their prices, the odd units going to the first ones, so
the occurrences' prices always add up to the total the ledger holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from alphapeer_contracts.vocabulary import INSTITUTION_CREDITS
from booking.domain.errors import Invalid

NAMESPACE = UUID("8d3c2b1a-0f9e-4d8c-b7a6-5e4d3c2b1a0f")


def half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (both non-negative)."""
    return (2 * numerator + denominator) // (2 * denominator)


def share(discount: int, prices: list[int]) -> list[int]:
    """Each price less its share of ``discount`` (proportional; odd units to the first)."""
    total = sum(prices)
    if total == 0 or discount == 0:
        return list(prices)
    parts = [discount * p // total for p in prices]
    left = discount - sum(parts)
    for i, p in enumerate(prices):
        if left == 0:
            break
        if parts[i] < p:
            parts[i] += 1
            left -= 1
    return [p - d for p, d in zip(prices, parts, strict=True)]


class ListingTerms(Aggregate):
    @staticmethod
    def create_id(listing_id: UUID) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE, f"listing:{listing_id}")

    @event("Learned")
    def __init__(self, id: UUID, listing_id: UUID, tutor_id: UUID) -> None:
        self.listing_id = listing_id
        self.tutor_id = tutor_id
        self.status = "draft"
        self.title = ""
        self.rate: dict[str, Any] = {}
        self.session_minutes: list[int] = []
        self.modes: list[str] = []
        self.trial: dict[str, Any] | None = None
        self.promotions: dict[str, dict[str, Any]] = {}

    @classmethod
    def learn(cls, listing_id: UUID, tutor_id: UUID) -> ListingTerms:
        return cls(id=cls.create_id(listing_id), listing_id=listing_id, tutor_id=tutor_id)

    def update(self, status: str, terms: dict[str, Any] | None = None) -> bool:
        """The listing as catalog now publishes it (``terms``: title, rate, session_minutes,
        modes, trial), or only its status. A repeated fact changes nothing."""
        current = {"title": self.title, "rate": self.rate, "session_minutes": self.session_minutes,
                   "modes": self.modes, "trial": self.trial}
        new = terms if terms is not None else current
        if status == self.status and new == current:
            return False
        self._updated(status, new)
        return True

    @event("Updated")
    def _updated(self, status: str, terms: dict[str, Any]) -> None:
        self.status = status
        self.title = terms["title"]
        self.rate = dict(terms["rate"])
        self.session_minutes = list(terms["session_minutes"])
        self.modes = list(terms["modes"])
        self.trial = dict(terms["trial"]) if terms.get("trial") else None

    @property
    def bookable(self) -> bool:
        return self.status == "published"

    # -- promotions -----------------------------------------------------------------------

    def add_promotion(self, promotion_id: UUID, code: str, percent_off: int | None, credits_off: int | None,
                      max_redemptions: int | None, expires_at: datetime) -> bool:
        if str(promotion_id) in self.promotions:
            return False
        self._promotion_added(promotion_id, code.upper(), percent_off, credits_off, max_redemptions, expires_at)
        return True

    @event("PromotionAdded")
    def _promotion_added(self, promotion_id: UUID, code: str, percent_off: int | None, credits_off: int | None,
                         max_redemptions: int | None, expires_at: datetime) -> None:
        self.promotions[str(promotion_id)] = {"promotion_id": promotion_id, "code": code, "percent_off": percent_off,
                                              "credits_off": credits_off, "max_redemptions": max_redemptions,
                                              "expires_at": expires_at, "ended": False}

    def end_promotion(self, promotion_id: UUID) -> bool:
        found = self.promotions.get(str(promotion_id))
        if found is None or found["ended"]:
            return False
        self._promotion_ended(promotion_id)
        return True

    @event("PromotionEnded")
    def _promotion_ended(self, promotion_id: UUID) -> None:
        self.promotions[str(promotion_id)]["ended"] = True

    def promotion(self, code: str, now: datetime) -> dict[str, Any]:
        """The running promotion with this code, or a refusal naming ``promotion_code``."""
        for p in self.promotions.values():
            if p["code"] == code.upper():
                if p["ended"]:
                    raise Invalid("promotion_code", "that promotion has ended")
                if p["expires_at"] <= now:
                    raise Invalid("promotion_code", "that promotion has expired")
                return p
        raise Invalid("promotion_code", "no such promotion on this listing")

    # -- prices ---------------------------------------------------------------------------

    def check_bookable(self, minutes: int, mode: str, trial: bool) -> None:
        if not self.bookable:
            raise Invalid("listing_id", "the listing is not open for booking")
        if trial:
            if self.trial is None:
                raise Invalid("kind", "this listing offers no trial session")
            if minutes != self.trial["minutes"]:
                raise Invalid("minutes", f"the trial session lasts {self.trial['minutes']} minutes")
        elif minutes not in self.session_minutes:
            offered = ", ".join(str(m) for m in self.session_minutes)
            raise Invalid("minutes", f"the listing offers sessions of {offered} minutes")
        if mode not in self.modes:
            raise Invalid("mode", f"the listing offers {' or '.join(self.modes)} sessions")

    def hourly(self, currency: str) -> int:
        """The rate per hour in ``currency``, or a refusal naming ``currency``."""
        if currency == INSTITUTION_CREDITS and self.rate.get("credits_per_hour") is not None:
            return int(self.rate["credits_per_hour"])
        if self.rate.get("amount_minor_per_hour") is not None and self.rate.get("currency") == currency:
            return int(self.rate["amount_minor_per_hour"])
        accepted = [c for c in (INSTITUTION_CREDITS if self.rate.get("credits_per_hour") is not None else None,
                                self.rate.get("currency") if self.rate.get("amount_minor_per_hour") is not None
                                else None) if c]
        raise Invalid("currency", f"the listing is priced in {' or '.join(accepted) or 'nothing'}")

    def price(self, minutes: int, currency: str, trial: bool) -> int:
        if trial and self.trial is not None and self.trial.get("free", True):
            return 0
        return half_up(self.hourly(currency) * minutes, 60)

    @staticmethod
    def discount(promotion: dict[str, Any] | None, total: int, currency: str) -> int:
        if promotion is None:
            return 0
        if promotion["percent_off"] is not None:
            return min(total, half_up(total * int(promotion["percent_off"]), 100))
        if currency != INSTITUTION_CREDITS:
            raise Invalid("promotion_code", f"that code takes credits off: book in {INSTITUTION_CREDITS}")
        return min(total, int(promotion["credits_off"] or 0))
