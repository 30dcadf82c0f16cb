"""Events published by the ledger on ``ledger.events``.

The ledger is the system of record for every credit: an append-only double-entry book of
transfers between accounts (a wallet per user and currency, escrow, the platform's fees,
the institution's grants). Escrow events are keyed by booking id, so they stay in order with
the booking they answer; grants by the receiving user. Amounts are integers in the minor
units of ``currency``."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from alphapeer_contracts.base import CurrencyCode, IntegrationEvent

#: Why nothing was held; why held credits went back; what a grant is for.
HoldRejectedReason = Literal["insufficient_funds", "account_closed", "currency_not_accepted"]
RefundReason = Literal["settled", "hold_expired"]
GrantKind = Literal["allowance", "work_study", "signup_bonus", "reward", "correction"]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Hold(_Part):
    """The pending transfer holding one occurrence's price."""

    occurrence: int = Field(ge=0)
    transfer_id: UUID
    amount: int = Field(ge=0)


class _LedgerEvent(IntegrationEvent):
    service: ClassVar[str] = "ledger"
    key_field: ClassVar[str] = "booking_id"


class EscrowHeld(_LedgerEvent):
    """The booking's price is held in escrow, each occurrence's apart, until ``expires_at``."""

    consumers = ("booking",)
    booking_id: UUID
    payer_id: UUID
    currency: CurrencyCode
    holds: list[Hold]
    total: int = Field(ge=0)
    expires_at: datetime


class EscrowHoldRejected(_LedgerEvent):
    """Nothing was held for the booking, and why."""

    consumers = ("booking",)
    booking_id: UUID
    payer_id: UUID
    currency: CurrencyCode
    reason_code: HoldRejectedReason
    required: int = Field(ge=0)
    available: int


class EscrowReleased(_LedgerEvent):
    """An occurrence's held price (what was not refunded) went to the tutor, less the fee."""

    consumers = ("booking", "reputation")
    booking_id: UUID
    occurrence: int
    tutor_id: UUID
    currency: CurrencyCode
    tutor_amount: int = Field(ge=0)
    fee_amount: int = Field(ge=0)
    transfer_id: UUID


class EscrowRefunded(_LedgerEvent):
    """Held credits went back to the payer: by the booking's settlement, or because the
    hold reached its deadline unsettled (``hold_expired``)."""

    consumers = ("booking",)
    booking_id: UUID
    occurrence: int
    payer_id: UUID
    currency: CurrencyCode
    amount: int = Field(ge=0)
    reason_code: RefundReason


class CreditsGranted(_LedgerEvent):
    """The institution gave a user credits: an allowance, a work-study budget, a sign-up
    bonus, a correction."""

    key_field: ClassVar[str] = "user_id"
    consumers = ("reputation",)
    grant_id: UUID
    user_id: UUID
    currency: CurrencyCode
    amount: int
    kind: GrantKind
