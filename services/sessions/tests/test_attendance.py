"""Sessions made from booking's confirmations, in-person check-in, and how attendance decides
each seat: completed with the minutes taught, or a no-show naming the absent side."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from alphapeer_contracts import booking as bkc
from alphapeer_contracts import sessions as ses

#: The harness's sessions start here (conftest.START); its clock starts two hours before.
START = datetime(2031, 1, 6, 10, 0, tzinfo=UTC)
Sessions = Any  # conftest.Sessions: the running service, its clock, feed and deadlines


def test_a_confirmed_booking_makes_one_session_per_occurrence_seen_by_its_participants_only(h: Sessions) -> None:
    booking = h.confirmed(occurrences=2)
    assert h.feed(booking, position=1) is False  # redelivered: nothing new
    first, second = h.session_id(booking, 0), h.session_id(booking, 1)
    doc = h.get(first, booking.student_id)
    assert doc["your_role"] == "student" and doc["status"] == "scheduled" and doc["mode"] == "online"
    assert doc["seats"] == [{"student_id": str(booking.student_id), "booking_id": str(booking.booking_id),
                             "status": "booked", "outcome": None}]
    assert h.get(second, booking.tutor_id, "tutor")["starts_at"].startswith("2031-01-13T10:00")
    stranger = h.client.get(f"/v1/sessions/{first}", headers=h.token(uuid.uuid4()))
    assert stranger.status_code == 404 and stranger.headers["content-type"] == "application/problem+json"
    assert h.client.get(f"/v1/sessions/{first}", headers=h.token(uuid.uuid4(), "staff")).status_code == 404
    mine = h.client.get("/v1/sessions", headers=h.token(booking.student_id)).json()["sessions"]
    assert [s["session_id"] for s in mine] == [str(first), str(second)]
    scheduled = [e for e in h.public_events() if isinstance(e, ses.SessionScheduled)]
    assert [(e.session_id, e.booking_id) for e in scheduled] == [(first, booking.booking_id),
                                                                  (second, booking.booking_id)]


def test_a_group_shares_one_session_with_a_seat_per_booking(h: Sessions) -> None:
    group, tutor = uuid.uuid4(), uuid.uuid4()
    a = h.confirmed(group_id=group, tutor=tutor, mode="in_person")
    b = h.confirmed(group_id=group, tutor=tutor, mode="in_person")
    sid = h.session_id(a)
    assert sid == h.session_id(b)
    doc = h.get(sid, tutor, "tutor")
    assert {s["booking_id"] for s in doc["seats"]} == {str(a.booking_id), str(b.booking_id)}
    # One student cancels: their seat goes, the session stays for the other.
    assert h.feed(bkc.BookingCancelled(booking_id=b.booking_id, tutor_id=tutor, student_id=b.student_id,
                                       cancelled_by="student", reason_code="illness", occurrences=[0], refund=10000,
                                       occurred_at=h.clock()))
    doc = h.get(sid, tutor, "tutor")
    assert doc["status"] == "scheduled" and [s["status"] for s in doc["seats"] if
                                             s["student_id"] == str(b.student_id)] == ["cancelled"]
    assert h.client.get(f"/v1/sessions/{sid}", headers=h.token(b.student_id)).status_code == 404


def _code(h: Sessions, sid: uuid.UUID, tutor: uuid.UUID) -> str:
    r = h.client.get(f"/v1/sessions/{sid}/check-in-code", headers=h.token(tutor, "tutor"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["qr_payload"] == f"alphapeer:check-in:{sid}:{body['code']}"
    return str(body["code"])


def test_in_person_check_in_with_the_tutors_code_completes_with_the_minutes_taught(h: Sessions) -> None:
    booking = h.confirmed(mode="in_person")
    sid, tutor, student = h.session_id(booking), booking.tutor_id, booking.student_id
    code = _code(h, sid, tutor)
    assert h.client.get(f"/v1/sessions/{sid}/check-in-code", headers=h.token(student)).status_code == 403
    too_early = h.client.post(f"/v1/sessions/{sid}/check-in", json={"code": code}, headers=h.token(student))
    assert too_early.status_code == 409 and "opens 15 minutes before" in too_early.json()["detail"]
    h.at(START - timedelta(minutes=5))
    assert h.client.post(f"/v1/sessions/{sid}/check-in", json={}, headers=h.token(tutor, "tutor")).status_code == 200
    no_code = h.client.post(f"/v1/sessions/{sid}/check-in", json={}, headers=h.token(student))
    assert no_code.status_code == 422 and no_code.json()["errors"][0]["field"] == "code"
    h.at(START + timedelta(minutes=10))
    r = h.client.post(f"/v1/sessions/{sid}/check-in", json={"code": f"alphapeer:check-in:{sid}:{code}"},
                      headers=h.token(student))
    assert r.status_code == 200, r.text
    h.fire(START + timedelta(minutes=60))  # the end: 50 of 60 minutes together
    [done] = h.outcomes()
    assert isinstance(done, ses.SessionCompleted)
    assert (done.booking_id, done.minutes_taught, done.decided_by) == (booking.booking_id, 50, "attendance")
    assert done.started_at == START + timedelta(minutes=10) and done.ended_at == START + timedelta(minutes=60)
    assert h.get(sid, student)["status"] == "over"
    h.fire(START + timedelta(days=2))  # the closing deadline decides nothing more
    assert len(h.outcomes()) == 1


def test_wrong_codes_are_refused_and_five_of_them_lock_the_student_out(h: Sessions) -> None:
    booking = h.confirmed(mode="in_person")
    sid = h.session_id(booking)
    code = _code(h, sid, booking.tutor_id)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    h.at(START)
    h.client.post(f"/v1/sessions/{sid}/check-in", json={}, headers=h.token(booking.tutor_id, "tutor"))
    malformed = h.client.post(f"/v1/sessions/{sid}/check-in", json={"code": "12ab"},
                              headers=h.token(booking.student_id))
    assert malformed.status_code == 422
    for _ in range(5):
        r = h.client.post(f"/v1/sessions/{sid}/check-in", json={"code": wrong}, headers=h.token(booking.student_id))
        assert r.status_code == 422 and r.json()["errors"][0] == {"field": "code",
                                                                  "reason": "does not match the code your tutor shows"}
    locked = h.client.post(f"/v1/sessions/{sid}/check-in", json={"code": code}, headers=h.token(booking.student_id))
    assert locked.status_code == 409 and "too many" in locked.json()["detail"]


def test_a_tutor_who_never_comes_is_the_no_show_while_the_student_waits(h: Sessions) -> None:
    booking = h.confirmed(mode="in_person")
    sid = h.session_id(booking)
    h.at(START + timedelta(minutes=2))
    waiting = h.client.post(f"/v1/sessions/{sid}/check-in", json={}, headers=h.token(booking.student_id))
    assert waiting.status_code == 200
    h.fire(START + timedelta(minutes=14))
    assert h.outcomes() == []  # inside the grace period
    h.fire(START + timedelta(minutes=15))
    [no_show] = h.outcomes()
    assert isinstance(no_show, ses.SessionNoShow) and no_show.absent == "tutor"
    assert no_show.booking_id == booking.booking_id and no_show.student_id == booking.student_id


def test_a_student_who_never_comes_is_the_no_show_and_nobody_at_all_is_both(h: Sessions) -> None:
    came = h.confirmed(mode="in_person")
    nobody = h.confirmed(mode="in_person")
    h.at(START)
    h.client.post(f"/v1/sessions/{h.session_id(came)}/check-in", json={}, headers=h.token(came.tutor_id, "tutor"))
    h.fire(START + timedelta(minutes=15))
    assert [(type(e).__name__, e.absent) for e in h.outcomes()] == [("SessionNoShow", "student")]
    h.fire(START + timedelta(minutes=60))
    assert [(e.booking_id, e.absent) for e in h.outcomes()][-1] == (nobody.booking_id, "both")


def test_both_sides_confirming_completes_a_session_and_a_short_one_closes_by_its_deadline(h: Sessions) -> None:
    confirmed, short = h.confirmed(), h.confirmed()
    sid, short_sid = h.session_id(confirmed), h.session_id(short)
    early = h.client.post(f"/v1/sessions/{sid}/confirm", headers=h.token(confirmed.tutor_id, "tutor"))
    assert early.status_code == 409  # before the start
    h.at(START + timedelta(minutes=40))
    assert h.client.post(f"/v1/sessions/{sid}/confirm", headers=h.token(confirmed.tutor_id, "tutor")).status_code == 200
    assert h.outcomes() == []  # one side is not both
    assert h.client.post(f"/v1/sessions/{sid}/confirm", headers=h.token(confirmed.student_id)).status_code == 200
    [done] = h.outcomes()
    assert (done.decided_by, done.minutes_taught) == ("confirmed", 40)  # no attendance data: the time so far

    # Both came for ten minutes of sixty: not enough at the end; the closing deadline decides.
    for user in (short.tutor_id, short.student_id):
        h.app.save(_present(h, short_sid, user, START, START + timedelta(minutes=10)))
    h.fire(START + timedelta(minutes=60))
    assert len(h.outcomes()) == 1
    h.fire(START + timedelta(minutes=60, hours=24))
    last = h.outcomes()[-1]
    assert (last.booking_id, last.decided_by, last.minutes_taught) == (short.booking_id, "deadline", 10)


def _present(h: Sessions, sid: uuid.UUID, user: uuid.UUID, since: object, until: object) -> object:
    from sessions.domain.session import Session

    s = h.app.load(Session, sid)
    s.arrive(user, since, "self")  # type: ignore[arg-type]
    s.leave(user, until)  # type: ignore[arg-type]
    return s


def test_a_cancelled_session_decides_nothing_and_a_move_moves_its_deadlines(h: Sessions) -> None:
    cancelled, moved = h.confirmed(), h.confirmed()
    h.feed(bkc.BookingCancelled(booking_id=cancelled.booking_id, tutor_id=cancelled.tutor_id,
                                student_id=cancelled.student_id, cancelled_by="tutor", reason_code="illness",
                                occurrences=[0], refund=10000, occurred_at=h.clock()))
    later = START + timedelta(days=1)
    h.feed(bkc.BookingRescheduled(booking_id=moved.booking_id, tutor_id=moved.tutor_id, student_id=moved.student_id,
                                  occurrence=0, starts_at=later, ends_at=later + timedelta(hours=1),
                                  previous_starts_at=START, hold_until=later + timedelta(days=5),
                                  occurred_at=h.clock()))
    h.fire(START + timedelta(hours=2))
    assert h.outcomes() == []
    assert h.get(h.session_id(cancelled), cancelled.tutor_id, "tutor")["status"] == "cancelled"
    assert h.get(h.session_id(moved), moved.tutor_id, "tutor")["starts_at"].startswith("2031-01-07T10:00")
    h.fire(later + timedelta(hours=1))
    assert [(e.booking_id, e.absent) for e in h.outcomes()] == [(moved.booking_id, "both")]
