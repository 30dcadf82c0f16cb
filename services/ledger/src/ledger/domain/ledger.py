"""The ledger's decisions for one unit of work: the escrow saga (hold, move, settle, expire),
grants, wallets opened and closed. Each decision reads the book (accounts in memory), makes
its transfers as one linked chain and returns the facts to record; refusals of the saga are
facts too (a rejected hold), refusals of a staff request are errors (``errors.py``).

Every decision is idempotent by the fact it would record: an id derived from its cause
that is already recorded means it was decided before, and nothing happens."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ledger.domain import errors
from ledger.domain.accounts import Account, account_id, wallet_id
from ledger.domain.book import Book, Transfer
from ledger.domain.commands import Grant, HoldRejectedReason
from ledger.domain.journal import (
    Fact,
    Granted,
    HoldExtended,
    HoldPlaced,
    HoldRejected,
    Refunded,
    Released,
    SettlementIgnored,
    WalletOpened,
    WalletsClosed,
    derived,
    grant_id_for,
    hold_transfer_id,
    reward_id,
    signup_bonus_id,
)
from ledger.domain.money import allocate, split_settlement
from servicekit.errors import Invalid

HoldStatus = Literal["held", "settled", "expired"]


@dataclass(frozen=True)
class Policy:
    """The institution's rules, from settings."""

    #: Currencies the ledger keeps accounts in.
    currencies: frozenset[str]
    #: The platform's fee on what a settlement releases, in basis points.
    fee_bp: int
    #: Credits granted at registration (0: none), in ``signup_currency``, where the wallet opens.
    signup_bonus: int
    signup_currency: str


@dataclass(slots=True)
class Hold:
    """One occurrence's price held in escrow: its pending transfer, and what became of it."""

    transfer_id: UUID
    booking_id: UUID
    occurrence: int
    payer_id: UUID
    tutor_id: UUID
    currency: str
    amount: int
    expires_at: datetime
    status: HoldStatus = "held"
    released: int = 0
    refunded: int = 0
    resolved_at: datetime | None = None

    def pending_transfer(self) -> Transfer:
        return Transfer(self.transfer_id, "pending", wallet_id(self.payer_id, self.currency),
                        account_id("escrow", self.currency), self.amount, self.currency, "hold",
                        expires_at=self.expires_at)


HoldLoader = Callable[[Iterable[UUID]], dict[UUID, Hold]]
Recorded = Callable[[Iterable[UUID]], set[UUID]]


@dataclass
class Ledger:
    policy: Policy
    book: Book
    load_holds: HoldLoader
    recorded: Recorded
    now: datetime
    holds: dict[UUID, Hold | None] = field(default_factory=dict)
    #: Holds placed or changed in this unit, for the store.
    changed_holds: dict[UUID, Hold] = field(default_factory=dict)
    _facts: set[UUID] = field(default_factory=set)
    _checked: set[UUID] = field(default_factory=set)

    # -- reading, many at once ------------------------------------------------------------

    def prefetch(self, *, facts: Iterable[UUID] = (), holds: Iterable[UUID] = (),
                 accounts: Iterable[UUID] = ()) -> None:
        """Read what a batch's decisions will need, in one query each."""
        unchecked = [f for f in dict.fromkeys(facts) if f not in self._checked]
        if unchecked:
            self._facts |= self.recorded(unchecked)
            self._checked.update(unchecked)
        missing = [h for h in dict.fromkeys(holds) if h not in self.holds]
        if missing:
            found = self.load_holds(missing)
            for h in missing:
                self.holds[h] = found.get(h)
                hold = self.holds[h]
                if hold is not None and hold.status == "held":
                    self.book.know_pending(hold.pending_transfer())
        self.book.accounts(accounts)

    def _seen(self, fact_id: UUID) -> bool:
        if fact_id not in self._checked:
            self.prefetch(facts=[fact_id])
        return fact_id in self._facts

    def _hold(self, transfer_id: UUID) -> Hold | None:
        if transfer_id not in self.holds:
            self.prefetch(holds=[transfer_id])
        return self.holds[transfer_id]

    def _record(self, fact: Fact) -> Fact:
        self._facts.add(fact.originator_id)
        self._checked.add(fact.originator_id)
        return fact

    def _fact(self, cls: type[Fact], fact_id: UUID, **values: Any) -> Fact:
        return self._record(cls(originator_id=fact_id, originator_version=1, timestamp=self.now, **values))

    # -- the escrow saga ------------------------------------------------------------------

    def hold(self, booking_id: UUID, payer_id: UUID, tutor_id: UUID, currency: str,
             occurrences: list[tuple[int, int]], total: int, expires_at: datetime) -> list[Fact]:
        """Holds each occurrence's share of ``total`` from the payer's wallet in escrow until
        ``expires_at``: one pending transfer per occurrence, linked (all or none). The shares
        are the occurrences' prices when they add up to the total, else the total split in
        proportion to the prices (a discount shared out; see ``money.allocate``)."""
        held_id, rejected_id = derived(booking_id, "held"), derived(booking_id, "rejected")
        if self._seen(held_id) or self._seen(rejected_id):
            return []
        numbers = [n for n, _ in occurrences]
        if len(set(numbers)) != len(numbers) or total < 0:
            raise ValueError(f"booking {booking_id}: occurrences must be numbered apart, the total not negative")

        def rejected(reason: HoldRejectedReason, available: int) -> list[Fact]:
            return [self._fact(HoldRejected, rejected_id, booking_id=booking_id, payer_id=payer_id,
                               currency=currency, reason=reason, required=total, available=available)]

        if currency not in self.policy.currencies:
            return rejected("currency_not_accepted", 0)
        wallet = self.book.find(wallet_id(payer_id, currency))
        if wallet is not None and wallet.closed:
            return rejected("account_closed", wallet.available)
        if wallet is None:
            if total > 0:
                return rejected("insufficient_funds", 0)
            wallet = self.book.open("wallet", currency, payer_id)
        escrow = self.book.open("escrow", currency)
        amounts = allocate(total, [price for _, price in occurrences])
        chain = [Transfer(hold_transfer_id(booking_id, n), "pending", wallet.id, escrow.id, amount, currency, "hold",
                          expires_at=expires_at)
                 for (n, _), amount in zip(occurrences, amounts, strict=True)]
        refusal = self.book.execute(chain)
        if refusal is not None:
            if refusal.code == "exceeds_credits":
                return rejected("insufficient_funds", wallet.available)
            raise ValueError(f"booking {booking_id}: hold refused: {refusal.code}")
        for (n, _), t in zip(occurrences, chain, strict=True):
            hold = Hold(t.id, booking_id, n, payer_id, tutor_id, currency, t.amount, expires_at)
            self.holds[t.id] = self.changed_holds[t.id] = hold
        return [self._fact(HoldPlaced, held_id, booking_id=booking_id, payer_id=payer_id, tutor_id=tutor_id,
                           currency=currency, total=total, expires_at=expires_at,
                           holds=[{"occurrence": n, "transfer_id": t.id, "amount": t.amount}
                                  for (n, _), t in zip(occurrences, chain, strict=True)],
                           transfers=[t.as_dict() for t in chain])]

    def move_deadline(self, booking_id: UUID, occurrence: int, expires_at: datetime, cause: UUID) -> list[Fact]:
        """The occurrence's hold now runs until ``expires_at`` (nothing if it is no longer held)."""
        hold = self._hold(hold_transfer_id(booking_id, occurrence))
        if hold is None or hold.status != "held" or hold.expires_at == expires_at or self._seen(cause):
            return []
        hold.expires_at = expires_at
        self.changed_holds[hold.transfer_id] = hold
        return [self._fact(HoldExtended, cause, booking_id=booking_id, occurrence=occurrence,
                           transfer_id=hold.transfer_id, expires_at=expires_at)]

    def settle(self, booking_id: UUID, occurrence: int, tutor_id: UUID, refund_bp: int) -> list[Fact]:
        """The occurrence's money decided for good: ``refund_bp`` of the held amount goes back
        to the payer (that part of the hold is not posted), the rest is posted to escrow and
        paid on, to the tutor's wallet less the platform's fee — one linked chain. A hold that
        ran out first, or no hold at all, is noted and nothing moves."""
        hold = self._hold(hold_transfer_id(booking_id, occurrence))
        if hold is None or hold.status == "expired":
            reason = "not_held" if hold is None else "hold_expired"
            fact_id = derived(hold_transfer_id(booking_id, occurrence), "settlement-ignored")
            if self._seen(fact_id):
                return []
            return [self._fact(SettlementIgnored, fact_id, booking_id=booking_id, occurrence=occurrence,
                               reason=reason)]
        if hold.status != "held":
            return []  # settled before: one settlement per occurrence
        split = split_settlement(hold.amount, refund_bp, self.policy.fee_bp)
        pending = hold.pending_transfer()
        escrow = self.book.open("escrow", hold.currency)
        post = Transfer(derived(hold.transfer_id, "post" if split.released else "void"),
                        "post" if split.released else "void", pending.debit_account_id, escrow.id,
                        split.released if split.released else hold.amount, hold.currency, "settlement",
                        pending_id=hold.transfer_id)
        payments = []
        if split.tutor:
            tutor = self.book.open("wallet", hold.currency, tutor_id)
            payments.append(Transfer(derived(hold.transfer_id, "tutor"), "single", escrow.id, tutor.id, split.tutor,
                                     hold.currency, "tutor_payment"))
        if split.fee:
            fees = self.book.open("fees", hold.currency)
            payments.append(Transfer(derived(hold.transfer_id, "fee"), "single", escrow.id, fees.id, split.fee,
                                     hold.currency, "platform_fee"))
        refusal = self.book.execute([post, *payments])
        if refusal is not None:
            raise ValueError(f"booking {booking_id} occurrence {occurrence}: settlement refused: {refusal.code}")
        hold.status, hold.released, hold.refunded, hold.resolved_at = "settled", split.released, split.refund, self.now
        self.changed_holds[hold.transfer_id] = hold
        facts: list[Fact] = []
        first = [post.as_dict()]
        if split.refund:
            facts.append(self._fact(Refunded, derived(hold.transfer_id, "refunded"), booking_id=booking_id,
                                    occurrence=occurrence, payer_id=hold.payer_id, currency=hold.currency,
                                    amount=split.refund, reason="settled", hold_id=hold.transfer_id, transfers=first))
            first = []
        if split.released:
            facts.append(self._fact(Released, derived(hold.transfer_id, "released"), booking_id=booking_id,
                                    occurrence=occurrence, tutor_id=tutor_id, currency=hold.currency,
                                    tutor_amount=split.tutor, fee_amount=split.fee, hold_id=hold.transfer_id,
                                    transfer_id=post.id, transfers=first + [t.as_dict() for t in payments]))
        return facts

    def expire(self, hold_id: UUID, due_at: datetime) -> list[Fact]:
        """A hold's deadline fell due: if it is still held and its deadline was not moved
        past ``due_at``, it is voided and the credits go back to the payer."""
        hold = self._hold(hold_id)
        if hold is None or hold.status != "held" or hold.expires_at > due_at:
            return []
        void = Transfer(derived(hold.transfer_id, "void"), "void", wallet_id(hold.payer_id, hold.currency),
                        account_id("escrow", hold.currency), hold.amount, hold.currency, "hold_expired",
                        pending_id=hold.transfer_id)
        refusal = self.book.execute([void])
        if refusal is not None:
            raise ValueError(f"hold {hold_id}: void refused: {refusal.code}")
        hold.status, hold.refunded, hold.resolved_at = "expired", hold.amount, self.now
        self.changed_holds[hold.transfer_id] = hold
        return [self._fact(Refunded, derived(hold.transfer_id, "refunded"), booking_id=hold.booking_id,
                           occurrence=hold.occurrence, payer_id=hold.payer_id, currency=hold.currency,
                           amount=hold.amount, reason="hold_expired", hold_id=hold.transfer_id,
                           transfers=[void.as_dict()])]

    # -- grants and wallets ---------------------------------------------------------------

    def grant(self, command: Grant, user_known: bool) -> Granted:
        """Credits from the institution's grants account to the user's wallet (a negative
        correction the other way). Refused, changing nothing: a currency the ledger does not
        keep, a user it does not know, a closed wallet, more than the wallet has available."""
        grant_id = grant_id_for(command.granted_by, command.idempotency_key)
        if command.amount == 0 or (command.amount < 0 and command.kind != "correction"):
            raise Invalid("amount", "must be at least 1 (only a correction may be negative)")
        if command.currency not in self.policy.currencies:
            raise errors.CurrencyNotKept(command.currency, self.policy.currencies)
        if not user_known:
            raise errors.UnknownUser()
        return self._grant(grant_id, command.user_id, command.currency, command.amount, command.kind,
                           command.granted_by)

    def _grant(self, grant_id: UUID, user_id: UUID, currency: str, amount: int, kind: str,
               granted_by: UUID | None) -> Granted:
        wallet = self.book.open("wallet", currency, user_id)
        if wallet.closed:
            raise errors.WalletClosed()
        issuer = self.book.open("grants", currency)
        debit, credit = (issuer, wallet) if amount >= 0 else (wallet, issuer)
        transfer = Transfer(derived(grant_id, "transfer"), "single", debit.id, credit.id, abs(amount), currency,
                            f"grant:{kind}")
        refusal = self.book.execute([transfer])
        if refusal is not None:
            if refusal.code == "exceeds_credits":
                raise errors.InsufficientFunds(wallet.available)
            if refusal.code == "overflows":
                raise errors.WouldOverflow()
            raise ValueError(f"grant {grant_id}: refused: {refusal.code}")
        fact = self._fact(Granted, grant_id, grant_id=grant_id, user_id=user_id, currency=currency, amount=amount,
                          kind=kind, granted_by=granted_by, transfers=[transfer.as_dict()])
        assert isinstance(fact, Granted)
        return fact

    def register(self, user_id: UUID) -> list[Fact]:
        """A user registered: their wallet opens (in the sign-up currency), with the sign-up
        bonus if the institution gives one."""
        currency = self.policy.signup_currency
        facts: list[Fact] = []
        opened_id = derived(wallet_id(user_id, currency), "opened")
        if self.book.find(wallet_id(user_id, currency)) is None and not self._seen(opened_id):
            wallet = self.book.open("wallet", currency, user_id)
            facts.append(self._fact(WalletOpened, opened_id, user_id=user_id, currency=currency, account_id=wallet.id))
        bonus_id = signup_bonus_id(user_id, currency)
        if self.policy.signup_bonus > 0 and not self._seen(bonus_id):
            wallet = self.book.open("wallet", currency, user_id)
            if not wallet.closed:
                facts.append(self._grant(bonus_id, user_id, currency, self.policy.signup_bonus, "signup_bonus", None))
        return facts

    def reward(self, user_id: UUID, badge: str, amount: int) -> list[Fact]:
        """A badge's reward from the grants account, in the sign-up currency (institution
        credits), once per tutor and badge; nothing for a closed wallet or no reward."""
        currency = self.policy.signup_currency
        grant_id = reward_id(user_id, badge, currency)
        if amount <= 0 or self._seen(grant_id):
            return []
        wallet = self.book.open("wallet", currency, user_id)
        if wallet.closed:
            return []
        return [self._grant(grant_id, user_id, currency, amount, "reward", None)]

    def close_wallets(self, user_id: UUID, wallets: list[Account]) -> list[Fact]:
        """The user's account was erased: no new holds or grants reach their wallets; what
        they hold stays (a staff correction may move it)."""
        fact_id = derived(user_id, "wallets-closed")
        open_wallets = [w for w in wallets if not w.closed]
        if not open_wallets or self._seen(fact_id):
            return []
        for wallet in open_wallets:
            wallet.closed = True
            self.book.changed[wallet.id] = wallet
        return [self._fact(WalletsClosed, fact_id, user_id=user_id, account_ids=[w.id for w in open_wallets])]
