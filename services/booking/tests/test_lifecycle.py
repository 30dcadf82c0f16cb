"""The booking lifecycle through the gateway, with the ledger's and the sessions' answers fed
as events and deadlines fired by moving the clock: the happy path and each unhappy one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from servicekit.testing import ISSUER

Booking = Any  # the harness in conftest.py
token = ISSUER.headers

#: Tuesday 7 January 2031, 10:00 in Berlin.
TUE_10 = datetime(2031, 1, 7, 9, 0, tzinfo=UTC)


def test_instant_book_is_held_confirmed_completed_and_settled_after_the_dispute_window(h: Booking) -> None:
    _tutor, listing = h.tutor(instant_book=True)
    student = uuid.uuid4()
    b = h.book(student, listing, TUE_10)
    assert b["status"] == "requested" and b["total"] == 12 and b["currency"] == "XAP"
    assert b["policy"]["tiers"] == [{"hours_before": 24, "refund": 10000}, {"hours_before": 2, "refund": 5000}]
    requested = h.public_events(b["booking_id"])[0]
    assert type(requested).__name__ == "BookingRequested" and requested.respond_by is None
    # hold_until = last end + dispute window (48 h) + grace (96 h): booking settles before the ledger's deadline.
    assert requested.hold_until == TUE_10 + timedelta(hours=1 + 48 + 96)
    assert requested.occurrences[0].price == 12 and requested.policy.dispute_window_hours == 48

    h.held(b["booking_id"])
    assert h.get(b["booking_id"], student)["status"] == "confirmed"
    # Reminders 24 h, 2 h and 15 min before; moving time fires them.
    h.fire(TUE_10 - timedelta(minutes=15))
    reminders = [e for e in h.public_events(b["booking_id"]) if type(e).__name__ == "BookingReminderDue"]
    assert sorted(e.minutes_before for e in reminders) == [15, 120, 1440]

    h.fire(TUE_10 + timedelta(hours=1, minutes=5))
    h.completed(b["booking_id"])
    assert h.get(b["booking_id"])["occurrences"][0]["status"] == "completed"
    h.fire(TUE_10 + timedelta(hours=2, minutes=5))  # the follow-up, an hour after
    assert "BookingFollowUpDue" in h.names(b["booking_id"])
    h.fire(TUE_10 + timedelta(hours=48))  # the window has not closed yet
    assert "BookingSettled" not in h.names(b["booking_id"])
    h.fire(TUE_10 + timedelta(hours=49))
    settled = [e for e in h.public_events(b["booking_id"]) if type(e).__name__ == "BookingSettled"]
    assert [(s.occurrence, s.refund, s.outcome) for s in settled] == [(0, 0, "completed")]
    assert h.get(b["booking_id"])["status"] == "closed"
    assert h.names(b["booking_id"]) == ["BookingRequested", "BookingConfirmed", *["BookingReminderDue"] * 3,
                                        "BookingCompleted", "BookingFollowUpDue", "BookingSettled"]
    # A reminder already due when a booking is confirmed is not sent late.
    late = h.book(uuid.uuid4(), listing, datetime(2031, 1, 9, 14, 0, tzinfo=UTC))
    h.held(late["booking_id"])
    h.fire()
    assert "BookingReminderDue" not in h.names(late["booking_id"])


def test_a_request_waits_for_the_tutor_who_accepts_or_declines_before_respond_by(h: Booking) -> None:
    tutor, listing = h.tutor()
    student = uuid.uuid4()
    b = h.book(student, listing, TUE_10, note="Exam on Friday: kinematics please.")
    assert b["respond_by"] is not None and b["instant_book"] is False
    # The tutor may accept before the ledger answered; confirmed once the credits are held.
    r = h.client.post(f"/v1/bookings/{b['booking_id']}/accept", headers=token(tutor, "tutor"))
    assert r.status_code == 200 and r.json()["status"] == "requested", r.text
    h.held(b["booking_id"])
    assert h.get(b["booking_id"])["status"] == "confirmed"
    assert h.get(b["booking_id"], tutor)["note"] == "Exam on Friday: kinematics please."

    declined = h.book(uuid.uuid4(), listing, TUE_10 + timedelta(hours=2))
    h.held(declined["booking_id"])
    assert h.get(declined["booking_id"])["status"] == "awaiting_tutor"
    # Only this booking's tutor answers it.
    assert h.client.post(f"/v1/bookings/{declined['booking_id']}/decline", json={"reason_code": "not_a_fit"},
                         headers=token(uuid.uuid4(), "tutor")).status_code == 403
    r = h.client.post(f"/v1/bookings/{declined['booking_id']}/decline",
                      json={"reason_code": "not_a_fit", "note": "Outside my subject, sorry."},
                      headers=token(tutor, "tutor"))
    assert r.status_code == 200 and r.json()["status"] == "declined", r.text
    assert r.json()["notes"][0]["text"] == "Outside my subject, sorry."
    settled = h.public_events(declined["booking_id"])[-1]
    assert (type(settled).__name__, settled.refund, settled.outcome) == ("BookingSettled", 10000, "declined")
    # The time is free again.
    h.book(uuid.uuid4(), listing, TUE_10 + timedelta(hours=2))


def test_a_request_nobody_answers_expires_at_respond_by_and_is_refunded(h: Booking) -> None:
    tutor, listing = h.tutor()
    b = h.book(uuid.uuid4(), listing, TUE_10 + timedelta(days=3))
    h.held(b["booking_id"])
    respond_by = datetime.fromisoformat(b["respond_by"])
    assert respond_by == h.clock() + timedelta(hours=24)
    h.fire(respond_by - timedelta(minutes=1))
    assert h.get(b["booking_id"])["status"] == "awaiting_tutor"
    h.fire(respond_by)
    assert h.get(b["booking_id"])["status"] == "expired"
    assert h.names(b["booking_id"])[-2:] == ["BookingExpired", "BookingSettled"]
    assert h.public_events(b["booking_id"])[-1].outcome == "expired"
    late = h.client.post(f"/v1/bookings/{b['booking_id']}/accept", headers=token(tutor, "tutor"))
    assert late.status_code == 409


def test_a_hold_the_ledger_refuses_fails_the_booking_and_frees_the_time(h: Booking) -> None:
    _, listing = h.tutor(instant_book=True)
    b = h.book(uuid.uuid4(), listing, TUE_10)
    h.rejected(b["booking_id"])
    assert h.get(b["booking_id"])["status"] == "failed"
    failed = h.public_events(b["booking_id"])[-1]
    assert type(failed).__name__ == "BookingFailed" and failed.reason_code == "insufficient_funds"
    assert "BookingSettled" not in h.names(b["booking_id"])  # nothing was held
    h.book(uuid.uuid4(), listing, TUE_10)


def test_no_answer_from_the_ledger_fails_the_request_and_a_late_hold_is_given_back(h: Booking) -> None:
    _, listing = h.tutor(instant_book=True)
    b = h.book(uuid.uuid4(), listing, TUE_10)
    h.fire(h.clock() + timedelta(minutes=31))
    assert h.get(b["booking_id"])["status"] == "failed"
    h.held(b["booking_id"])  # the ledger, late
    assert h.get(b["booking_id"])["status"] == "failed"
    last = h.public_events(b["booking_id"])[-1]
    assert (type(last).__name__, last.refund) == ("BookingSettled", 10000)


def test_a_late_cancellation_by_the_learner_refunds_what_the_policy_gives(h: Booking) -> None:
    _, listing = h.tutor(instant_book=True)
    student = uuid.uuid4()
    b = h.book(student, listing, TUE_10)
    h.held(b["booking_id"])
    h.clock.now = TUE_10 - timedelta(hours=10)  # between 24 h and 2 h before: half back
    bare = h.client.post(f"/v1/bookings/{b['booking_id']}/cancel", json={"reason_code": "illness"},
                         headers=token(student, "student"))
    assert bare.status_code == 422 and bare.json()["errors"][0]["field"] == "note"  # a reason has words too
    r = h.client.post(f"/v1/bookings/{b['booking_id']}/cancel", json={"reason_code": "illness", "note": "Flu."},
                      headers=token(student, "student"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    cancelled, settled = h.public_events(b["booking_id"])[-2:]
    assert (cancelled.cancelled_by, cancelled.refund, cancelled.reason_code) == ("student", 5000, "illness")
    assert (settled.refund, settled.outcome) == (5000, "cancelled_by_student")
    # Another user cannot cancel it, and nothing is left to cancel.
    other = h.client.post(f"/v1/bookings/{b['booking_id']}/cancel", json={"reason_code": "other", "note": "x"},
                          headers=token(uuid.uuid4(), "student"))
    assert other.status_code == 403


def test_a_tutors_cancellation_refunds_in_full_and_counts_against_the_tutor(h: Booking) -> None:
    tutor, listing = h.tutor(instant_book=True)
    b = h.book(uuid.uuid4(), listing, TUE_10)
    h.held(b["booking_id"])
    h.clock.now = TUE_10 - timedelta(hours=1)  # inside every tier: a learner would get nothing back
    r = h.client.post(f"/v1/bookings/{b['booking_id']}/cancel",
                      json={"reason_code": "tutor_unavailable", "note": "Called in to a lab."},
                      headers=token(tutor, "tutor"))
    assert r.status_code == 200, r.text
    cancelled, settled = h.public_events(b["booking_id"])[-2:]
    assert (cancelled.cancelled_by, cancelled.refund, cancelled.tutor_cancellations) == ("tutor", 10000, 1)
    assert (settled.refund, settled.outcome) == (10000, "cancelled_by_tutor")
    staff = token(uuid.uuid4(), "staff")
    assert h.client.get(f"/v1/tutors/{tutor}/reliability", headers=staff).json()["tutor_cancellations"] == 1
    assert h.client.get(f"/v1/tutors/{tutor}/reliability", headers=token(uuid.uuid4(), "student")).status_code == 403


def test_staff_cancel_with_a_reason_and_a_full_refund(h: Booking) -> None:
    _, listing = h.tutor(instant_book=True)
    b = h.book(uuid.uuid4(), listing, TUE_10)
    h.held(b["booking_id"])
    r = h.client.post(f"/v1/bookings/{b['booking_id']}/cancel",
                      json={"reason_code": "policy_violation", "note": "Booked to harass the tutor."},
                      headers=token(uuid.uuid4(), "staff"))
    assert r.status_code == 200, r.text
    assert r.json()["notes"][-1] == {"at": r.json()["notes"][-1]["at"], "by": "staff",
                                     "text": "Booked to harass the tutor."}
    assert h.public_events(b["booking_id"])[-1].outcome == "cancelled_by_staff"


def test_a_dispute_holds_the_settlement_until_staff_decide_a_partial_refund(h: Booking) -> None:
    _tutor, listing = h.tutor(instant_book=True)
    student = uuid.uuid4()
    b = h.book(student, listing, TUE_10)
    h.held(b["booking_id"])
    early = h.client.post(f"/v1/bookings/{b['booking_id']}/disputes",
                          json={"occurrence": 0, "reason_code": "quality", "statement": "x"},
                          headers=token(student, "student"))
    assert early.status_code == 409  # not ended yet
    h.fire(TUE_10 + timedelta(hours=3))
    h.completed(b["booking_id"])
    r = h.client.post(f"/v1/bookings/{b['booking_id']}/disputes",
                      json={"occurrence": 0, "reason_code": "ended_early",
                            "statement": "We stopped after 25 minutes.", "evidence": ["media:recording-17"]},
                      headers=token(student, "student"))
    assert r.status_code == 201, r.text
    dispute_id = r.json()["dispute_id"]
    h.fire(TUE_10 + timedelta(hours=50))  # the window closed, but a dispute is open: no settlement
    assert "BookingSettled" not in h.names(b["booking_id"])
    staff = token(uuid.uuid4(), "staff")
    queue = h.client.get("/v1/disputes", headers=staff).json()
    assert [d["dispute_id"] for d in queue["items"]] == [dispute_id]
    assert h.client.get("/v1/disputes", headers=token(student, "student")).status_code == 403
    decided = h.client.post(f"/v1/bookings/{b['booking_id']}/disputes/{dispute_id}/decision",
                            json={"refund": 5000, "note": "Half the session took place."}, headers=staff)
    assert decided.status_code == 200, decided.text
    assert decided.json()["disputes"][0]["decision"] == "Half the session took place."
    resolved, settled = h.public_events(b["booking_id"])[-2:]
    assert (type(resolved).__name__, resolved.decided_by, resolved.refund) == ("DisputeResolved", "staff", 5000)
    assert (settled.refund, settled.outcome) == (5000, "dispute_resolved")
    assert h.client.get("/v1/disputes", headers=staff).json()["items"] == []


def test_a_confirmed_tutor_no_show_is_refunded_in_full_by_rule(h: Booking) -> None:
    from alphapeer_contracts import sessions as ses

    _, listing = h.tutor(instant_book=True)
    student = uuid.uuid4()
    b = h.book(student, listing, TUE_10)
    h.held(b["booking_id"])
    h.clock.now = TUE_10 + timedelta(hours=1)
    h.feed(ses.SessionNoShow(booking_id=uuid.UUID(b["booking_id"]), occurrence=0, absent="tutor",
                             occurred_at=h.clock()))
    r = h.client.post(f"/v1/bookings/{b['booking_id']}/disputes",
                      json={"occurrence": 0, "reason_code": "tutor_absent", "statement": "Nobody came."},
                      headers=token(student, "student"))
    assert r.status_code == 201, r.text
    names = h.names(b["booking_id"])
    assert names[-4:] == ["NoShowRecorded", "DisputeOpened", "DisputeResolved", "BookingSettled"]
    resolved, settled = h.public_events(b["booking_id"])[-2:]
    assert (resolved.decided_by, resolved.refund, settled.refund) == ("rule", 10000, 10000)


def test_a_student_no_show_from_sessions_is_settled_by_the_policy_the_tutor_paid(h: Booking) -> None:
    from alphapeer_contracts import sessions as ses

    _, listing = h.tutor(instant_book=True)
    b = h.book(uuid.uuid4(), listing, TUE_10)
    h.held(b["booking_id"])
    h.clock.now = TUE_10 + timedelta(minutes=15)
    assert h.feed(ses.SessionNoShow(booking_id=uuid.UUID(b["booking_id"]), occurrence=0, absent="student",
                                    occurred_at=h.clock()))
    assert h.get(b["booking_id"])["occurrences"][0]["absent"] == "student"
    h.fire(TUE_10 + timedelta(hours=1, minutes=1) + timedelta(hours=48))  # the dispute window closes
    settled = h.public_events(b["booking_id"])[-1]
    assert (type(settled).__name__, settled.refund, settled.outcome) == ("BookingSettled", 0, "student_no_show")


def test_an_undecided_dispute_gets_the_default_at_its_deadline(h: Booking) -> None:
    tutor, listing = h.tutor(instant_book=True)
    b = h.book(uuid.uuid4(), listing, TUE_10)
    h.held(b["booking_id"])
    h.clock.now = TUE_10 + timedelta(hours=2)
    r = h.client.post(f"/v1/bookings/{b['booking_id']}/disputes",
                      json={"occurrence": 0, "reason_code": "student_absent", "statement": "They never joined."},
                      headers=token(tutor, "tutor"))
    assert r.status_code == 201, r.text
    h.fire(TUE_10 + timedelta(hours=2 + 48))
    settled = h.public_events(b["booking_id"])[-1]
    assert (settled.refund, settled.outcome) == (5000, "dispute_resolved")


def test_a_suspended_tutor_cannot_be_booked_and_their_bookings_are_cancelled_and_refunded(h: Booking) -> None:
    tutor, listing = h.tutor(instant_book=True)
    confirmed = h.book(uuid.uuid4(), listing, TUE_10)
    h.held(confirmed["booking_id"])
    pending = h.book(uuid.uuid4(), listing, TUE_10 + timedelta(days=1))
    h.suspend(tutor)
    for b in (confirmed, pending):
        assert h.get(b["booking_id"])["status"] == "cancelled"
    cancelled, settled = h.public_events(confirmed["booking_id"])[-2:]
    assert (cancelled.cancelled_by, cancelled.reason_code, cancelled.refund) == ("system", "suspended", 10000)
    assert (settled.refund, settled.outcome) == (10000, "suspended")
    assert h.names(pending["booking_id"])[-1] == "BookingCancelled"  # nothing held yet: nothing to settle
    h.held(pending["booking_id"])  # the hold arrives after: given back at once
    late = h.public_events(pending["booking_id"])[-1]
    assert (late.refund, late.outcome) == (10000, "suspended")
    refused = h.book(uuid.uuid4(), listing, TUE_10 + timedelta(days=2), expect=403)
    assert "suspended" in refused["detail"]
    slots = h.client.get(f"/v1/tutors/{tutor}/slots?minutes=60", headers=token(uuid.uuid4(), "student")).json()
    assert slots["slots"] == []


def test_the_ledgers_safety_net_fails_a_booking_whose_hold_expired(h: Booking) -> None:
    from alphapeer_contracts import ledger as led

    _, listing = h.tutor()
    b = h.book(uuid.uuid4(), listing, TUE_10)
    h.held(b["booking_id"])
    h.feed(led.EscrowRefunded(booking_id=uuid.UUID(b["booking_id"]), occurrence=0, payer_id=uuid.uuid4(),
                              currency="XAP", amount=12, reason_code="hold_expired", occurred_at=h.clock()))
    assert h.get(b["booking_id"])["status"] == "failed"
    failed = h.public_events(b["booking_id"])[-1]
    assert (type(failed).__name__, failed.reason_code) == ("BookingFailed", "hold_expired")


def test_a_move_is_proposed_by_one_side_and_agreed_by_the_other(h: Booking) -> None:
    tutor, listing = h.tutor(instant_book=True)
    student = uuid.uuid4()
    b = h.book(student, listing, TUE_10 + timedelta(days=2))
    h.held(b["booking_id"])
    later = (TUE_10 + timedelta(days=3)).isoformat()
    r = h.client.post(f"/v1/bookings/{b['booking_id']}/occurrences/0/move", json={"starts_at": later},
                      headers=token(student, "student"))
    assert r.status_code == 200 and r.json()["occurrences"][0]["proposal"]["by"] == "student", r.text
    assert h.client.post(f"/v1/bookings/{b['booking_id']}/occurrences/0/move/accept",
                         headers=token(student, "student")).status_code == 403  # the other side agrees
    r = h.client.post(f"/v1/bookings/{b['booking_id']}/occurrences/0/move/accept", headers=token(tutor, "tutor"))
    assert r.status_code == 200, r.text
    assert r.json()["occurrences"][0]["starts_at"].startswith("2031-01-10T09:00")
    moved = h.public_events(b["booking_id"])[-1]
    assert type(moved).__name__ == "BookingRescheduled" and moved.hold_until > datetime.fromisoformat(b["hold_until"])
    # The old time is free, the new one taken.
    h.book(uuid.uuid4(), listing, TUE_10 + timedelta(days=2))
    h.book(uuid.uuid4(), listing, TUE_10 + timedelta(days=3), expect=409)


def test_trials_packages_groups_and_weekly_series(h: Booking) -> None:
    _tutor, listing = h.tutor(instant_book=True, group_capacity=2, trial={"minutes": 30, "free": True})
    student = uuid.uuid4()
    trial = h.book(student, listing, TUE_10, kind="trial", minutes=30)
    assert trial["total"] == 0
    again = h.book(student, listing, TUE_10 + timedelta(days=1), kind="trial", minutes=30, expect=422)
    assert again["errors"][0]["field"] == "kind"
    # A package: several sessions, each priced (45 min is not offered; 30 min at 12/h is 6).
    pack = h.book(student, listing, TUE_10 + timedelta(days=2), TUE_10 + timedelta(days=3), kind="package",
                  minutes=30)
    assert [o["price"] for o in pack["occurrences"]] == [6, 6] and pack["total"] == 12
    # Group: two seats in the same session, a third is refused.
    group = TUE_10 + timedelta(days=7)
    first = h.book(uuid.uuid4(), listing, group, kind="group")
    second = h.book(uuid.uuid4(), listing, group, kind="group")
    assert first["group_id"] == second["group_id"]
    h.book(uuid.uuid4(), listing, group, kind="group", expect=409)
    h.book(uuid.uuid4(), listing, group, expect=409)  # and no one-to-one session over it
    # Weekly: four Tuesdays at 10:00 Berlin.
    series = h.book(uuid.uuid4(), listing, TUE_10 + timedelta(days=14), kind="recurring", weeks=4)
    assert [o["starts_at"][:16] for o in series["occurrences"]] == [
        "2031-01-21T09:00", "2031-01-28T09:00", "2031-02-04T09:00", "2031-02-11T09:00"]


def test_a_student_teacher_is_booked_as_tutor_and_books_as_student_and_their_time_is_one(h: Booking) -> None:
    peer, peer_listing = h.tutor(instant_book=True)
    _other, other_listing = h.tutor(instant_book=True)
    # The peer tutor books a session with another tutor as a learner...
    h.book(peer, other_listing, TUE_10)
    # ...so nobody can book the peer at that hour,
    taken = h.book(uuid.uuid4(), peer_listing, TUE_10, expect=409)
    assert taken["errors"][0]["field"] == "starts_at"
    # and nobody books themselves.
    own = h.book(peer, peer_listing, TUE_10 + timedelta(days=1), expect=422)
    assert own["errors"][0]["field"] == "listing_id"


def test_a_promotion_lowers_the_price_and_quotes_show_price_and_policy(h: Booking) -> None:
    tutor, listing = h.tutor(instant_book=True)
    h.promotion(listing, tutor, "EXAM-WEEK", percent_off=25)
    student = uuid.uuid4()
    body = {"listing_id": str(listing), "minutes": 60, "starts_at": [TUE_10.isoformat()],
            "promotion_code": "exam-week"}
    q = h.client.post("/v1/quotes", json=body, headers=token(student, "student"))
    assert q.status_code == 200, q.text
    assert (q.json()["gross"], q.json()["discount"], q.json()["total"]) == (12, 3, 9)
    assert q.json()["policy"]["tiers"][0] == {"hours_before": 24, "refund": 10000}
    b = h.book(student, listing, TUE_10, promotion_code="EXAM-WEEK")
    assert (b["total"], b["discount"]) == (9, 3)
    second = h.book(student, listing, TUE_10 + timedelta(days=1), promotion_code="EXAM-WEEK", expect=422)
    assert "already used" in second["errors"][0]["reason"]


def test_an_erased_users_words_are_unreadable_and_their_bookings_cancelled(h: Booking) -> None:
    from alphapeer_contracts import identity as idc

    _, listing = h.tutor(instant_book=True)
    student = uuid.uuid4()
    b = h.book(student, listing, TUE_10 + timedelta(days=1), note="My phone is 0123 456 789.")
    h.held(b["booking_id"])
    assert h.get(b["booking_id"])["note"] == "My phone is 0123 456 789."
    h.feed(idc.UserErased(user_id=student, occurred_at=h.clock()))
    after = h.get(b["booking_id"])
    assert after["note"] is None and after["status"] == "cancelled"
    cancelled, settled = h.public_events(b["booking_id"])[-2:]
    assert (cancelled.cancelled_by, cancelled.refund, settled.outcome) == ("system", 10000, "suspended")


def test_an_erased_tutors_place_is_gone_from_answers_feeds_and_the_database(h: Booking, postgres_url: str) -> None:
    """Where a tutor meets students is their words (a room, or their own address): sealed
    under their key in availability and in every in-person booking, so erasure unsays it
    everywhere booking keeps it."""
    from alphapeer_contracts import identity as idc
    from servicekit.testing import scan_database

    place = f"Flat 4, {uuid.uuid4().hex[:8]} Quiet Lane"
    tutor, listing = h.tutor(instant_book=True, place=place)
    assert h.availability(tutor, place=place, instant_book=True)["place"] == place  # unchanged: kept as it was
    student = uuid.uuid4()
    b = h.book(student, listing, TUE_10 + timedelta(days=1), mode="in_person")
    h.held(b["booking_id"])
    assert h.get(b["booking_id"])["place"] == place
    assert scan_database(postgres_url, [place]) == []  # sealed from the start
    h.feed(idc.UserErased(user_id=tutor, occurred_at=h.clock()))
    after = h.get(b["booking_id"])
    assert (after["place"], after["status"]) == (None, "cancelled")
    shown = h.client.get(f"/v1/tutors/{tutor}/availability", headers=h.token(student, "student"))
    assert shown.status_code == 200 and shown.json()["place"] is None
