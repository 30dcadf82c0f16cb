"""What the ledger refuses over HTTP, by the kit's refusal classes (the gateway answers each
by its base class, naming the field at fault). Refusals in the saga are not errors: they are
recorded as facts (a rejected hold) and published."""

from __future__ import annotations

from servicekit.errors import Conflict, Invalid, NotFound


class CurrencyNotKept(Invalid):
    def __init__(self, currency: str, kept: frozenset[str]) -> None:
        super().__init__("currency", f"the ledger keeps no accounts in {currency}; it keeps {', '.join(sorted(kept))}")


class UnknownUser(NotFound):
    def __init__(self) -> None:
        super().__init__("no such user: the ledger opens a wallet when identity registers the user",
                         field="user_id")


class UnknownAccount(NotFound):
    def __init__(self) -> None:
        super().__init__("no such account")


class WalletClosed(Conflict):
    def __init__(self) -> None:
        super().__init__("the user's wallet is closed (their account was erased)", field="user_id")


class InsufficientFunds(Conflict):
    def __init__(self, available: int) -> None:
        super().__init__(f"more than the wallet's available balance ({available})", field="amount")


class WouldOverflow(Conflict):
    def __init__(self) -> None:
        super().__init__("the account's totals would overflow", field="amount")


class KeyReused(Conflict):
    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was used for another grant", field="Idempotency-Key")
