"""Ledger's facts → public contracts (`ledger.events`). Anything not listed (wallets opened
or closed, deadlines moved, settlements that found nothing to settle) is internal and never
leaves the service."""

from __future__ import annotations

from typing import Any

from alphapeer_contracts import ledger as contract
from alphapeer_contracts.base import IntegrationEvent
from ledger.domain.journal import Granted, HoldPlaced, HoldRejected, Refunded, Released


def to_contract(e: Any) -> IntegrationEvent | None:
    if isinstance(e, HoldPlaced):
        return contract.EscrowHeld(
            booking_id=e.booking_id, payer_id=e.payer_id, currency=e.currency, total=e.total,
            holds=[contract.Hold(occurrence=h["occurrence"], transfer_id=h["transfer_id"], amount=h["amount"])
                   for h in e.holds],
            expires_at=e.expires_at, occurred_at=e.timestamp)
    if isinstance(e, HoldRejected):
        return contract.EscrowHoldRejected(booking_id=e.booking_id, payer_id=e.payer_id, currency=e.currency,
                                           reason_code=e.reason, required=e.required, available=e.available,
                                           occurred_at=e.timestamp)
    if isinstance(e, Released):
        return contract.EscrowReleased(booking_id=e.booking_id, occurrence=e.occurrence, tutor_id=e.tutor_id,
                                       currency=e.currency, tutor_amount=e.tutor_amount, fee_amount=e.fee_amount,
                                       transfer_id=e.transfer_id, occurred_at=e.timestamp)
    if isinstance(e, Refunded):
        return contract.EscrowRefunded(booking_id=e.booking_id, occurrence=e.occurrence, payer_id=e.payer_id,
                                       currency=e.currency, amount=e.amount, reason_code=e.reason,
                                       occurred_at=e.timestamp)
    if isinstance(e, Granted):
        return contract.CreditsGranted(grant_id=e.grant_id, user_id=e.user_id, currency=e.currency, amount=e.amount,
                                       kind=e.kind, occurred_at=e.timestamp)
    return None
