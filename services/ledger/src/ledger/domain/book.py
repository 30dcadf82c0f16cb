"""Transfers, and the book that decides them: two-phase transfers in the manner of
TigerBeetle, decided in memory against the accounts one unit of work touches.

A transfer moves ``amount`` from its debit account to its credit account, in one currency:

- ``single``: posted at once;
- ``pending``: reserved (the debit account's pending debits, the credit account's pending
  credits) until it is posted or voided, with a deadline (``expires_at``);
- ``post``: posts a pending transfer (``pending_id``), in full or in part — what is not
  posted goes back, as TigerBeetle does; at most the pending amount;
- ``void``: gives a pending transfer back whole.

A pending transfer is posted or voided once. Transfers are never changed or deleted: a
correction is a new transfer. A *chain* of transfers is linked: all of it is applied, or
none (the accounts are as before), and the refusal names the transfer and why. An account
whose debits must not exceed its credits counts its pending debits as spent."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ledger.domain.accounts import Account, AccountKind
from ledger.domain.money import MAX_AMOUNT

TransferKind = Literal["single", "pending", "post", "void"]
RefusalCode = Literal["exceeds_credits", "overflows", "account_not_found", "accounts_must_be_different",
                      "currency_mismatch", "amount_must_not_be_negative", "pending_transfer_not_found",
                      "exceeds_pending_amount", "id_already_used"]


@dataclass(frozen=True, slots=True)
class Transfer:
    id: UUID
    kind: TransferKind
    debit_account_id: UUID
    credit_account_id: UUID
    amount: int
    currency: str
    #: What it is for: hold, tutor_payment, platform_fee, grant:<kind>, correction...
    code: str
    pending_id: UUID | None = None
    expires_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """As a fact carries it (the journal is enough to rebuild every table)."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "debit": self.debit_account_id,
                               "credit": self.credit_account_id, "amount": self.amount, "currency": self.currency,
                               "code": self.code}
        if self.pending_id is not None:
            out["pending_id"] = self.pending_id
        if self.expires_at is not None:
            out["expires_at"] = self.expires_at
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Transfer:
        return cls(id=d["id"], kind=d["kind"], debit_account_id=d["debit"], credit_account_id=d["credit"],
                   amount=d["amount"], currency=d["currency"], code=d["code"], pending_id=d.get("pending_id"),
                   expires_at=d.get("expires_at"))


@dataclass(frozen=True, slots=True)
class Entry:
    """A transfer as the book applied it: the totals of both accounts right after it
    (balance, held, incoming), so a statement line and a balance as of any time need
    no sums."""

    transfer: Transfer
    debit_after: tuple[int, int, int]
    credit_after: tuple[int, int, int]


@dataclass(frozen=True, slots=True)
class Refusal:
    code: RefusalCode
    transfer_id: UUID


Loader = Callable[[Iterable[UUID]], dict[UUID, Account]]


@dataclass
class Book:
    """The accounts a unit of work touches, and the transfers applied to them, in order.

    Accounts are found in memory or read through ``load`` (prefetch many at once with
    :meth:`accounts`); pending transfers must be made known (:meth:`know_pending`) before
    they are posted or voided — the caller knows which are still open. Nothing is written
    here: the entries, the accounts changed and the accounts opened are what a store
    writes, in the unit of work's transaction."""

    load: Loader
    _accounts: dict[UUID, Account | None] = field(default_factory=dict)
    pending: dict[UUID, Transfer] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    changed: dict[UUID, Account] = field(default_factory=dict)
    opened: set[UUID] = field(default_factory=set)
    _ids: set[UUID] = field(default_factory=set)

    # -- accounts ---------------------------------------------------------------------

    def accounts(self, ids: Iterable[UUID]) -> None:
        """Read every account of ``ids`` not known yet, at once."""
        missing = [i for i in dict.fromkeys(ids) if i not in self._accounts]
        if missing:
            found = self.load(missing)
            for i in missing:
                self._accounts[i] = found.get(i)

    def find(self, account_id: UUID) -> Account | None:
        if account_id not in self._accounts:
            self.accounts([account_id])
        return self._accounts[account_id]

    def open(self, kind: AccountKind, currency: str, owner_id: UUID | None = None) -> Account:
        """The account, opened (empty) if it does not exist yet."""
        new = Account.open(kind, currency, owner_id)
        found = self.find(new.id)
        if found is not None:
            return found
        self._accounts[new.id] = new
        self.opened.add(new.id)
        self.changed[new.id] = new
        return new

    def known_ids(self, ids: Iterable[UUID]) -> None:
        """Transfer ids already used (recorded before this unit): a transfer reusing one is
        refused, whatever its content."""
        self._ids.update(ids)

    def know_pending(self, transfer: Transfer) -> None:
        """An open pending transfer, so it can be posted or voided."""
        self.pending[transfer.id] = transfer

    # -- transfers --------------------------------------------------------------------

    def execute(self, chain: list[Transfer]) -> Refusal | None:
        """Applies the linked ``chain`` in order: all of it, or (refused) none of it."""
        before: dict[UUID, tuple[int, int, int, int]] = {}
        applied: list[Entry] = []
        resolved: list[Transfer] = []
        ids: set[UUID] = set()
        for transfer in chain:
            refusal = self._check(transfer, ids)
            if refusal is None:
                debit = self._accounts[transfer.debit_account_id]
                credit = self._accounts[transfer.credit_account_id]
                assert debit is not None and credit is not None
                for account in (debit, credit):
                    before.setdefault(account.id, account.totals())
                pending = self.pending.get(transfer.pending_id) if transfer.pending_id else None
                self._apply(transfer, debit, credit, pending)
                refusal = self._limits(transfer, debit, credit)
                if refusal is None:
                    ids.add(transfer.id)
                    if pending is not None:
                        resolved.append(pending)
                        del self.pending[pending.id]
                    applied.append(Entry(transfer, (debit.balance, debit.held, debit.incoming),
                                         (credit.balance, credit.held, credit.incoming)))
                    continue
            for account_id, totals in before.items():  # undo the whole chain
                undone = self._accounts[account_id]
                assert undone is not None
                undone.restore(totals)
            for pending in resolved:
                self.pending[pending.id] = pending
            return refusal
        for entry in applied:
            t = entry.transfer
            self._ids.add(t.id)
            if t.kind == "pending":
                self.pending[t.id] = t
            for account_id in (t.debit_account_id, t.credit_account_id):
                touched = self._accounts[account_id]
                assert touched is not None
                self.changed[account_id] = touched
        self.entries.extend(applied)
        return None

    def _check(self, t: Transfer, chain_ids: set[UUID]) -> Refusal | None:
        def refuse(code: RefusalCode) -> Refusal:
            return Refusal(code, t.id)

        if t.id in self._ids or t.id in chain_ids:
            return refuse("id_already_used")
        if t.amount < 0:
            return refuse("amount_must_not_be_negative")
        if t.debit_account_id == t.credit_account_id:
            return refuse("accounts_must_be_different")
        debit, credit = self.find(t.debit_account_id), self.find(t.credit_account_id)
        if debit is None or credit is None:
            return refuse("account_not_found")
        if not debit.currency == credit.currency == t.currency:
            return refuse("currency_mismatch")
        if t.kind in ("post", "void"):
            pending = self.pending.get(t.pending_id) if t.pending_id else None
            if pending is None:
                return refuse("pending_transfer_not_found")
            if (pending.debit_account_id, pending.credit_account_id) != (t.debit_account_id, t.credit_account_id):
                return refuse("pending_transfer_not_found")
            if t.kind == "post" and t.amount > pending.amount:
                return refuse("exceeds_pending_amount")
        return None

    @staticmethod
    def _apply(t: Transfer, debit: Account, credit: Account, pending: Transfer | None) -> None:
        if t.kind == "single":
            debit.debits_posted += t.amount
            credit.credits_posted += t.amount
        elif t.kind == "pending":
            debit.debits_pending += t.amount
            credit.credits_pending += t.amount
        else:
            assert pending is not None
            debit.debits_pending -= pending.amount
            credit.credits_pending -= pending.amount
            if t.kind == "post":
                debit.debits_posted += t.amount
                credit.credits_posted += t.amount

    @staticmethod
    def _limits(t: Transfer, debit: Account, credit: Account) -> Refusal | None:
        for account in (debit, credit):
            if max(account.totals()) > MAX_AMOUNT or account.debits_pending + account.debits_posted > MAX_AMOUNT \
                    or account.credits_pending + account.credits_posted > MAX_AMOUNT:
                return Refusal("overflows", t.id)
        if debit.debits_must_not_exceed_credits and debit.debits_pending + debit.debits_posted > debit.credits_posted:
            return Refusal("exceeds_credits", t.id)
        return None
