"""What the ledger's use cases are asked to do, as values: typed at the edge (http.py builds
them from the request bodies), so the domain checks rules, never types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID

#: The contract's vocabularies (``alphapeer_contracts.ledger``), restated: the domain imports no contracts.
GrantKind = Literal["allowance", "work_study", "signup_bonus", "reward", "correction"]
HoldRejectedReason = Literal["insufficient_funds", "account_closed", "currency_not_accepted"]
RefundReason = Literal["settled", "hold_expired"]



@dataclass(frozen=True)
class Grant:
    """Credits from the institution to a user's wallet; a correction may be negative
    (credits taken back, never more than the wallet has available)."""

    user_id: UUID
    currency: str
    amount: int
    kind: GrantKind
    granted_by: UUID
    idempotency_key: str
