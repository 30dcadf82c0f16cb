"""The saga survives crashes: while learners book and cancel, the ledger and booking
processes are killed with SIGKILL at random moments (mid-request, mid-reaction, between a
commit and its publish) and restarted, many times. At the end every booking is final, every
session's money moved exactly once by the policy, and the books balance to the credit.

Clients do what a frontend does when the gateway is away: retry with the same
Idempotency-Key, so a request that was done before the crash is answered, not done again."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.integration.marketplace import Market, Tutor, User, iso, running, slot, wait_for

pytestmark = pytest.mark.integration

RATE = 20
GRANT = 200
LEARNERS, TUTORS, BOOKINGS = 6, 2, 36
KILLS = 8


@pytest.fixture
def market(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    with running(postgres_url, tmp_path_factory.mktemp("saga-crashes")) as market:
        yield market


def durable(send: Callable[[], httpx.Response], timeout: float = 90.0) -> httpx.Response:
    """Retry while the service is away (refused, reset, 502/503) or the first try of this
    request may still be running (409 with Retry-After), as a client would."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = send()
            busy = r.status_code == 409 and "retry-after" in r.headers
            if r.status_code not in (502, 503, 504) and not busy:
                return r
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the service never came back"
        time.sleep(0.2)


def call(user: User, service: str, method: str, path: str, body: Any = None) -> httpx.Response:
    key = uuid.uuid4().hex  # one key for every retry of this request
    return durable(lambda: user.call(service, method, path, body, headers={"Idempotency-Key": key}))


def diagnose(m: Market) -> str:
    """What booking and ledger say about their relays and consumers (for a failure's message)."""
    out = []
    for name in ("booking", "ledger"):
        try:
            ready = httpx.get(f"{m.stack[name].url}/readyz", timeout=5).text
            metrics = httpx.get(f"{m.stack[name].url}/metrics", timeout=5).text
        except httpx.HTTPError as exc:
            out.append(f"{name}: {exc!r}")
            continue
        lines = [x for x in metrics.splitlines() if x.startswith(("alphapeer_relay", "alphapeer_consumer_lag"))]
        out.append(f"{name} readyz {ready}\n" + "\n".join(lines))
    return "\n".join(out)


def test_sigkill_of_booking_and_ledger_mid_saga_loses_and_doubles_nothing(market: Market) -> None:
    m = market
    tutors: list[Tutor] = [m.tutor(f"Tutor{i}", rate=RATE) for i in range(TUTORS)]
    learners = [m.learner(f"Learner{i}", credits=GRANT) for i in range(LEARNERS)]
    for t in tutors:
        m.bookable(t, learners[0])

    # Every booking has its own hour, so none conflicts with another: the ones cancelled late
    # (10 h ahead or less: half back) and the ones cancelled early (days ahead: all back).
    plan = []
    for k in range(BOOKINGS):
        late = k % 3 == 0
        at = slot(hours=3 + k // 3) if late else slot(days=2, hours=k)
        plan.append((learners[k % LEARNERS], tutors[k % TUTORS], at, late))

    done = threading.Event()
    kills: list[str] = []

    def killer() -> None:
        rnd = random.Random(12)
        while not done.is_set() and len(kills) < KILLS:
            time.sleep(rnd.uniform(0.2, 1.5))
            name = ("ledger", "booking")[len(kills) % 2]
            m.stack[name].kill()
            kills.append(name)
            time.sleep(rnd.uniform(0.0, 0.5))  # the rest goes on meanwhile
            m.stack[name].start()

    def one(step: tuple[User, Tutor, Any, bool]) -> str:
        learner, tutor, at, _ = step
        r = call(learner, "booking", "POST", "/v1/bookings",
                 {"listing_id": tutor.listing_id, "minutes": 60, "starts_at": [iso(at)]})
        assert r.status_code in (201, 202), r.text
        bid = str(r.json()["booking_id"])
        try:
            wait_for(lambda: durable(lambda: learner.call("booking", "GET", f"/v1/bookings/{bid}")).json()["status"],
                     lambda s: s == "confirmed", timeout=120, what=f"{bid} confirmed")
        except AssertionError as exc:
            timeline = m.booking(m.staff, bid)["timeline"]
            raise AssertionError(f"{exc}\ntimeline {timeline}\nescrow {m.escrow(bid)}") from exc
        r = call(learner, "booking", "POST", f"/v1/bookings/{bid}/cancel",
                 {"reason_code": "schedule_conflict", "note": "Clash."})
        # A retry of a cancellation whose first run committed before the process died runs
        # again (the key's lease ran out) and finds it done: 409, the booking cancelled once.
        assert r.status_code == 200 or (r.status_code == 409 and "is cancelled" in r.text), r.text
        return bid

    chaos = threading.Thread(target=killer, daemon=True)
    chaos.start()
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            bids = list(pool.map(one, plan))
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{diagnose(m)}") from exc
    done.set()
    chaos.join(timeout=60)
    for name in ("booking", "ledger"):
        m.stack[name].start()  # running (start is a no-op if it is)
    assert len(kills) >= KILLS // 2, kills

    # Every booking final; every session's money moved once, by the policy.
    released: dict[str, int] = {}
    for (learner, _, _, late), bid in zip(plan, bids, strict=True):
        b = wait_for(lambda bid=bid, learner=learner: durable(
            lambda: learner.call("booking", "GET", f"/v1/bookings/{bid}")).json(),
            lambda b: b["status"] == "cancelled" and all(o["money"] for o in b["occurrences"]), timeout=120,
            what=f"{bid} settled")
        assert b["occurrences"][0]["settlement"]["refund"] == (5000 if late else 10000), b
        escrow = wait_for(lambda bid=bid: durable(lambda: m.staff.call("ledger", "GET", f"/v1/bookings/{bid}/escrow")),
                          lambda r: r.status_code == 200 and r.json()["holds"][0]["status"] == "settled").json()
        [hold] = escrow["holds"]
        assert hold["amount"] == RATE and hold["released"] + hold["refunded"] == RATE, hold
        assert hold["released"] == (RATE // 2 if late else 0), hold
        released[learner.id] = released.get(learner.id, 0) + hold["released"]

    for learner in learners:
        w = m.wallet(learner)
        assert (w["balance"], w["held"]) == (GRANT - released.get(learner.id, 0), 0), (learner.email, w)
    paid = sum(m.wallet(t)["balance"] for t in tutors)
    total_released = sum(released.values())
    assert 0 < paid < total_released  # the tutors got what was released, less the platform's fee
    rec = m.reconciliation()
    assert rec["balanced"], rec
