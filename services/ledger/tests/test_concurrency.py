"""Holds racing for one wallet: however they arrive — one at a time from many threads, in
concurrent batches, or through two replicas of the service on one database — a wallet that
can afford ten holds gets exactly ten, and the other ninety are rejected for want of funds."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from ledger_harness import Harness, delivery

from alphapeer_contracts import ledger as lc


def race(workers: list[Callable[[], Any]]) -> None:
    start, errors = threading.Barrier(len(workers)), []

    def run(work: Callable[[], Any]) -> None:
        start.wait()
        try:
            work()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def outcomes(h: Harness) -> Counter[str]:
    return Counter(e.reason_code if isinstance(e, lc.EscrowHoldRejected) else type(e).__name__
                   for e in h.public_events() if isinstance(e, lc.EscrowHeld | lc.EscrowHoldRejected))


@pytest.mark.parametrize("shape", ["one event per unit", "batches of ten"])
def test_a_hundred_holds_on_a_wallet_that_affords_ten(h: Harness, shape: str) -> None:
    payer = h.funded(10 * 30)
    requests = [h.requested(payer, [30]) for _ in range(100)]
    items = [(r, delivery(r, 1000 + i)) for i, r in enumerate(requests)]
    if shape == "one event per unit":
        race([lambda item=item: h.reaction(*item) for item in items])
    else:
        race([lambda chunk=items[k:k + 10]: h.reaction.apply_many(chunk) for k in range(0, 100, 10)])
    assert outcomes(h) == {"EscrowHeld": 10, "insufficient_funds": 90}
    wallet = h.wallet(payer)
    assert (wallet["balance"], wallet["held"], wallet["available"]) == (300, 300, 0)
    h.assert_books_hold()


def test_two_replicas_racing_for_one_wallet(launch: Callable[..., Harness]) -> None:
    first, second = launch(), launch()  # two processes' worth of pools on one schema
    payer = first.funded(10 * 30)
    requests = [first.requested(payer, [30]) for _ in range(100)]
    items = [(r, delivery(r, 2000 + i)) for i, r in enumerate(requests)]
    race([lambda item=item, k=k: (first if k % 2 else second).reaction(*item) for k, item in enumerate(items)])
    assert outcomes(first) == {"EscrowHeld": 10, "insufficient_funds": 90}
    # Each event was decided once, by one replica: redelivered to the other, it is a duplicate.
    assert not any(any(second.reaction.apply_many(items[k:k + 10])) for k in range(0, 100, 10))
    first.assert_books_hold()
