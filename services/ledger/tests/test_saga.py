"""The escrow saga with booking, fed as the subscriber would: holds (all or none), their
settlement (refund, release, the platform's fee), moved deadlines, holds that run out,
redeliveries; and what identity's events do (wallets, sign-up bonus, erasure)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from ledger_harness import XAP, Harness, delivery, now

from alphapeer_contracts import identity as idc
from alphapeer_contracts import ledger as lc
from alphapeer_contracts import reputation as rep
from ledger.domain.accounts import wallet_id
from ledger.domain.journal import hold_transfer_id
from servicekit.testing import ISSUER


def kinds(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_a_booking_is_held_then_released_to_the_tutor_less_the_fee(h: Harness) -> None:
    student = h.funded(500)
    request = h.requested(student, [120])
    assert h.feed(request) is True
    held = h.public_events()[-1]
    assert isinstance(held, lc.EscrowHeld)
    assert (held.booking_id, held.payer_id, held.total, held.expires_at) == (
        request.booking_id, student, 120, request.hold_until)
    assert [(x.occurrence, x.amount, x.transfer_id) for x in held.holds] == [
        (0, 120, hold_transfer_id(request.booking_id, 0))]
    assert (h.wallet(student)["balance"], h.wallet(student)["held"], h.wallet(student)["available"]) == (500, 120, 380)
    assert h.system("escrow")["incoming"] == 120

    assert h.feed(h.settled(request)) is True
    released = h.public_events()[-1]
    assert isinstance(released, lc.EscrowReleased)
    assert (released.tutor_id, released.tutor_amount, released.fee_amount) == (request.tutor_id, 108, 12)
    assert h.wallet(student) | {} == h.wallet(student) and h.wallet(student)["balance"] == 380
    assert h.wallet(student)["held"] == 0
    assert h.wallet(request.tutor_id)["balance"] == 108
    assert h.system("fees")["balance"] == 12
    assert h.system("escrow")["balance"] == 0 and h.system("escrow")["incoming"] == 0
    h.assert_books_hold()


def test_a_partial_refund_goes_back_and_the_rest_is_released(h: Harness) -> None:
    student = h.funded(100)
    request = h.requested(student, [99])
    h.feed(request)
    before = h.last_notification()
    h.feed(h.settled(request, refund=5000, outcome="cancelled_by_student"))
    refunded, released = h.public_events(before)
    assert isinstance(refunded, lc.EscrowRefunded) and isinstance(released, lc.EscrowReleased)
    # 50 % of 99 is 49.5: the refund rounds up (50), the fee rounds down (10 % of 49 = 4), the tutor gets 45.
    assert (refunded.amount, refunded.reason_code) == (50, "settled")
    assert (released.tutor_amount, released.fee_amount) == (45, 4)
    assert h.wallet(student)["balance"] == 100 - 49
    h.assert_books_hold()


def test_a_full_refund_releases_nothing(h: Harness) -> None:
    student = h.funded(100)
    request = h.requested(student, [60])
    h.feed(request)
    before = h.last_notification()
    h.feed(h.settled(request, refund=10000, outcome="cancelled_by_tutor"))
    assert kinds(h.public_events(before)) == ["EscrowRefunded"]
    assert h.wallet(student)["balance"] == 100 and h.wallet(student)["held"] == 0
    assert h.wallet(request.tutor_id)["balance"] == 0
    h.assert_books_hold()


def test_a_package_is_held_all_or_none(h: Harness) -> None:
    student = h.funded(250)
    too_much = h.requested(student, [100, 100, 100])
    h.feed(too_much)
    rejected = h.public_events()[-1]
    assert isinstance(rejected, lc.EscrowHoldRejected)
    assert (rejected.reason_code, rejected.required, rejected.available) == ("insufficient_funds", 300, 250)
    assert h.wallet(student)["held"] == 0  # not two of three

    fits = h.requested(student, [100, 100])
    h.feed(fits)
    held = h.public_events()[-1]
    assert isinstance(held, lc.EscrowHeld) and [x.amount for x in held.holds] == [100, 100]
    for occurrence in (0, 1):
        h.feed(h.settled(fits, occurrence))
    assert h.wallet(fits.tutor_id)["balance"] == 180
    h.assert_books_hold()


def test_a_discount_is_shared_out_over_the_occurrences(h: Harness) -> None:
    student = h.funded(1000)
    request = h.requested(student, [100, 100, 100], discount=50)  # total 250
    h.feed(request)
    held = h.public_events()[-1]
    assert isinstance(held, lc.EscrowHeld)
    assert [x.amount for x in held.holds] == [84, 83, 83] and held.total == 250
    assert h.wallet(student)["held"] == 250


def test_refusals_say_why(h: Harness) -> None:
    stranger = uuid.uuid4()  # never registered: no wallet
    h.feed(h.requested(stranger, [10]))
    assert (h.public_events()[-1].reason_code, h.public_events()[-1].available) == ("insufficient_funds", 0)
    h.feed(h.requested(h.funded(100), [10], currency="EUR"))
    assert h.public_events()[-1].reason_code == "currency_not_accepted"
    erased = h.funded(100)
    h.feed(idc.UserErased(user_id=erased, occurred_at=now()))
    h.feed(h.requested(erased, [10]))
    assert h.public_events()[-1].reason_code == "account_closed"
    assert h.grant(erased, 5).status_code == 409
    free = h.requested(stranger, [0])  # a free trial needs nothing held, and is held
    h.feed(free)
    assert isinstance(h.public_events()[-1], lc.EscrowHeld)
    h.assert_books_hold()


def test_redelivered_and_republished_events_change_nothing(h: Harness) -> None:
    student = h.funded(300)
    request = h.requested(student, [100])
    assert h.feed(request, position=10) is True
    assert h.feed(request, position=10) is False  # redelivered: tracked
    assert h.feed(request, position=11) is True  # republished under another position: the fact exists
    settle = h.settled(request)
    assert h.feed(settle, position=12) is True
    assert h.feed(settle, position=13) is True
    assert kinds(h.public_events()) == ["CreditsGranted", "EscrowHeld", "EscrowReleased"]
    assert h.wallet(student)["balance"] == 200 and h.wallet(request.tutor_id)["balance"] == 90
    h.assert_books_hold()


def test_a_whole_batch_is_one_unit_even_a_request_and_its_settlement(h: Harness) -> None:
    student = h.funded(1000)
    requests = [h.requested(student, [100]) for _ in range(5)]
    items = [*requests, *(h.settled(r, refund=2500) for r in requests)]
    start = h.feed.positions.get("booking.events", 0)
    batch = [(e, delivery(e, start + i + 1)) for i, e in enumerate(items)]
    assert h.reaction.apply_many(batch) == [True] * 10
    assert h.reaction.apply_many(batch) == [False] * 10
    assert h.wallet(student)["balance"] == 1000 - 5 * 75
    assert h.wallet(requests[0].tutor_id)["balance"] == 68  # 75 less 10 % (7.5, rounded down to 7)
    h.assert_books_hold()


def test_an_unsettled_hold_runs_out_and_goes_back(h: Harness) -> None:
    student = h.funded(100)
    request = h.requested(student, [40, 40], hold_until=now() + timedelta(hours=6))
    h.feed(request)
    h.deadlines.catch_up()
    keys = [key for key, _ in h.deadlines.pending()]
    assert sorted(keys) == sorted(f"hold:{hold_transfer_id(request.booking_id, n)}" for n in (0, 1))
    h.feed(h.settled(request, 0))  # the first occurrence settles in time; its deadline is cleared
    h.deadlines.catch_up()
    assert len(h.deadlines.pending()) == 1
    assert h.deadlines.fire_due(now() + timedelta(hours=1)) == 0  # not yet
    before = h.last_notification()
    assert h.deadlines.fire_due(request.hold_until + timedelta(seconds=1)) == 1
    (expired,) = h.public_events(before)
    assert isinstance(expired, lc.EscrowRefunded)
    assert (expired.occurrence, expired.amount, expired.reason_code) == (1, 40, "hold_expired")
    assert h.wallet(student)["balance"] == 60 and h.wallet(student)["held"] == 0
    h.deadlines.catch_up()
    assert h.deadlines.pending() == []
    # Fired again (at least once delivery): the hold knows it is gone.
    h.app.expire_hold(f"hold:{hold_transfer_id(request.booking_id, 1)}", request.hold_until)
    assert h.public_events(before) == [expired]
    # A settlement arriving after the hold ran out moves nothing.
    h.feed(h.settled(request, 1))
    assert h.public_events(before) == [expired] and h.wallet(request.tutor_id)["balance"] == 36
    h.assert_books_hold()


def test_a_rescheduled_booking_moves_its_deadline(h: Harness) -> None:
    student = h.funded(100)
    first = now() + timedelta(hours=6)
    request = h.requested(student, [40], hold_until=first)
    h.feed(request)
    later = first + timedelta(days=7)
    h.feed(h.rescheduled(request, 0, later))
    h.deadlines.catch_up()
    assert [due for _, due in h.deadlines.pending()] == [later]
    # A stale firing of the old deadline (a replica that read it before it moved) does nothing.
    h.app.expire_hold(f"hold:{hold_transfer_id(request.booking_id, 0)}", first)
    assert h.deadlines.fire_due(first + timedelta(seconds=1)) == 0
    assert h.wallet(student)["held"] == 40
    assert h.deadlines.fire_due(later) == 1
    assert h.wallet(student)["held"] == 0
    h.assert_books_hold()


def test_earnings_pay_for_the_tutors_own_bookings(h: Harness) -> None:
    """Skill exchange: a student-teacher is paid into the wallet their own bookings draw on."""
    learner, peer = h.funded(100), h.register()
    lesson = h.requested(learner, [100], tutor=peer)
    h.feed(lesson)
    h.feed(h.settled(lesson))
    assert h.wallet(peer)["balance"] == 90
    own = h.requested(peer, [90])
    h.feed(own)
    assert isinstance(h.public_events()[-1], lc.EscrowHeld)
    assert h.wallet(peer)["available"] == 0
    h.assert_books_hold()


def test_a_badges_reward_is_paid_once_and_a_badge_without_one_pays_nothing(launch: Any) -> None:
    h = launch()
    tutor = h.register()
    badge = rep.BadgeAwarded(tutor_id=tutor, badge="hours_50", reward_credits=5, occurred_at=now())
    assert h.feed(badge) is True
    assert h.feed(rep.BadgeAwarded(tutor_id=tutor, badge="hours_50", reward_credits=5, occurred_at=now()))  # again
    assert h.feed(rep.BadgeAwarded(tutor_id=tutor, badge="hours_10", reward_credits=0, occurred_at=now()))
    assert h.wallet(tutor)["balance"] == 5  # once, and nothing for a badge without a reward
    granted = h.public_events()[-1]
    assert isinstance(granted, lc.CreditsGranted) and (granted.kind, granted.amount) == ("reward", 5)
    h.assert_books_hold()


def test_registration_opens_a_wallet_and_may_give_a_bonus(launch: Any) -> None:
    h = launch(ledger_signup_bonus=25)
    user = h.register()
    assert h.wallet(user)["balance"] == 25
    assert h.feed(idc.UserRegisteredV2(user_id=user, display_name="v1.abc", roles=["student"],
                                       occurred_at=now())) is True  # v2 of the same registration
    assert h.wallet(user)["balance"] == 25  # once per user
    granted = h.public_events()[-1]
    assert isinstance(granted, lc.CreditsGranted) and (granted.kind, granted.amount) == ("signup_bonus", 25)
    wallets = h.client.get(f"/v1/users/{user}/wallets", headers=ISSUER.headers(user, "student")).json()["items"]
    assert [(w["account_id"], w["currency"]) for w in wallets] == [(str(wallet_id(user, XAP)), XAP)]
    h.assert_books_hold()
