"""The journal is the ledger: replaying its facts, in order, on empty accounts gives back
every account's totals. (The tests hold the tables to this; an operator could rebuild them
from it.)"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledger.domain.accounts import AccountKind
from ledger.domain.book import Book
from ledger.domain.journal import Granted, HoldPlaced, Refunded, Released, WalletOpened, WalletsClosed


def _accounts_of(fact: Any) -> list[tuple[AccountKind, str, Any]]:
    if isinstance(fact, WalletOpened):
        return [("wallet", fact.currency, fact.user_id)]
    if isinstance(fact, HoldPlaced | Refunded):
        return [("wallet", fact.currency, fact.payer_id), ("escrow", fact.currency, None)]
    if isinstance(fact, Released):
        return [("escrow", fact.currency, None), ("wallet", fact.currency, fact.tutor_id),
                ("fees", fact.currency, None)]
    if isinstance(fact, Granted):
        return [("wallet", fact.currency, fact.user_id), ("grants", fact.currency, None)]
    return []


def replay(facts: Iterable[Any]) -> Book:
    """A book of the accounts the journal's facts make, every transfer applied."""
    book = Book(load=lambda ids: {})
    for fact in facts:
        for kind, currency, owner in _accounts_of(fact):
            book.open(kind, currency, owner)
        if isinstance(fact, WalletsClosed):
            for account_id in fact.account_ids:
                account = book.find(account_id)
                assert account is not None, f"{fact.originator_id}: closes an account never opened"
                account.closed = True
        transfers = fact.made() if hasattr(fact, "made") else []
        if transfers:
            refusal = book.execute(transfers)
            assert refusal is None, f"{type(fact).__name__} {fact.originator_id}: {refusal}"
    return book
