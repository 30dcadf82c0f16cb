"""Accounts, kept as TigerBeetle keeps them: four running totals (debits and credits, pending
and posted) that only transfers change.

Every user has a wallet per currency (their credits: what they were granted, what they earned
by tutoring, what they spend on being tutored — a student-teacher's earnings pay for their own
bookings). The institution has, per currency, an escrow account (what is held for bookings),
a fees account (the platform's fees) and a grants account (the issuer of every credit granted:
the only account whose debits may exceed its credits, so its balance is minus everything
issued). Ids are derived from what an account is, so every process names it alike."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from uuid import UUID, uuid5

AccountKind = Literal["wallet", "escrow", "fees", "grants"]
SYSTEM_KINDS: tuple[AccountKind, ...] = ("escrow", "fees", "grants")
NAMESPACE = UUID("6f5b3c0e-2a8d-4d51-9d3e-0c4b7e1f9a27")


@lru_cache(maxsize=1 << 16)  # a batch names the same few accounts again and again (a SHA-1 each)
def account_id(kind: AccountKind, currency: str, owner_id: UUID | None = None) -> UUID:
    return uuid5(NAMESPACE, f"{kind}:{currency}:{owner_id or ''}")


def wallet_id(owner_id: UUID, currency: str) -> UUID:
    return account_id("wallet", currency, owner_id)


@dataclass(slots=True)
class Account:
    id: UUID
    kind: AccountKind
    currency: str
    owner_id: UUID | None = None
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0
    #: No new holds or grants (its owner's account was erased); what it holds stays.
    closed: bool = False

    @classmethod
    def open(cls, kind: AccountKind, currency: str, owner_id: UUID | None = None) -> Account:
        if (kind == "wallet") != (owner_id is not None):
            raise ValueError("a wallet has an owner, and only a wallet")
        return cls(account_id(kind, currency, owner_id), kind, currency, owner_id)

    @property
    def debits_must_not_exceed_credits(self) -> bool:
        """Every account but the grants account: it can never owe what it does not have."""
        return self.kind != "grants"

    @property
    def balance(self) -> int:
        """Posted credits less posted debits."""
        return self.credits_posted - self.debits_posted

    @property
    def held(self) -> int:
        """Pending debits: reserved, not yet posted or voided."""
        return self.debits_pending

    @property
    def incoming(self) -> int:
        """Pending credits."""
        return self.credits_pending

    @property
    def available(self) -> int:
        """What a new debit may take."""
        return self.credits_posted - self.debits_posted - self.debits_pending

    def totals(self) -> tuple[int, int, int, int]:
        return self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted

    def restore(self, totals: tuple[int, int, int, int]) -> None:
        self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted = totals
