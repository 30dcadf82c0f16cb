"""Amounts are whole numbers in the currency's minor unit; nothing is ever rounded away.

A settlement splits what was held three ways, and the parts always add up to the whole:

- the refund (``refund`` basis points of the held amount) is rounded **up** to the whole
  unit, in the payer's favour;
- the platform's fee (``fee`` basis points of what is released, i.e. not refunded) is rounded
  **down**, in the tutor's favour;
- the tutor gets the exact remainder.

So ``refund + fee + tutor == held`` for every held amount and every pair of rates."""

from __future__ import annotations

from dataclasses import dataclass

#: Basis points in a whole: 10000 bp = 100 %.
WHOLE = 10_000
#: The largest amount an account field can hold (PostgreSQL ``bigint``).
MAX_AMOUNT = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Split:
    refund: int
    tutor: int
    fee: int

    @property
    def released(self) -> int:
        return self.tutor + self.fee


def split_settlement(held: int, refund_bp: int, fee_bp: int) -> Split:
    """How ``held`` is settled: see the module's rule."""
    if held < 0 or not 0 <= refund_bp <= WHOLE or not 0 <= fee_bp <= WHOLE:
        raise ValueError(f"cannot split {held} with refund {refund_bp} bp and fee {fee_bp} bp")
    refund = -(-held * refund_bp // WHOLE)  # ceiling
    released = held - refund
    fee = released * fee_bp // WHOLE  # floor
    return Split(refund=refund, tutor=released - fee, fee=fee)


def allocate(total: int, weights: list[int]) -> list[int]:
    """``total`` in parts proportional to ``weights`` (largest remainder; ties to the first),
    adding up to ``total`` exactly. Weights that already add up to ``total`` are the parts;
    weights that are all zero share equally."""
    if total < 0 or not weights or any(w < 0 for w in weights):
        raise ValueError("cannot allocate a negative total, or by negative or no weights")
    if sum(weights) == total:
        return list(weights)
    if sum(weights) == 0:
        weights = [1] * len(weights)
    whole = sum(weights)
    parts = [total * w // whole for w in weights]
    short = total - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in by_remainder[:short]:
        parts[i] += 1
    return parts
