"""Ledger: the append-only double-entry book of every credit — wallets, escrow holds and
their settlement, the platform's fees, the institution's grants, statements and
reconciliation. Publishes `ledger.events`; reacts to `booking.events` (the escrow saga) and
`identity.events` (wallets opened at registration, closed at erasure)."""

from __future__ import annotations

import gc

from ledger.adapters.books import DDL, BookStore
from ledger.adapters.statements import Statements
from ledger.application import HANDLES, LedgerApplication
from ledger.domain.ledger import Policy
from ledger.http import ROUTERS
from ledger.settings import LedgerSettings
from ledger.translate import to_contract
from servicekit.service import Assembly, Service
from servicekit.subscriber import BatchReaction


def assemble(svc: Assembly[LedgerSettings]) -> None:
    s = svc.settings
    policy = Policy(s.currency_set, s.ledger_platform_fee_bp, s.ledger_signup_bonus, s.ledger_signup_currency)
    app = svc.event_store(LedgerApplication, policy=policy, store=BookStore())
    svc.tables(DDL)
    svc.publishes(app, to_contract)
    # A batch of events is one unit of work: many transfers decided in memory, one commit.
    svc.reacts_to("booking.events", "identity.events", reaction=BatchReaction(app, app.react), handles=HANDLES)
    deadlines = svc.deadlines(app, app.schedule, app.expire_hold)  # every hold's way out
    svc.provide(ledger=app, statements=Statements(svc.db), deadlines=deadlines)


service = Service("ledger", LedgerSettings, assemble, ROUTERS, description=__doc__ or "")
build = service.build


def tune_gc() -> None:
    """The process's garbage collector, set for batches. A batch of hundreds of events
    allocates tens of thousands of objects that live until it commits; with CPython's
    default thresholds (700, 10, 10) the collector walks them some twenty times a batch,
    and every few batches walks the whole heap, startup's modules and models included —
    about a seventh of a batch of 500's time. What startup built is frozen (never walked
    again), and the youngest generation is collected every 50,000 net allocations instead
    of 700. Objects are freed when their last reference goes, as always; only reference
    cycles wait longer to be collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


def main() -> None:
    """The process entry point (``alphapeer-ledger``, ``python -m ledger``)."""
    tune_gc()
    service.main()

if __name__ == "__main__":  # pragma: no cover
    main()
