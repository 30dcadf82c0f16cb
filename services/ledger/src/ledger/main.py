"""Ledger: the append-only double-entry book of every credit. Publishes `ledger.events`; reacts to
`booking.events` (the escrow saga), `identity.events` (wallets) and `reputation.events` (rewards)."""

from __future__ import annotations

from ledger.adapters.books import DDL, BookStore
from ledger.adapters.statements import Statements
from ledger.application import HANDLES, TOPICS, LedgerApplication
from ledger.domain.ledger import Policy
from ledger.gc_tuning import tune_gc
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
    svc.reacts_to(*TOPICS, reaction=BatchReaction(app, app.react), handles=HANDLES)
    deadlines = svc.deadlines(app, app.schedule, app.expire_hold)  # every hold's way out
    svc.provide(ledger=app, statements=Statements(svc.db), deadlines=deadlines)


service = Service("ledger", LedgerSettings, assemble, ROUTERS, description=__doc__ or "")
build = service.build


def main() -> None:  # ``alphapeer-ledger``, ``python -m ledger``: the collector set for batches first
    tune_gc()
    service.main()


if __name__ == "__main__":  # pragma: no cover
    main()
