"""Ledger's use cases, and its reactions to other services' events.

Every write is one unit of work of the event store (:meth:`ServiceApplication.unit_of_work`):
the accounts it needs are read at once, the decisions are made in memory, in order (a
hot account — escrow, the platform's fees — is just a number in memory), and the facts, the
transfers, the accounts' new totals and the tracking rows are written in one transaction.
A batch of upstream events is one such unit (:class:`servicekit.subscriber.BatchReaction`),
so many transfers share one commit, as TigerBeetle batches them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from alphapeer_contracts import booking as bc
from alphapeer_contracts import identity as idc
from alphapeer_contracts import reputation as rep
from alphapeer_contracts.base import IntegrationEvent
from ledger.domain import errors
from ledger.domain.accounts import Account, account_id, wallet_id
from ledger.domain.book import Book, Transfer
from ledger.domain.commands import Grant
from ledger.domain.journal import (
    Fact,
    Granted,
    HoldPlaced,
    cause_id,
    deadlines,
    derived,
    grant_id_for,
    hold_of_key,
    hold_transfer_id,
    reward_id,
    signup_bonus_id,
)
from ledger.domain.ledger import Hold, Ledger, Policy
from servicekit.deadlines import Deadline
from servicekit.eventstore import ServiceApplication, UnitOfWork
from servicekit.subscriber import Delivery, each

#: What the ledger reacts to (anything else on its topics is acknowledged and left).
TOPICS = ("booking.events", "identity.events", "reputation.events")
HANDLES = {c.ce_type() for c in (bc.BookingRequested, bc.BookingRescheduled, bc.BookingSettled, idc.UserRegistered,
                                  idc.UserRegisteredV2, idc.UserErased, rep.BadgeAwarded)}


class Store(Protocol):
    """The ledger's tables, read and written on a unit of work's cursor (``adapters/books.py``)."""

    def now(self, cur: Any) -> datetime: ...
    def accounts(self, cur: Any, ids: Iterable[UUID]) -> dict[UUID, Account]: ...
    def wallets_of(self, cur: Any, user_id: UUID) -> list[Account]: ...
    def holds(self, cur: Any, ids: Iterable[UUID]) -> dict[UUID, Hold]: ...
    def write(self, cur: Any, ledger: Ledger, refs: dict[UUID, tuple[UUID, UUID | None, int | None]]) -> None: ...


@dataclass(frozen=True)
class GrantView:
    grant_id: UUID
    user_id: UUID
    account_id: UUID
    currency: str
    amount: int
    kind: str
    granted_by: UUID | None
    transfer_id: UUID
    granted_at: datetime


class LedgerApplication(ServiceApplication):
    name = "ledger"

    def __init__(self, env: Any = None, *, policy: Policy, store: Store) -> None:
        self.policy = policy
        self.store = store
        super().__init__(env)

    # -- a unit of work's ledger ------------------------------------------------------------

    def _ledger(self, unit: UnitOfWork) -> Ledger:
        cur = unit.cursor
        return Ledger(self.policy, Book(load=lambda ids: self.store.accounts(cur, ids)),
                      lambda ids: self.store.holds(cur, ids), unit.recorded, self.store.now(cur))

    def _write(self, unit: UnitOfWork, ledger: Ledger, facts: list[Fact]) -> None:
        refs: dict[UUID, tuple[UUID, UUID | None, int | None]] = {}
        for fact in facts:
            held = fact.holds if isinstance(fact, HoldPlaced) else []
            occurrences = {h["transfer_id"]: h["occurrence"] for h in held}
            for t in getattr(fact, "transfers", []):
                refs[t["id"]] = (fact.originator_id, getattr(fact, "booking_id", None),
                                 occurrences.get(t["id"], getattr(fact, "occurrence", None)))
        self.store.write(unit.cursor, ledger, refs)

    # -- reactions: the escrow saga, registrations, erasures ----------------------------------

    def react(self, unit: UnitOfWork, items: list[tuple[IntegrationEvent, Delivery]]) -> None:
        """A batch of booking's, identity's and reputation's events, decided in order in one unit of work."""
        ledger = self._ledger(unit)
        self._prefetch(ledger, items)
        recorded: list[Fact] = []
        for event, delivery in each(items):
            facts = self._decide(ledger, unit, event, delivery)
            unit.save(*facts)
            recorded += facts
        self._write(unit, ledger, recorded)

    def _prefetch(self, ledger: Ledger, items: list[tuple[IntegrationEvent, Delivery]]) -> None:
        """Reads what the batch's decisions will need, a few queries for the whole batch: the
        facts that would make a decision a repeat (a moved deadline's too), the holds settled
        or moved, and every account a hold, settlement or registration touches — a
        settlement's payer's wallet (its post debits it) too, and for a hold placed earlier in
        the same batch, the accounts named by its request."""
        facts: list[UUID] = []
        holds: list[UUID] = []
        accounts: list[UUID] = []
        signup = self.policy.signup_currency
        requested: dict[UUID, bc.BookingRequested] = {}
        for e, d in items:
            if isinstance(e, bc.BookingRequested):
                facts += [derived(e.booking_id, "held"), derived(e.booking_id, "rejected")]
                accounts += [wallet_id(e.payer_id, e.currency), account_id("escrow", e.currency)]
                requested.setdefault(e.booking_id, e)
            elif isinstance(e, bc.BookingSettled):
                holds.append(hold_transfer_id(e.booking_id, e.occurrence))
            elif isinstance(e, bc.BookingRescheduled):
                holds.append(hold_transfer_id(e.booking_id, e.occurrence))
                facts.append(cause_id(d.upstream, d.position))
            elif isinstance(e, idc.UserRegistered | idc.UserRegisteredV2):
                facts += [derived(wallet_id(e.user_id, signup), "opened"), signup_bonus_id(e.user_id, signup)]
                accounts += [wallet_id(e.user_id, signup), account_id("grants", signup)]
            elif isinstance(e, rep.BadgeAwarded):
                facts.append(reward_id(e.tutor_id, e.badge, signup))
                accounts += [wallet_id(e.tutor_id, signup), account_id("grants", signup)]
        ledger.prefetch(facts=facts, holds=holds)
        facts = []
        for e, _ in items:  # what settlements post from and pay into, now that their holds are known
            if isinstance(e, bc.BookingSettled):
                hold_id = hold_transfer_id(e.booking_id, e.occurrence)
                hold = ledger.holds.get(hold_id)
                if hold is not None and hold.status != "expired":
                    payer, currency = hold.payer_id, hold.currency
                elif (request := requested.get(e.booking_id)) is not None:  # held earlier in this batch
                    payer, currency = request.payer_id, request.currency
                else:  # nothing held (or it ran out): the settlement is noted, once
                    facts.append(derived(hold_id, "settlement-ignored"))
                    continue
                accounts += [wallet_id(payer, currency), wallet_id(e.tutor_id, currency),
                             account_id("fees", currency), account_id("escrow", currency)]
        ledger.prefetch(facts=facts, accounts=accounts)

    def _decide(self, ledger: Ledger, unit: UnitOfWork, e: IntegrationEvent, delivery: Delivery) -> list[Fact]:
        if isinstance(e, bc.BookingRequested):
            return ledger.hold(e.booking_id, e.payer_id, e.tutor_id, e.currency,
                               [(o.occurrence, o.price) for o in e.occurrences], e.total, e.hold_until)
        if isinstance(e, bc.BookingRescheduled):
            return ledger.move_deadline(e.booking_id, e.occurrence, e.hold_until,
                                        cause_id(delivery.upstream, delivery.position))
        if isinstance(e, bc.BookingSettled):
            return ledger.settle(e.booking_id, e.occurrence, e.tutor_id, e.refund)
        if isinstance(e, idc.UserRegistered | idc.UserRegisteredV2):
            return ledger.register(e.user_id)
        if isinstance(e, rep.BadgeAwarded):
            return ledger.reward(e.tutor_id, e.badge, e.reward_credits)
        if isinstance(e, idc.UserErased):
            ids = {w.id for w in self.store.wallets_of(unit.cursor, e.user_id)}
            ids |= {a.id for a in ledger.book.changed.values() if a.owner_id == e.user_id}
            wallets = [w for w in (ledger.book.find(i) for i in sorted(ids)) if w is not None]
            return ledger.close_wallets(e.user_id, wallets)
        return []

    # -- deadlines: every hold has one --------------------------------------------------------

    @staticmethod
    def schedule(fact: Any) -> list[Deadline]:
        """The deadlines a stored fact sets or clears (``servicekit.deadlines``)."""
        return [Deadline(key, due_at) for key, due_at in deadlines(fact)]

    def expire_hold(self, key: str, due_at: datetime) -> None:
        """A hold's deadline fell due: void it if it is still held and was not moved (the
        deadline may be stale; the hold knows). Idempotent."""
        hold_id = hold_of_key(key)
        if hold_id is None:
            return
        with self.unit_of_work() as unit:
            ledger = self._ledger(unit)
            facts = ledger.expire(hold_id, due_at)
            if facts:
                unit.save(*facts)
                self._write(unit, ledger, facts)

    # -- grants (staff) -----------------------------------------------------------------------

    def grant(self, command: Grant) -> GrantView:
        """Credits from the institution to a user's wallet, once per ``Idempotency-Key``
        (the same key again returns the same grant; with another request, it is refused)."""
        with self.unit_of_work() as unit:
            grant_id = grant_id_for(command.granted_by, command.idempotency_key)
            if unit.recorded([grant_id]):
                existing = unit.stored(grant_id)[0]
                assert isinstance(existing, Granted)
                if (existing.user_id, existing.currency, existing.amount, existing.kind) != (
                        command.user_id, command.currency, command.amount, command.kind):
                    raise errors.KeyReused()
                return self._grant_view(existing)
            ledger = self._ledger(unit)
            known = bool(self.store.wallets_of(unit.cursor, command.user_id))
            fact = ledger.grant(command, user_known=known)
            unit.save(fact)
            self._write(unit, ledger, [fact])
            return self._grant_view(fact)

    @staticmethod
    def _grant_view(fact: Granted) -> GrantView:
        transfer = Transfer.from_dict(fact.transfers[0])
        return GrantView(fact.grant_id, fact.user_id, wallet_id(fact.user_id, fact.currency), fact.currency,
                         fact.amount, fact.kind, fact.granted_by, transfer.id, fact.timestamp)
