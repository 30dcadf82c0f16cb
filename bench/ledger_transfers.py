"""Ledger transfers per second through the ledger's own reaction, with one hot account pair,
against PostgreSQL's single-row commit rate measured in the same run.

The ledger is built as its service builds it (``ledger.main.build``: its schema, tables and
event store on the bench's PostgreSQL; no relay, no broker, no background workers), with its
process's garbage-collector settings (``ledger.gc_tuning.tune_gc``, restored afterwards), and
booking's events are handed to its batch reaction (``BatchReaction.apply_many`` →
``LedgerApplication.react``) exactly as the subscriber hands over a batch it consumed:
tracking rows, facts in the event store, accounts, transfers and holds, one transaction per
batch.

The stream: every ``BookingRequested`` holds one occurrence's price (100 credits) from one of
1,000 funded payers in the XAP escrow account (a pending transfer), and is followed by a
``BookingSettled`` (no refund) of the oldest open hold, placed at least one batch earlier
(as in life: a session settles days after it was booked). Each settlement posts the hold
into escrow and pays it on: the tutor (one of 1,000) and the platform's fee account. So
every event touches the same escrow account, and every settlement the same fee account: the
hot accounts where one aggregate (or one row lock) per transfer would serialise everything.

Transfers are counted as the ledger records them (rows of its ``transfers`` table, by kind:
``pending`` holds, ``post``s, ``void``s, and the ``single`` payments to the tutor and the fee
account); the two-phase ones (pending + post + void) are reported too (here one per event, so
also the events per second). Each is also given as a ratio to PostgreSQL's single-row commits per second on the
same server (measured before and after the ledger ran; their mean). Only the reaction call
is timed, not building the events; the books must reconcile afterwards. Peak RSS is the
bench process's (VmHWM, reset before the ledger starts)."""

from __future__ import annotations

import contextlib
import gc
import os
import tempfile
import time
import uuid
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alphapeer_contracts import booking as bc
from alphapeer_contracts import identity as idc
from ledger.adapters.statements import Statements
from ledger.application import LedgerApplication
from ledger.gc_tuning import tune_gc
from ledger.main import build
from ledger.settings import LedgerSettings
from servicekit import envelope
from servicekit.subscriber import BatchReaction, Delivery

BATCH_SIZES = (1, 10, 100, 500)
PRICE = 100
PAYERS = 1_000
TUTORS = 1_000
#: Open holds kept ahead of the settlements: more than the largest batch, so a settlement
#: never meets a hold placed in its own batch.
BACKLOG = 600
POLICY = bc.CancellationPolicy(tiers=[bc.RefundTier(hours_before=24, refund=10_000)])


class Stream:
    """booking.events as the ledger's subscriber would see them: positions rising, a request
    then a settlement of the oldest open hold, over and over."""

    def __init__(self) -> None:
        self.position = 0
        self.payers = [uuid.uuid4() for _ in range(PAYERS)]
        self.tutors = [uuid.uuid4() for _ in range(TUTORS)]
        self.open: deque[bc.BookingRequested] = deque()
        self.requests = 0
        self.settle_next = False
        self.start = datetime.now(UTC) + timedelta(days=3)

    def _delivery(self, event: Any) -> Delivery:
        self.position += 1
        env = envelope.Envelope(id=str(uuid.uuid4()), type=event.ce_type(), source=f"/alphapeer/{event.service}",
                                subject=event.key(), time=event.occurred_at, sequence=self.position)
        return Delivery(event.topic(), self.position, env)

    def registrations(self) -> list[tuple[Any, Delivery]]:
        now = datetime.now(UTC)
        return [(e, self._delivery(e)) for e in (
            idc.UserRegistered(user_id=p, display_name="A payer", roles=["student"], occurred_at=now)
            for p in self.payers)]

    def request(self) -> bc.BookingRequested:
        i = self.requests
        self.requests += 1
        now = datetime.now(UTC)
        request = bc.BookingRequested(
            booking_id=uuid.uuid4(), tutor_id=self.tutors[i % TUTORS], student_id=self.payers[i % PAYERS],
            payer_id=self.payers[i % PAYERS], listing_id=uuid.uuid4(), kind="single", mode="online", currency="XAP",
            occurrences=[bc.Occurrence(occurrence=0, starts_at=self.start, ends_at=self.start + timedelta(hours=1),
                                       price=PRICE)],
            total=PRICE, hold_until=now + timedelta(days=7), policy=POLICY, occurred_at=now)
        self.open.append(request)
        return request

    def next(self) -> Any:
        """The next event: requests and settlements in turn (a settlement only while more
        than ``BACKLOG`` holds are open)."""
        self.settle_next = not self.settle_next
        if self.settle_next and len(self.open) > BACKLOG:
            r = self.open.popleft()
            return bc.BookingSettled(booking_id=r.booking_id, tutor_id=r.tutor_id, payer_id=r.payer_id, occurrence=0,
                                     refund=0, outcome="completed", occurred_at=datetime.now(UTC))
        return self.request()

    def batch(self, size: int) -> list[tuple[Any, Delivery]]:
        return [(e, self._delivery(e)) for e in (self.next() for _ in range(size))]


def _kinds(app: LedgerApplication) -> Counter[str]:
    with app.unit_of_work() as unit:
        unit.cursor.execute("SELECT kind, count(*) FROM transfers GROUP BY kind")
        return Counter({str(k): int(n) for k, n in unit.cursor.fetchall()})


def run(db_url: str, context: dict[str, Any], quick: bool = False) -> list[dict[str, Any]]:
    from bench.__main__ import report
    from bench.login_storm import reset_peak, status_kb
    from bench.relay_lag import _pg_commit_rate

    results: list[dict[str, Any]] = []
    print("ledger")
    pid = os.getpid()
    with contextlib.suppress(OSError):
        reset_peak(pid)
    before = _pg_commit_rate(db_url)
    thresholds = gc.get_threshold()
    tune_gc()

    with tempfile.TemporaryDirectory(prefix="alphapeer-bench-ledger-") as tmp:
        settings = LedgerSettings(database_url=db_url, database_schema=f"ledger_bench_{uuid.uuid4().hex[:6]}",
                                  data_dir=Path(tmp), relay_enabled=False, subscribers_enabled=False,
                                  kafka_bootstrap_servers="127.0.0.1:1", ledger_platform_fee_bp=1000,
                                  ledger_signup_bonus=1_000_000_000, log_level="WARNING")
        gateway = build(settings)  # the service's assembly; its lifespan (workers) is never entered
        try:
            app: LedgerApplication = gateway.state.ledger
            reaction: BatchReaction = gateway.state.reactions["main"]
            stream = Stream()
            reaction.apply_many(stream.registrations())  # 1,000 funded wallets (the sign-up bonus)
            while len(stream.open) <= BACKLOG:  # holds to settle from the first event on
                reaction.apply_many(stream.batch(300))
            budget = 2.5 if quick else 9.0  # seconds of reaction per batch size
            measured: list[tuple[int, int, int, int, float]] = []
            kinds_seen: Counter[str] = Counter()
            for size in BATCH_SIZES:
                counted = _kinds(app)
                events = 0
                spent = 0.0
                while spent < budget:
                    items = stream.batch(size)
                    started = time.perf_counter()
                    reaction.apply_many(items)
                    spent += time.perf_counter() - started
                    events += size
                made = _kinds(app) - counted
                measured.append((size, events, sum(made.values()), made["pending"] + made["post"] + made["void"],
                                 spent))
                kinds_seen.update(made)
            _, currencies = Statements(gateway.state.db).reconcile(None)
            if not all(c.balanced for c in currencies):
                raise AssertionError(f"the books do not balance after the bench: {currencies}")
            peak_mib = status_kb(pid, "VmHWM") / 1024
            # The ceiling before and after the ledger ran (a shared machine's disk varies): their mean.
            after = _pg_commit_rate(db_url)
            ceiling = (before + after) / 2
            report(results, "postgres.single_row_commits", ceiling, "commits/s",
                   {**context, "before": round(before, 1), "after": round(after, 1),
                    "note": "baseline: one INSERT per transaction, same server, same run (mean of before and after)"})
            for size, events, transfers, two_phase, spent in measured:
                ctx = {**context, "batch": size, "events": events, "seconds": round(spent, 3), "transfers": transfers,
                       "hot_accounts": "escrow XAP (every event), fees XAP (every settlement)"}
                report(results, f"ledger.transfers.batch_{size}", transfers / spent, "transfers/s",
                       {**ctx, "note": "every transfer the ledger recorded: pending, post, void, single"})
                report(results, f"ledger.transfers.batch_{size}.ratio_to_pg", transfers / spent / ceiling,
                       "ratio", ctx)
                report(results, f"ledger.two_phase.batch_{size}", two_phase / spent, "transfers/s",
                       {**ctx, "note": "pending holds + posts + voids only (not the tutor and fee payments)"})
                report(results, f"ledger.two_phase.batch_{size}.ratio_to_pg", two_phase / spent / ceiling, "ratio",
                       ctx)
            report(results, "ledger.bench_process.peak_rss", peak_mib, "MiB",
                   {**context, "transfers_by_kind": dict(kinds_seen),
                    "note": "the bench process (ledger in-process), VmHWM reset before the ledger ran"})
        finally:
            for close in reversed(gateway.state.closers):
                close()
            gateway.state.db.close()
            gc.unfreeze()
            gc.set_threshold(*thresholds)
    return results
