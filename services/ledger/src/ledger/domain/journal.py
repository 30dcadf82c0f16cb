"""The journal: what the ledger recorded, one fact per stored event, each carrying the
transfers it made (so the accounts, transfers and holds tables can be rebuilt from the
journal alone).

A fact is an event of its own (version 1 of an id derived from what caused it), so it is
recorded once however often its cause is delivered, and each public event the ledger
publishes is one fact in the notification log. Ids:

- a hold: ``hold_transfer_id(booking, occurrence)``; the booking's answer (held or rejected)
  from the booking; what settles or expires a hold, from the hold;
- a grant: from the caller and their ``Idempotency-Key`` (staff), or from the user and the
  currency (the sign-up bonus);
- a moved deadline: from the upstream event that moved it."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import DomainEvent

from ledger.domain.book import Transfer
from ledger.domain.commands import GrantKind, HoldRejectedReason, RefundReason

NAMESPACE = UUID("0d3c8f0a-6b1e-4f6a-9a52-2f7c1d9e4b83")


# The ids a batch derives while it reads (prefetch) are derived again while it decides: kept.
@lru_cache(maxsize=1 << 14)
def hold_transfer_id(booking_id: UUID, occurrence: int) -> UUID:
    """The pending transfer holding one occurrence's price."""
    return uuid5(NAMESPACE, f"hold:{booking_id}:{occurrence}")


@lru_cache(maxsize=1 << 14)
def derived(parent: UUID, what: str) -> UUID:
    """An id derived from another (a transfer that settles a hold, a fact about a booking)."""
    return uuid5(NAMESPACE, f"{parent}:{what}")


def grant_id_for(caller: UUID, idempotency_key: str) -> UUID:
    return uuid5(NAMESPACE, f"grant:{caller}:{idempotency_key}")


def signup_bonus_id(user_id: UUID, currency: str) -> UUID:
    return uuid5(NAMESPACE, f"signup_bonus:{user_id}:{currency}")


def reward_id(user_id: UUID, badge: str, currency: str) -> UUID:
    """A badge's reward is paid once per tutor and badge."""
    return uuid5(NAMESPACE, f"reward:{user_id}:{badge}:{currency}")


def cause_id(upstream: str, position: int) -> UUID:
    """A fact caused by one upstream event (its stream and notification id)."""
    return uuid5(NAMESPACE, f"cause:{upstream}:{position}")


class Fact(DomainEvent):
    """A fact in the journal. ``transfers`` holds the transfers it made, as dicts."""

    def made(self) -> list[Transfer]:
        return [Transfer.from_dict(t) for t in getattr(self, "transfers", [])]


class WalletOpened(Fact):
    """A registered user's wallet, before any credit reached it."""

    user_id: UUID
    currency: str
    account_id: UUID


class HoldPlaced(Fact):
    """A booking's price held from the payer's wallet in escrow: a pending transfer per
    occurrence (``holds``: occurrence, transfer_id, amount), all or none, until ``expires_at``."""

    booking_id: UUID
    payer_id: UUID
    tutor_id: UUID
    currency: str
    holds: list[dict[str, Any]]
    total: int
    expires_at: datetime
    transfers: list[dict[str, Any]]


class HoldRejected(Fact):
    """Nothing was held for the booking: ``reason`` says why."""

    booking_id: UUID
    payer_id: UUID
    currency: str
    reason: HoldRejectedReason
    required: int
    available: int


class HoldExtended(Fact):
    """An occurrence's hold now runs until ``expires_at`` (the booking was rescheduled)."""

    booking_id: UUID
    occurrence: int
    transfer_id: UUID
    expires_at: datetime


class Refunded(Fact):
    """Held credits went back to the payer: ``reason`` settled or hold_expired."""

    booking_id: UUID
    occurrence: int
    payer_id: UUID
    currency: str
    amount: int
    reason: RefundReason
    #: The pending transfer that held it.
    hold_id: UUID
    transfers: list[dict[str, Any]]


class Released(Fact):
    """An occurrence's held price (less any refund) went to the tutor, less the platform's fee."""

    booking_id: UUID
    occurrence: int
    tutor_id: UUID
    currency: str
    tutor_amount: int
    fee_amount: int
    #: The pending transfer that held it, and the transfer that posted it.
    hold_id: UUID
    transfer_id: UUID
    transfers: list[dict[str, Any]]


class SettlementIgnored(Fact):
    """A settlement that found nothing to settle: ``reason`` not_held (nothing was held for
    the occurrence) or hold_expired (its hold had run out and gone back to the payer)."""

    booking_id: UUID
    occurrence: int
    reason: str


class Granted(Fact):
    """The institution gave (or, as a correction, took back) credits: ``amount`` signed."""

    grant_id: UUID
    user_id: UUID
    currency: str
    amount: int
    kind: GrantKind
    #: The staff member who granted it; None for the sign-up bonus.
    granted_by: UUID | None
    transfers: list[dict[str, Any]]


class WalletsClosed(Fact):
    """The user's account was erased: their wallets take no new holds or grants."""

    user_id: UUID
    account_ids: list[UUID]


def deadlines(fact: Any) -> list[tuple[str, datetime | None]]:
    """What a fact does to the holds' deadlines: every pending hold has one (its way out),
    moved with the booking, cleared once the hold is settled or expired."""
    if isinstance(fact, HoldPlaced):
        return [(hold_key(h["transfer_id"]), fact.expires_at) for h in fact.holds]
    if isinstance(fact, HoldExtended):
        return [(hold_key(fact.transfer_id), fact.expires_at)]
    if isinstance(fact, Refunded | Released):
        return [(hold_key(fact.hold_id), None)]
    return []


def hold_key(transfer_id: UUID) -> str:
    return f"hold:{transfer_id}"


def hold_of_key(key: str) -> UUID | None:
    kind, _, value = key.partition(":")
    try:
        return UUID(value) if kind == "hold" else None
    except ValueError:
        return None
