"""Reviews: who may write them, the Bayesian rating and reliability they feed, edits, answers,
and what is held for staff (abusive words, reciprocal full marks, bursts from new accounts,
probation)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from alphapeer_contracts import booking as bkc
from alphapeer_contracts import identity as idc
from alphapeer_contracts import sessions as ses

Reputation = Any  # conftest.Reputation


def test_only_the_student_of_a_session_that_took_place_reviews_it_and_only_once(h: Reputation) -> None:
    tutor = uuid.uuid4()
    session, student = h.taught(tutor)
    other_session, _ = h.taught(tutor)
    h.review(other_session, student, expect=403)  # a session the reviewer did not attend
    h.review(uuid.uuid4(), student, expect=403)  # no such session
    r = h.client.post("/v1/reviews", json={"session_id": str(session), "ratings": {
        "on_time": 5, "explained_clearly": 5, "helped_understand": 5, "would_book_again": 5}},
        headers=h.token(tutor, "tutor"))
    assert r.status_code == 403  # the tutor does not review their own session
    written = h.review(session, student, {"on_time": 4, "explained_clearly": 5, "helped_understand": 3,
                                          "would_book_again": 4}, text="Clear on the chain rule.")
    assert (written["overall"], written["status"]) == (4.0, "published")
    assert written["text"] == "Clear on the chain rule."
    h.review(session, student, expect=409)
    bad = h.client.post("/v1/reviews", json={"session_id": str(session), "ratings": {"on_time": 6}},
                        headers=h.token(student))
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} >= {"ratings.on_time"}


def test_a_few_reviews_cannot_swing_the_rating_and_reliability_counts_no_shows_and_cancellations(h: Reputation) -> None:
    newcomer, veteran = uuid.uuid4(), uuid.uuid4()
    session, student = h.taught(newcomer)
    h.review(session, student, 5)
    s = h.standing(newcomer)
    assert (s["rating"], s["rating_count"]) == (round((5 * 4.0 + 5) / 6, 3), 1)  # one 5★ moves 4.0 to 4.167
    for _ in range(20):
        sess, stu = h.taught(veteran)
        h.review(sess, stu, 5)
    assert h.standing(veteran)["rating"] == round((20 + 100) / 25, 3)  # 4.8: many reviews, near their mean
    # A no-show (from sessions, then the same one from booking) counts once; a tutor's cancellation too.
    booking = uuid.uuid4()
    h.feed(ses.SessionNoShow(booking_id=booking, occurrence=0, absent="tutor", tutor_id=newcomer,
                             student_id=student, session_id=uuid.uuid4(), occurred_at=h.clock()))
    h.feed(bkc.NoShowRecorded(booking_id=booking, tutor_id=newcomer, student_id=student, occurrence=0,
                              absent="tutor", occurred_at=h.clock()))
    h.feed(bkc.BookingCancelled(booking_id=uuid.uuid4(), tutor_id=newcomer, student_id=student, cancelled_by="tutor",
                                reason_code="illness", occurrences=[0], refund=10000, occurred_at=h.clock()))
    s = h.standing(newcomer)
    assert (s["sessions_completed"], s["sessions_missed"], s["cancellations"]) == (1, 1, 1)
    assert s["reliability"] == round((1 + 5 * 0.9) / (3 + 5), 3)
    [*_, last] = h.public_events("TutorReputationChanged")
    assert last.tutor_id == newcomer and last.sessions_missed == 1 and last.rating == s["rating"]
    versions = [e.standing_version for e in h.public_events("TutorReputationChanged") if e.tutor_id == newcomer]
    assert versions == list(range(1, len(versions) + 1))


def test_a_review_is_edited_for_a_day_and_answered_once(h: Reputation) -> None:
    tutor = uuid.uuid4()
    session, student = h.taught(tutor)
    r = h.review(session, student, 2, text="Late and rushed.")
    edit = {"ratings": {"on_time": 4, "explained_clearly": 4, "helped_understand": 4, "would_book_again": 4},
            "text": "Late, but it helped."}
    assert h.client.put(f"/v1/reviews/{r['review_id']}", json=edit, headers=h.token(uuid.uuid4())).status_code == 403
    edited = h.client.put(f"/v1/reviews/{r['review_id']}", json=edit, headers=h.token(student))
    assert edited.status_code == 200 and edited.json()["overall"] == 4.0
    assert h.standing(tutor)["rating_count"] == 1 and h.standing(tutor)["rating"] == round((20 + 4) / 6, 3)
    h.clock.now += timedelta(hours=25)
    assert h.client.put(f"/v1/reviews/{r['review_id']}", json=edit, headers=h.token(student)).status_code == 409
    answer = {"text": "Sorry about the start: my bus was late."}
    assert h.client.post(f"/v1/reviews/{r['review_id']}/response", json=answer,
                         headers=h.token(student)).status_code == 403
    ok = h.client.post(f"/v1/reviews/{r['review_id']}/response", json=answer, headers=h.token(tutor, "tutor"))
    assert ok.status_code == 200 and ok.json()["response"] == answer["text"]
    assert h.client.post(f"/v1/reviews/{r['review_id']}/response", json=answer,
                         headers=h.token(tutor, "tutor")).status_code == 409
    listed = h.client.get(f"/v1/tutors/{tutor}/reviews", headers=h.token(uuid.uuid4())).json()
    assert listed["total"] == 1 and listed["items"][0]["text"] == "Late, but it helped."


def test_abusive_text_is_held_for_staff_and_counts_only_once_let_through(h: Reputation) -> None:
    tutor = uuid.uuid4()
    session, student = h.taught(tutor)
    held = h.review(session, student, 3, text="You are an idiot.")
    assert held["status"] == "held" and h.standing(tutor)["rating_count"] == 0
    stranger = h.client.get(f"/v1/reviews/{held['review_id']}", headers=h.token(uuid.uuid4()))
    assert stranger.status_code == 404
    staff = h.token(uuid.uuid4(), "staff")
    items = h.client.get("/v1/staff/queue", headers=staff).json()["items"]
    assert [(i["review_id"], i["reason"]) for i in items] == [(held["review_id"], "abusive")]
    assert h.client.get("/v1/staff/queue", headers=h.token(student)).status_code == 403
    r = h.client.post(f"/v1/reviews/{held['review_id']}/moderation", json={"action": "publish", "reason_code": "fine"},
                      headers=staff)
    assert r.status_code == 200 and r.json()["status"] == "published"
    assert h.standing(tutor)["rating_count"] == 1
    assert h.client.get("/v1/staff/queue", headers=staff).json()["items"] == []
    removed = h.client.post(f"/v1/reviews/{held['review_id']}/moderation",
                            json={"action": "remove", "reason_code": "abusive"}, headers=staff)
    assert removed.json()["status"] == "removed" and h.standing(tutor)["rating_count"] == 0
    assert [e.reason_code for e in h.public_events("ReviewRemoved")] == ["abusive"]


def test_peers_giving_each_other_full_marks_are_held_for_staff(h: Reputation) -> None:
    ann, bob = uuid.uuid4(), uuid.uuid4()
    s1, _ = h.taught(ann, student=bob)  # Ann tutors Bob
    s2, _ = h.taught(bob, student=ann)  # and Bob tutors Ann
    first = h.review(s1, bob, 5)
    assert first["status"] == "published" and h.standing(ann)["rating_count"] == 1
    second = h.review(s2, ann, 5)
    assert second["status"] == "held"
    assert h.standing(ann)["rating_count"] == 0 and h.standing(bob)["rating_count"] == 0  # neither counts now
    queue = h.client.get("/v1/staff/queue", headers=h.token(uuid.uuid4(), "staff")).json()["items"]
    assert {(i["review_id"], i["reason"]) for i in queue} == {(first["review_id"], "reciprocal_five_stars"),
                                                               (second["review_id"], "reciprocal_five_stars")}


def test_a_burst_of_reviews_from_new_accounts_is_held(h: Reputation) -> None:
    tutor = uuid.uuid4()
    statuses = []
    for _ in range(4):
        session, student = h.taught(tutor)
        h.feed(idc.UserRegistered(user_id=student, display_name="New", roles=["student"], occurred_at=h.clock()))
        statuses.append(h.review(session, student, 5)["status"])
    assert statuses == ["published", "published", "held", "held"]
    old_session, old_student = h.taught(tutor)
    h.feed(idc.UserRegistered(user_id=old_student, display_name="Old", roles=["student"],
                              occurred_at=h.clock() - timedelta(days=30)))
    assert h.review(old_session, old_student, 5)["status"] == "published"


def test_a_new_tutor_on_probation_goes_to_staff_after_a_low_rating_or_a_no_show(launch: Any) -> None:
    h = launch(reputation_probation_sessions=2)
    tutor = uuid.uuid4()
    session, student = h.taught(tutor)
    assert h.standing(tutor)["on_probation"] is True
    h.review(session, student, 1)
    h.feed(ses.SessionNoShow(booking_id=uuid.uuid4(), occurrence=0, absent="tutor", tutor_id=tutor,
                             occurred_at=h.clock()))
    staff = h.token(uuid.uuid4(), "staff")
    items = h.client.get("/v1/staff/queue", headers=staff).json()["items"]
    assert sorted(i["reason"] for i in items) == ["probation_low_rating", "probation_no_show"]
    flag = next(i for i in items if i["reason"] == "probation_no_show")
    r = h.client.post(f"/v1/staff/tutors/{tutor}/flags/{flag['item_id']}/resolve", json={"note_code": "warned"},
                      headers=staff)
    assert r.status_code == 200
    assert [i["reason"] for i in h.client.get("/v1/staff/queue", headers=staff).json()["items"]] == \
        ["probation_low_rating"]
    h.taught(tutor)
    assert h.standing(tutor)["on_probation"] is False
    another, stu = h.taught(tutor)
    h.review(another, stu, 1)  # off probation: a low rating is just a rating
    assert len(h.client.get("/v1/staff/queue", headers=staff).json()["items"]) == 1


def test_badges_by_clear_thresholds(h: Reputation) -> None:
    tutor = uuid.uuid4()
    for _ in range(9):
        h.taught(tutor, minutes=60)
    assert h.standing(tutor)["badges"] == []
    h.taught(tutor, minutes=60)
    assert h.standing(tutor)["badges"] == ["hours_10"]
    assert [(e.badge, e.reward_credits) for e in h.public_events("BadgeAwarded")] == [("hours_10", 0)]


def test_reviews_of_one_tutor_written_at_once_all_count_once(h: Reputation) -> None:
    import threading

    tutor = uuid.uuid4()
    seats = [h.taught(tutor) for _ in range(12)]
    codes: list[int] = []
    barrier = threading.Barrier(len(seats))

    def write(session: uuid.UUID, student: uuid.UUID) -> None:
        barrier.wait()
        r = h.client.post("/v1/reviews", json={"session_id": str(session), "ratings": {
            "on_time": 5, "explained_clearly": 5, "helped_understand": 5, "would_book_again": 5}},
            headers=h.token(student))
        codes.append(r.status_code)

    threads = [threading.Thread(target=write, args=seat) for seat in seats]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [201] * 12  # one tutor record, twelve writers: each decided again on conflict
    s = h.standing(tutor)
    assert (s["rating_count"], s["sessions_completed"]) == (12, 12)
