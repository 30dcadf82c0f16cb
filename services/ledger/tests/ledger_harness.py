"""The harness of the ledger's tests: the service in-process on a real PostgreSQL, its gateway
(tokens signed by the test key, servicekit.testing.ISSUER), booking's and identity's events
fed to its own batch reaction exactly as the subscriber would (servicekit.testing.Feed, or a
whole batch with ``apply_many``), its deadlines fired at a chosen time, and the checks every
test ends with (``assert_books_hold``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from alphapeer_contracts import booking as bc
from alphapeer_contracts import identity as idc
from ledger.application import LedgerApplication
from ledger.domain.accounts import account_id, wallet_id
from ledger.domain.replay import replay
from ledger.translate import to_contract
from servicekit import envelope
from servicekit.deadlines import Deadlines
from servicekit.subscriber import BatchReaction, Delivery
from servicekit.testing import ISSUER, Feed

XAP = "XAP"
POLICY = bc.CancellationPolicy(tiers=[bc.RefundTier(hours_before=24, refund=10000)])


def now() -> datetime:
    return datetime.now(UTC)


def delivery(event: Any, position: int) -> Delivery:
    """How the subscriber hands ``event`` over, as the producer's notification ``position``."""
    env = envelope.Envelope(id=str(uuid.uuid4()), type=event.ce_type(), source=f"/alphapeer/{event.service}",
                            subject=event.key(), time=event.occurred_at, sequence=position)
    return Delivery(event.topic(), position, env)


class Harness:
    """The running gateway (``client``), the application (``app``), the batch reaction the
    subscriber calls (``reaction``; ``feed`` hands it one event at a time), the deadlines."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        state: Any = client.app.state  # type: ignore[attr-defined]
        self.app: LedgerApplication = state.ledger
        self.reaction: BatchReaction = state.reactions["main"]
        self.deadlines: Deadlines = state.deadlines
        self.feed = Feed(self.reaction)
        self.staff = uuid.uuid4()

    # -- identity -----------------------------------------------------------------------------

    def register(self, user: UUID | None = None) -> UUID:
        user = user or uuid.uuid4()
        assert self.feed(idc.UserRegistered(user_id=user, display_name="A learner", roles=["student"],
                                            occurred_at=now()))
        return user

    def grant(self, user: UUID, amount: int, kind: str = "allowance", currency: str = XAP,
              key: str | None = None) -> Any:
        return self.client.post("/v1/grants", json={"user_id": str(user), "currency": currency, "amount": amount,
                                                    "kind": kind},
                                headers={**ISSUER.headers(self.staff, "staff"),
                                         "Idempotency-Key": key or uuid.uuid4().hex})

    def funded(self, amount: int) -> UUID:
        """A registered user with ``amount`` granted."""
        user = self.register()
        if amount:
            r = self.grant(user, amount)
            assert r.status_code == 201, r.text
        return user

    # -- booking ------------------------------------------------------------------------------

    @staticmethod
    def requested(payer: UUID, prices: list[int], *, tutor: UUID | None = None, booking: UUID | None = None,
                  total: int | None = None, currency: str = XAP, hold_until: datetime | None = None,
                  discount: int = 0) -> bc.BookingRequested:
        start = now() + timedelta(days=3)
        occurrences = [bc.Occurrence(occurrence=i, starts_at=start + timedelta(days=7 * i),
                                     ends_at=start + timedelta(days=7 * i, hours=1), price=p)
                       for i, p in enumerate(prices)]
        return bc.BookingRequested(
            booking_id=booking or uuid.uuid4(), tutor_id=tutor or uuid.uuid4(), student_id=payer, payer_id=payer,
            listing_id=uuid.uuid4(), kind="package" if len(prices) > 1 else "single", mode="online",
            currency=currency, occurrences=occurrences, total=sum(prices) - discount if total is None else total,
            discount=discount, hold_until=hold_until or now() + timedelta(days=2), policy=POLICY,
            occurred_at=now())

    @staticmethod
    def settled(request: bc.BookingRequested, occurrence: int = 0, refund: int = 0,
                outcome: str = "completed") -> bc.BookingSettled:
        return bc.BookingSettled(booking_id=request.booking_id, tutor_id=request.tutor_id, payer_id=request.payer_id,
                                 occurrence=occurrence, refund=refund, outcome=outcome,  # type: ignore[arg-type]
                                 occurred_at=now())

    @staticmethod
    def rescheduled(request: bc.BookingRequested, occurrence: int, hold_until: datetime) -> bc.BookingRescheduled:
        o = request.occurrences[occurrence]
        return bc.BookingRescheduled(booking_id=request.booking_id, tutor_id=request.tutor_id,
                                     student_id=request.student_id, occurrence=occurrence,
                                     starts_at=o.starts_at + timedelta(days=1), ends_at=o.ends_at + timedelta(days=1),
                                     previous_starts_at=o.starts_at, hold_until=hold_until, occurred_at=now())

    # -- what the ledger says -----------------------------------------------------------------

    def public_events(self, after: int = 0) -> list[Any]:
        """What the outbox would publish on ledger.events, in order."""
        events = [to_contract(self.app.mapper.to_domain_event(n))
                  for n in self.app.recorder.select_notifications(start=after + 1, limit=100_000)]
        return [e for e in events if e is not None]

    def facts(self) -> list[Any]:
        return [self.app.mapper.to_domain_event(n) for n in self.app.recorder.select_notifications(start=1,
                                                                                                   limit=1_000_000)]

    def last_notification(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def wallet(self, user: UUID, currency: str = XAP) -> dict[str, Any]:
        r = self.client.get(f"/v1/accounts/{wallet_id(user, currency)}", headers=ISSUER.headers(user, "student"))
        if r.status_code == 404:
            return {"balance": 0, "held": 0, "available": 0}
        assert r.status_code == 200, r.text
        return dict(r.json())

    def system(self, kind: str, currency: str = XAP) -> dict[str, Any]:
        r = self.client.get(f"/v1/accounts/{account_id(kind, currency)}",  # type: ignore[arg-type]
                            headers=ISSUER.headers(self.staff, "staff"))
        if r.status_code == 404:
            return {"balance": 0, "held": 0, "incoming": 0, "available": 0}
        assert r.status_code == 200, r.text
        return dict(r.json())

    def reconciliation(self) -> dict[str, Any]:
        r = self.client.get("/v1/reconciliation", headers=ISSUER.headers(self.staff, "staff"))
        assert r.status_code == 200, r.text
        return dict(r.json())

    def table(self) -> dict[UUID, tuple[int, int, int, int, bool]]:
        """Every account's totals, as the accounts table has them."""
        with self.app.unit_of_work() as unit:
            unit.cursor.execute("SELECT id, debits_pending, debits_posted, credits_pending, credits_posted, closed "
                                "FROM accounts")
            return {r[0]: (int(r[1]), int(r[2]), int(r[3]), int(r[4]), bool(r[5])) for r in unit.cursor.fetchall()}

    def assert_books_hold(self) -> None:
        """The books balance, no constrained account is negative, and the journal alone gives
        back every account (replaying the facts changes nothing)."""
        report = self.reconciliation()
        assert report["balanced"], report
        table = self.table()
        for totals in table.values():
            assert min(totals[:4]) >= 0
        book = replay(self.facts())
        rebuilt = {}
        for i in table:
            account = book.find(i)
            assert account is not None, f"account {i} is in the table but not in the journal"
            rebuilt[i] = (*account.totals(), account.closed)
        assert rebuilt == table


