"""Booking's settings: the common ``ALPHAPEER_*`` scheme plus the institution's booking
rules (``ALPHAPEER_BOOKING_*``), shown to both sides before they book."""

from __future__ import annotations

import hashlib

from pydantic import Field, SecretStr, field_validator, model_validator

from booking.domain.commands import Policy, RefundTier, Rules
from servicekit.settings import ServiceSettings


def _tiers(text: str) -> tuple[RefundTier, ...]:
    """"24:10000,2:5000": at least 24 h ahead, everything back; at least 2 h, half."""
    tiers = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        hours, _, refund = part.partition(":")
        tier = RefundTier(int(hours), int(refund))
        if tier.hours_before < 0 or not 0 <= tier.refund <= 10000:
            raise ValueError(f"{part!r}: hours must be ≥ 0 and the refund 0..10000 basis points")
        tiers.append(tier)
    if len({t.hours_before for t in tiers}) != len(tiers):
        raise ValueError("each tier needs its own number of hours")
    return tuple(tiers)


class BookingSettings(ServiceSettings):
    service_name: str = "booking"
    http_port: int = 8004
    #: The saga's hops (booking → ledger → booking) each wait up to this for a fetch on a
    #: broker that holds fetches (bench/booking_saga.py measures 5, 10 and 100): chosen, not
    #: the kit's 100 ms default. 10 ms: a hop ~7-11 ms. At 5 ms a hop is ~2 ms shorter, but the
    #: broker's idle fetches took ~40 % of a core, and on two cores the saga was no faster.
    kafka_fetch_max_wait_ms: int = 10
    #: Where the calendar feed's links point (this gateway, as calendar apps reach it).
    booking_public_url: str = "http://127.0.0.1:8004"
    #: A learner's refund by how long before the start they cancel: "hours:basis points,…"
    #: (tried from the most hours down; inside the last tier, nothing).
    booking_refund_tiers: str = "24:10000,2:5000"
    #: Either side may dispute an occurrence this many hours after its end; then it settles.
    booking_dispute_window_hours: int = Field(default=48, ge=1, le=24 * 30)
    #: Staff decide a dispute within this many hours; then the default refund applies.
    booking_dispute_decision_hours: int = Field(default=48, ge=1)
    booking_dispute_default_refund: int = Field(default=5000, ge=0, le=10000)
    #: The ledger holds a booking's credits until its last end + the dispute window + this.
    booking_hold_grace_hours: int = Field(default=96, ge=2)
    #: A request-to-book tutor answers within this many hours (and before the start).
    booking_respond_hours: int = Field(default=24, ge=1)
    #: The ledger answers a hold within this many minutes, or the request fails.
    booking_hold_wait_minutes: int = Field(default=30, ge=1)
    #: A move must be agreed at least this many hours before the original start.
    booking_reschedule_notice_hours: int = Field(default=24, ge=0)
    booking_max_occurrences: int = Field(default=12, ge=1, le=52)
    #: Reminders, in minutes before each start (comma-separated), and the follow-up after.
    booking_reminder_minutes: str = "1440,120,15"
    booking_follow_up_minutes: int = Field(default=60, ge=0)
    #: Signs calendar feed links; empty: derived from ALPHAPEER_KEY_WRAPPING_SECRET.
    booking_feed_secret: SecretStr = SecretStr("")

    @field_validator("booking_refund_tiers")
    @classmethod
    def _tiers_parse(cls, value: str) -> str:
        _tiers(value)
        return value

    @field_validator("booking_reminder_minutes")
    @classmethod
    def _reminders_parse(cls, value: str) -> str:
        if any(int(m) <= 0 for m in value.split(",") if m.strip()):
            raise ValueError("reminders are whole minutes before the start, above 0")
        return value

    @model_validator(mode="after")
    def _hold_outlasts_disputes(self) -> BookingSettings:
        if self.booking_hold_grace_hours <= self.booking_dispute_decision_hours:
            raise ValueError("ALPHAPEER_BOOKING_HOLD_GRACE_HOURS must exceed ALPHAPEER_BOOKING_DISPUTE_DECISION_HOURS: "
                             "a dispute is decided before the ledger's hold runs out")
        return self

    @property
    def rules(self) -> Rules:
        return Rules(
            policy=Policy(_tiers(self.booking_refund_tiers), self.booking_dispute_window_hours),
            respond_hours=self.booking_respond_hours, hold_wait_minutes=self.booking_hold_wait_minutes,
            hold_grace_hours=self.booking_hold_grace_hours,
            dispute_decision_hours=self.booking_dispute_decision_hours,
            dispute_default_refund=self.booking_dispute_default_refund,
            reschedule_notice_hours=self.booking_reschedule_notice_hours,
            max_occurrences=self.booking_max_occurrences,
            reminder_minutes=tuple(int(m) for m in self.booking_reminder_minutes.split(",") if m.strip()),
            follow_up_minutes=self.booking_follow_up_minutes)

    @property
    def feed_key(self) -> bytes:
        secret = self.booking_feed_secret.get_secret_value() or self.key_wrapping_secret.get_secret_value()
        return hashlib.sha256(f"alphapeer-booking-feed:{secret}".encode()).digest()
