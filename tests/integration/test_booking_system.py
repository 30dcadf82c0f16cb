"""Booking and the ledger as users meet them: identity, catalog, booking and ledger as real
processes on the broker and PostgreSQL. Availability → book → credits held → confirmed →
completed → released to the tutor less the fee; and every unhappy path: the tutor declines,
a request expires, a late cancellation refunds half, the tutor cancels (everything back,
counted), too few credits, a promotion code at its limit, a dispute decided with a partial
refund, a suspended tutor's bookings refunded. At the end every booking is final and the
books balance.

Sessions must take place for money to be released: booking's clock is moved forward by
restarting it with ``ALPHAPEER_CLOCK_OFFSET_SECONDS`` (the tests run in file order on one stack)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.marketplace import FINAL, Market, Tutor, User, iso, running, slot, wait_for

pytestmark = pytest.mark.integration

RATE = 20  # credits an hour: a 60-minute session costs 20, the tutor gets 18, the platform 2


@pytest.fixture(scope="module")
def market(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    with running(postgres_url, tmp_path_factory.mktemp("booking-system")) as market:
        yield market


@pytest.fixture(scope="module")
def world(market: Market) -> dict[str, Any]:
    """The people of these tests and what they booked, shared in file order."""
    m = market
    people: dict[str, Any] = {
        "instant": m.tutor("Ines", rate=RATE),                       # confirms once the credits are held
        "asks": m.tutor("Arto", rate=RATE, instant_book=False),      # answers each request
        "suspended": m.tutor("Sven", rate=RATE),
        "sam": m.learner("Sam", credits=200),
        "pia": m.learner("Pia", credits=5),                          # cannot afford a session
        "lou": m.learner("Lou", credits=100),
    }
    for tutor in ("instant", "asks", "suspended"):
        m.bookable(people[tutor], people["sam"])
    return {**people, "bookings": {}}


def booked(m: Market, learner: User, tutor: Tutor, at: datetime, **more: Any) -> str:
    r = m.book(learner, tutor, at, **more)
    assert r.status_code in (201, 202), r.text
    return str(r.json()["booking_id"])


def test_book_hold_confirm(market: Market, world: dict[str, Any]) -> None:
    m, sam, ines = market, world["sam"], world["instant"]
    at = slot(days=3)
    slots = ines.call("booking", "GET", f"/v1/tutors/{ines.id}/slots",
                      params={"minutes": 60, "from": iso(at), "to": iso(at + timedelta(hours=2)),
                              "time_zone": "America/New_York", "listing_id": ines.listing_id})
    assert slots.status_code == 200, slots.text
    assert iso(at) in [s["starts_at"].replace("+00:00", "Z") for s in slots.json()["slots"]]
    assert slots.json()["prices"]["XAP"] == RATE

    bid = booked(m, sam, ines, at)
    b = m.wait_status(sam, bid, "confirmed")
    assert b["total"] == RATE and b["occurrences"][0]["money"] is None  # held, not yet moved
    assert m.wallet(sam)["held"] == RATE and m.wallet(sam)["available"] == 200 - RATE
    assert [h["amount"] for h in m.escrow(bid)["holds"]] == [RATE]
    # The slot is gone for everyone else, and a second request for it is refused.
    again = m.book(world["lou"], ines, at)
    assert again.status_code == 409, again.text
    assert again.headers["content-type"].startswith("application/problem+json")
    world["bookings"]["happy"] = bid
    # A second session, to be disputed later.
    world["bookings"]["disputed"] = bid2 = booked(m, sam, ines, at + timedelta(hours=2))
    m.wait_status(sam, bid2, "confirmed")


def test_the_tutor_declines_and_everything_goes_back(market: Market, world: dict[str, Any]) -> None:
    m, sam, arto = market, world["sam"], world["asks"]
    before = m.wallet(sam)["available"]
    bid = booked(m, sam, arto, slot(days=2))
    m.wait_status(sam, bid, "awaiting_tutor")
    assert m.wallet(sam)["available"] == before - RATE
    r = arto.call("booking", "POST", f"/v1/bookings/{bid}/decline", {"reason_code": "unavailable",
                                                                      "note": "Exam week, sorry."})
    assert r.status_code == 200, r.text
    m.wait_status(sam, bid, "declined")
    wait_for(lambda: m.wallet(sam), lambda w: w["available"] == before, what="the refund")
    hold = m.escrow(bid)["holds"][0]
    assert (hold["status"], hold["refunded"], hold["released"]) == ("settled", RATE, 0)
    # The request waiting for an answer that never comes (expires in the last test).
    world["bookings"]["unanswered"] = bid2 = booked(m, sam, arto, slot(days=2, hours=3))
    m.wait_status(sam, bid2, "awaiting_tutor")


def test_a_late_cancellation_refunds_by_the_policy(market: Market, world: dict[str, Any]) -> None:
    m, lou, ines = market, world["lou"], world["instant"]
    bid = booked(m, lou, ines, slot(hours=10))          # between 24 h and 2 h ahead: half back
    m.wait_status(lou, bid, "confirmed")
    r = lou.call("booking", "POST", f"/v1/bookings/{bid}/cancel", {"reason_code": "illness", "note": "Flu."})
    assert r.status_code == 200, r.text
    b = m.wait_money(lou, bid, "released", "refunded")
    assert b["status"] == "cancelled" and b["occurrences"][0]["settlement"]["refund"] == 5000
    wait_for(lambda: m.wallet(lou), lambda w: w["held"] == 0, what="the hold to settle")
    assert m.wallet(lou)["balance"] == 100 - RATE // 2
    assert m.wallet(ines)["balance"] >= RATE // 2 - RATE // 20  # the other half, less the fee
    hold = m.escrow(bid)["holds"][0]
    assert (hold["status"], hold["refunded"], hold["released"]) == ("settled", RATE // 2, RATE // 2)


def test_a_tutor_cancellation_refunds_everything_and_counts(market: Market, world: dict[str, Any]) -> None:
    m, lou, ines = market, world["lou"], world["instant"]
    before = m.wallet(lou)["balance"]
    bid = booked(m, lou, ines, slot(days=4))
    m.wait_status(lou, bid, "confirmed")
    r = ines.call("booking", "POST", f"/v1/bookings/{bid}/cancel",
                  {"reason_code": "tutor_unavailable", "note": "Called away."})
    assert r.status_code == 200, r.text
    b = m.wait_status(lou, bid, "cancelled")
    assert b["occurrences"][0]["settlement"]["refund"] == 10000
    wait_for(lambda: m.wallet(lou), lambda w: w["held"] == 0 and w["balance"] == before, what="the full refund")
    reliability = ines.call("booking", "GET", f"/v1/tutors/{ines.id}/reliability").json()
    assert reliability["tutor_cancellations"] >= 1, reliability


def test_too_few_credits_fails_the_request_and_changes_no_balance(market: Market, world: dict[str, Any]) -> None:
    m, pia, ines = market, world["pia"], world["instant"]
    bid = booked(m, pia, ines, slot(days=5))
    b = m.wait_status(pia, bid, "failed")
    assert any("insufficient_funds" in str(step["detail"]) for step in b["timeline"]), b["timeline"]
    w = m.wallet(pia)
    assert (w["balance"], w["held"], w["available"]) == (5, 0, 5)
    assert m.book(pia, ines, slot(days=5)).status_code in (201, 202)  # the time was never taken


def test_a_promotion_code_at_its_limit(market: Market, world: dict[str, Any]) -> None:
    m, ines, sam, lou = market, world["instant"], world["sam"], world["lou"]
    r = ines.call("catalog", "POST", f"/v1/listings/{ines.listing_id}/promotions", {
        "code": "EXAM-WEEK", "percent_off": 50, "max_redemptions": 1,
        "expires_at": iso(datetime.now(UTC) + timedelta(days=20))})
    assert r.status_code == 201, r.text
    quote = wait_for(lambda: sam.call("booking", "POST", "/v1/quotes", {
        "listing_id": ines.listing_id, "minutes": 60, "starts_at": [iso(slot(days=6))],
        "promotion_code": "EXAM-WEEK"}), lambda r: r.status_code == 200, what="booking to learn the code")
    assert quote.json()["total"] == RATE // 2
    bid = booked(m, sam, ines, slot(days=6), promotion_code="EXAM-WEEK")
    b = m.wait_status(sam, bid, "confirmed")
    assert b["total"] == RATE // 2 and b["discount"] == RATE // 2
    assert [h["amount"] for h in m.escrow(bid)["holds"]] == [RATE // 2]
    spent = m.book(lou, ines, slot(days=6, hours=2), promotion_code="EXAM-WEEK")
    assert spent.status_code == 422, spent.text
    assert [e["field"] for e in spent.json()["errors"]] == ["promotion_code"]
    world["bookings"]["promoted"] = bid


def test_a_suspended_tutors_bookings_are_refunded(market: Market, world: dict[str, Any]) -> None:
    m, sam, sven = market, world["sam"], world["suspended"]
    bid = booked(m, sam, sven, slot(days=3, hours=5))  # the learner is busy at day 3 itself
    m.wait_status(sam, bid, "confirmed")
    held = m.wallet(sam)["held"]
    r = m.staff.call("identity", "POST", f"/v1/users/{sven.id}/suspension", {"reason_code": "safety"})
    assert r.status_code == 200, r.text
    b = m.wait_status(sam, bid, "cancelled")
    assert b["occurrences"][0]["settlement"]["refund"] == 10000
    wait_for(lambda: m.wallet(sam), lambda w: w["held"] == held - RATE, what="the refund")
    refused = m.book(sam, sven, slot(days=7))
    assert refused.status_code in (403, 409, 422), refused.text


def test_sessions_take_place_disputes_are_decided_and_requests_expire(market: Market, world: dict[str, Any]) -> None:
    """Booking's clock moves to just after the first two sessions ended."""
    m, sam = market, world["sam"]
    happy, disputed, unanswered = (world["bookings"][k] for k in ("happy", "disputed", "unanswered"))
    start = datetime.fromisoformat(m.booking(sam, disputed)["occurrences"][0]["starts_at"])
    shift = (start + timedelta(minutes=70) - datetime.now(UTC)).total_seconds()  # both have ended
    m.stack.restart("booking", ALPHAPEER_CLOCK_OFFSET_SECONDS=str(shift))

    # Both sessions took place (staff record it until the sessions service exists).
    for bid in (happy, disputed):
        r = m.staff.call("booking", "POST", f"/v1/bookings/{bid}/occurrences/0/outcome", {"outcome": "completed"})
        assert r.status_code == 200, r.text
    # The learner disputes the second; staff decide 30 % back.
    r = sam.call("booking", "POST", f"/v1/bookings/{disputed}/disputes", {
        "occurrence": 0, "reason_code": "quality", "statement": "Half the time on the wrong topic."})
    assert r.status_code in (200, 201), r.text
    dispute_id = r.json()["dispute_id"]
    queue = m.staff.call("booking", "GET", "/v1/disputes").json()["items"]
    assert dispute_id in [d["dispute_id"] for d in queue]
    r = m.staff.call("booking", "POST", f"/v1/bookings/{disputed}/disputes/{dispute_id}/decision",
                     {"refund": 3000, "note": "Partly as booked."})
    assert r.status_code == 200, r.text
    b = m.wait_money(sam, disputed, "released", "refunded")
    assert b["occurrences"][0]["settlement"]["refund"] == 3000
    # 20 held: 6 back to the learner, 14 released: 13 to the tutor (rounded as the ledger states), 1 fee
    escrow = wait_for(lambda: m.escrow(disputed), lambda e: e["holds"] and e["holds"][0]["status"] == "settled")
    hold = escrow["holds"][0]
    assert (hold["refunded"], hold["released"]) == (6, 14), hold
    # Nobody answered the request before its deadline: expired, everything back.
    b = m.wait_status(sam, unanswered, "expired")
    m.wait_money(sam, unanswered, "refunded", "voided", None)


def test_the_window_closes_and_the_tutor_is_paid(market: Market, world: dict[str, Any]) -> None:
    """Booking's clock moves past the dispute window of every session booked."""
    m, sam, ines = market, world["sam"], world["instant"]
    happy = world["bookings"]["happy"]
    m.stack.restart("booking", ALPHAPEER_CLOCK_OFFSET_SECONDS=str(timedelta(days=12).total_seconds()))
    b = m.wait_money(sam, happy, "released", timeout=60)
    assert b["status"] == "closed" and b["occurrences"][0]["settlement"]["refund"] == 0
    hold = m.escrow(happy)["holds"][0]
    assert (hold["released"], hold["refunded"]) == (RATE, 0)

    # Every booking of these tests is final, and the books balance.
    every = [*world["bookings"].values()]
    for user in (sam, world["lou"], world["pia"]):
        r = user.call("booking", "GET", "/v1/bookings", params={"limit": 100})
        every += [b["booking_id"] for b in r.json()["items"]]
    for bid in set(every):
        wait_for(lambda bid=bid: m.booking(m.staff, bid), lambda b: b["status"] in FINAL, timeout=60,
                 what=f"{bid} to be final")
    rec = m.reconciliation()
    assert rec["balanced"], rec
    assert m.wallet(ines)["balance"] > 0 and m.wallet(ines)["held"] == 0
