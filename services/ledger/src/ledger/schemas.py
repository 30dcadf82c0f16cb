"""Request and response bodies of the ledger's HTTP API. Everything JSON Schema can say is
declared here — types, ranges, patterns, the rule between a grant's kind and its amount —
and the gateway enforces exactly that. What needs the stored state (a user the ledger
knows, a currency it keeps, a wallet that can afford a correction) is checked by the
domain, named in the operation's description, and answered naming the field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from alphapeer_contracts.vocabulary import CURRENCY_PATTERN
from ledger.domain.commands import GrantKind
from servicekit.bodies import Body, Uuid, WholeNumber, explained

#: The most one grant may give or take back (a billion minor units).
MAX_GRANT = 1_000_000_000

Currency = Annotated[str, Field(pattern=explained(CURRENCY_PATTERN, "must be a currency code of three capital letters"),
                                description="A currency the ledger keeps: institution credits are XAP",
                                examples=["XAP"])]
AccountKind = Literal["wallet", "escrow", "fees", "grants"]


class GrantIn(Body):
    """Credits from the institution to a user's wallet. ``amount`` is at least 1, except for
    a ``correction``, which may take credits back (negative), never more than the wallet
    has available."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "if": {"properties": {"kind": {"not": {"const": "correction"}}}},
        "then": {"properties": {"amount": {"minimum": 1}}},
    })

    user_id: Uuid = Field(description="A user registered with identity (the ledger opens their wallet then)")
    currency: Currency
    amount: Annotated[WholeNumber, Field(ge=-MAX_GRANT, le=MAX_GRANT, json_schema_extra={"not": {"const": 0}},
                                         description="Minor units; negative only for a correction")]
    kind: GrantKind


# -- answers --------------------------------------------------------------------------------------

class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AccountOut(Out):
    account_id: UUID
    kind: AccountKind
    currency: str
    owner_id: UUID | None = Field(description="The wallet's user; none for the institution's accounts")
    balance: int = Field(description="Posted credits less posted debits")
    held: int = Field(description="Pending debits: held for bookings, not yet settled")
    incoming: int = Field(description="Pending credits")
    available: int = Field(description="What a new hold or correction may take: balance less held")
    closed: bool = Field(description="Takes no new holds or grants (its owner's account was erased)")
    opened_at: datetime
    updated_at: datetime


class Wallets(Out):
    items: list[AccountOut]


class AccountsPage(Out):
    items: list[AccountOut]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class BalanceOut(Out):
    account_id: UUID
    currency: str
    as_of: datetime
    balance: int
    held: int
    incoming: int
    available: int


class LineOut(Out):
    """One transfer as this account saw it, and the account's totals right after it."""

    transfer_id: UUID
    at: datetime
    kind: Literal["single", "pending", "post", "void"] = Field(
        description="single: posted at once; pending: held; post: a hold posted (in part: the rest went back); "
                    "void: a hold given back")
    code: str = Field(description="What it was for: hold, settlement, tutor_payment, platform_fee, hold_expired, "
                                  "grant:<kind>")
    direction: Literal["debit", "credit"] = Field(description="This account's side of the transfer")
    amount: int
    counterparty_account_id: UUID
    pending_id: UUID | None
    booking_id: UUID | None
    occurrence: int | None
    balance: int
    held: int
    incoming: int


class StatementPage(Out):
    account_id: UUID
    currency: str
    items: list[LineOut]
    #: Pass as ``cursor`` for the next page; null on the last page.
    next_cursor: str | None


class TransferOut(Out):
    transfer_id: UUID
    kind: Literal["single", "pending", "post", "void"]
    code: str
    debit_account_id: UUID
    credit_account_id: UUID
    amount: int
    currency: str
    pending_id: UUID | None
    expires_at: datetime | None
    booking_id: UUID | None
    occurrence: int | None
    recorded_at: datetime


class HoldOut(Out):
    transfer_id: UUID
    occurrence: int
    payer_id: UUID
    tutor_id: UUID
    currency: str
    amount: int
    expires_at: datetime
    status: Literal["held", "settled", "expired"]
    released: int
    refunded: int
    placed_at: datetime
    resolved_at: datetime | None


class Escrow(Out):
    booking_id: UUID
    holds: list[HoldOut]


class GrantOut(Out):
    grant_id: UUID
    user_id: UUID
    account_id: UUID
    currency: str
    amount: int
    kind: GrantKind
    granted_by: UUID | None
    transfer_id: UUID
    granted_at: datetime


class CurrencyOut(Out):
    currency: str
    balanced: bool = Field(description="Sums are zero and every account agrees with its transfers")
    accounts: int
    transfers: int
    sum_of_balances: int = Field(description="Every account's posted balance added up: 0")
    sum_of_pending: int = Field(description="Every account's pending credits less pending debits added up: 0")
    issued: int = Field(description="Credits the institution has granted, less those taken back")
    in_wallets: int
    held_in_escrow: int
    fees: int
    mismatched_accounts: list[UUID] = Field(description="Accounts whose totals differ from their transfers")


class ReconciliationOut(Out):
    as_of: datetime
    balanced: bool
    currencies: list[CurrencyOut]
