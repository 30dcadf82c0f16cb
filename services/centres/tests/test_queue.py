"""The drop-in queue: joining, places and estimates, tutors on shift calling by course, visits
timed and closed with a note, leaving, pausing, no-shows, closing; a rush of concurrent joins;
and the live view over Server-Sent Events."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta
from typing import Any

from servicekit.testing import ISSUER

Centres = Any  # conftest.Centres
ADMIN = ISSUER.headers(uuid.uuid4(), "admin")
ALL_WEEK = [{"weekday": d, "start": "08:00", "end": "20:00"} for d in range(7)]


def _open_centre(h: Centres, *tutors: uuid.UUID) -> str:
    cid = str(h.client.post("/v1/centres", json={"name": "Maths Lab", "time_zone": "Europe/London"},
                            headers=ADMIN).json()["centre_id"])
    h.client.put(f"/v1/centres/{cid}/hours", json={"weekly": ALL_WEEK}, headers=ADMIN)
    h.client.put(f"/v1/centres/{cid}/courses", json={"courses": ["MATH 101", "MATH 102"]}, headers=ADMIN)
    for t in tutors:
        h.client.put(f"/v1/centres/{cid}/roster/{t}", headers=ADMIN)
    assert h.client.put(f"/v1/centres/{cid}/queue/state", json={"state": "open"}, headers=ADMIN).status_code == 200
    return cid


def _as(user: uuid.UUID, *roles: str) -> dict[str, str]:
    return ISSUER.headers(user, *roles or ("student",))


def test_a_drop_in_visit_from_joining_to_the_tutors_note(h: Centres) -> None:
    tutor = uuid.uuid4()
    cid = _open_centre(h, tutor)
    ann, bob, cat = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for who, course in ((ann, "MATH 101"), (bob, "MATH 102"), (cat, "MATH 101")):
        r = h.client.post(f"/v1/centres/{cid}/queue", json={"course": course, "reason": "Chain rule homework"},
                          headers=_as(who))
        assert r.status_code == 201, r.text
    again = h.client.post(f"/v1/centres/{cid}/queue", json={"course": "MATH 101"}, headers=_as(ann))
    assert again.status_code == 409
    uncovered = h.client.post(f"/v1/centres/{cid}/queue", json={"course": "PHYS 100"}, headers=_as(uuid.uuid4()))
    assert uncovered.status_code == 409 and "does not cover" in uncovered.json()["detail"]
    mine = h.client.get(f"/v1/centres/{cid}/queue", headers=_as(cat)).json()
    assert mine["mine"]["position"] == 3 and mine["mine"]["estimated_wait_minutes"] == 30  # two ahead, 15 min each
    assert mine["visits"] is None and mine["mine"]["reason"] is None  # a student sees their place only

    assert h.client.post(f"/v1/centres/{cid}/queue/next", json={}, headers=_as(tutor, "tutor")).status_code == 403
    outsider = uuid.uuid4()
    assert h.client.put(f"/v1/centres/{cid}/shifts/me", json={}, headers=_as(outsider, "tutor")).status_code == 403
    h.client.put(f"/v1/centres/{cid}/shifts/me", json={"courses": ["MATH 102"]}, headers=_as(tutor, "tutor"))
    called = h.client.post(f"/v1/centres/{cid}/queue/next", json={}, headers=_as(tutor, "tutor")).json()
    [bobs] = [v for v in called["visits"] if v["status"] == "called"]
    assert bobs["student_id"] == str(bob) and bobs["reason"] == "Chain rule homework"  # tutors see the reason
    # Ann is now first in line, Cat second.
    assert h.client.get(f"/v1/centres/{cid}/queue", headers=_as(cat)).json()["mine"]["position"] == 2
    h.clock.move(timedelta(minutes=2))
    vid = bobs["visit_id"]
    other = h.client.post(f"/v1/centres/{cid}/queue/{vid}/start", headers=_as(uuid.uuid4(), "tutor"))
    assert other.status_code == 403  # another tutor has this visit
    h.client.post(f"/v1/centres/{cid}/queue/{vid}/start", headers=_as(tutor, "tutor"))
    h.clock.move(timedelta(minutes=20))
    done = h.client.post(f"/v1/centres/{cid}/queue/{vid}/finish", json={"note": "Worked through 3 examples"},
                         headers=_as(tutor, "tutor"))
    assert done.status_code == 200
    served = next(v for v in done.json()["visits"] if v["visit_id"] == vid)
    assert served["status"] == "served" and served["note"] == "Worked through 3 examples"
    assert done.json()["average_service_minutes"] == 20.0
    assert h.client.get(f"/v1/centres/{cid}/queue", headers=_as(cat)).json()["mine"]["estimated_wait_minutes"] == 20

    # Cat pauses (keeps her place, skipped when calling), Ann leaves; nobody left to call for MATH 101.
    cat_visit = h.client.get(f"/v1/centres/{cid}/queue", headers=_as(cat)).json()["mine"]["visit_id"]
    ann_visit = h.client.get(f"/v1/centres/{cid}/queue", headers=_as(ann)).json()["mine"]["visit_id"]
    assert h.client.post(f"/v1/centres/{cid}/queue/{cat_visit}/pause", json={"paused": True},
                         headers=_as(cat)).status_code == 200
    assert h.client.post(f"/v1/centres/{cid}/queue/{ann_visit}/leave", headers=_as(ann)).status_code == 200
    nobody = h.client.post(f"/v1/centres/{cid}/queue/next", json={"course": "MATH 101"}, headers=_as(tutor, "tutor"))
    assert nobody.status_code == 409
    h.client.post(f"/v1/centres/{cid}/queue/{cat_visit}/pause", json={"paused": False}, headers=_as(cat))
    h.client.post(f"/v1/centres/{cid}/queue/{cat_visit}/call", headers=_as(tutor, "tutor"))
    gone = h.client.post(f"/v1/centres/{cid}/queue/{cat_visit}/not-there", headers=_as(tutor, "tutor"))
    assert next(v for v in gone.json()["visits"] if v["visit_id"] == cat_visit)["status"] == "abandoned"

    names = [type(e).__name__ for e in h.public_events() if type(e).__name__.startswith(("DropIn", "Queue"))]
    assert names == ["QueueStateChanged", "DropInJoined", "DropInJoined", "DropInJoined", "DropInCalled",
                     "DropInServed", "DropInEnded", "DropInCalled", "DropInEnded"]
    served_event = next(e for e in h.public_events() if type(e).__name__ == "DropInServed")
    assert served_event.service_minutes == 20.0 and served_event.course == "MATH 102"


def test_closing_the_queue_ends_every_place_and_says_so(h: Centres) -> None:
    cid = _open_centre(h)
    students = [uuid.uuid4() for _ in range(3)]
    for s in students:
        h.client.post(f"/v1/centres/{cid}/queue", json={}, headers=_as(s))
    refused = h.client.put(f"/v1/centres/{cid}/queue/state", json={"state": "closed"},
                           headers=_as(uuid.uuid4(), "staff"))
    assert refused.status_code == 403
    h.client.put(f"/v1/centres/{cid}/queue/state", json={"state": "closed"}, headers=ADMIN)
    assert h.client.get(f"/v1/centres/{cid}/queue", headers=_as(students[0])).json()["mine"]["status"] == "closed"
    closed = [e for e in h.public_events() if type(e).__name__ == "QueueStateChanged"][-1]
    assert closed.state == "closed" and len(closed.closed_visits) == 3
    late = h.client.post(f"/v1/centres/{cid}/queue", json={}, headers=_as(uuid.uuid4()))
    assert late.status_code == 409 and "closed" in late.json()["detail"]


def test_thirty_students_joining_at_once_each_get_one_place_in_order(h: Centres) -> None:
    cid = _open_centre(h)
    students = [uuid.uuid4() for _ in range(30)]
    answers: list[int] = []
    barrier = threading.Barrier(len(students))

    def join(s: uuid.UUID) -> None:
        barrier.wait()
        answers.append(h.client.post(f"/v1/centres/{cid}/queue", json={}, headers=_as(s)).status_code)

    threads = [threading.Thread(target=join, args=(s,)) for s in students]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [201] * 30
    positions = sorted(h.client.get(f"/v1/centres/{cid}/queue", headers=_as(s)).json()["mine"]["position"]
                       for s in students)
    assert positions == list(range(1, 31))


def test_the_live_view_sends_the_queue_and_then_each_change(h: Centres) -> None:
    cid = _open_centre(h)
    student = uuid.uuid4()
    with h.client.stream("GET", f"/v1/centres/{cid}/queue/stream", headers=_as(student)) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines()
        first = _event(lines)
        assert first["state"] == "open" and first["mine"] is None
        h.client.post(f"/v1/centres/{cid}/queue", json={"course": "MATH 101"}, headers=_as(student))
        second = _event(lines)
        assert second["mine"]["position"] == 1 and second["in_line"] == 1


def _event(lines: Any) -> dict[str, Any]:
    for line in lines:
        if line.startswith("data: "):
            return dict(json.loads(line[len("data: "):]))
    raise AssertionError("the stream ended")


def test_no_shows_warn_then_lock_out_and_staff_lift_or_exempt(launch: Any) -> None:
    h = launch(centres_no_show_warn_after=1, centres_no_show_lockout_after=2, centres_lockout_days=7)
    tutor, student, exempt = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    cid = _open_centre(h, tutor)
    h.client.put(f"/v1/centres/{cid}/shifts/me", json={}, headers=_as(tutor, "tutor"))

    def miss(who: uuid.UUID) -> int:
        r = h.client.post(f"/v1/centres/{cid}/queue", json={}, headers=_as(who))
        if r.status_code != 201:
            return r.status_code
        vid = r.json()["mine"]["visit_id"]
        h.client.post(f"/v1/centres/{cid}/queue/{vid}/call", headers=_as(tutor, "tutor"))
        assert h.client.post(f"/v1/centres/{cid}/queue/{vid}/not-there",
                             headers=_as(tutor, "tutor")).status_code == 200
        return 201

    assert miss(student) == 201
    s = h.client.get(f"/v1/centres/{cid}/students/{student}/standing", headers=_as(student)).json()
    assert s["no_shows_counted"] == 1 and s["warned_at"] is not None and s["locked"] is False
    assert miss(student) == 201
    s = h.client.get(f"/v1/centres/{cid}/students/{student}/standing", headers=_as(student)).json()
    assert s["locked"] is True and s["locked_until"].startswith("2026-04-01")  # 7 days from 25 March
    refused = h.client.post(f"/v1/centres/{cid}/queue", json={}, headers=_as(student))
    assert refused.status_code == 409 and "staff can lift" in refused.json()["detail"]
    assert h.client.get(f"/v1/centres/{cid}/students/{student}/standing",
                        headers=_as(uuid.uuid4())).status_code == 403
    assert h.client.post(f"/v1/centres/{cid}/students/{student}/lift-lockout",
                         headers=_as(student)).status_code == 403
    lifted = h.client.post(f"/v1/centres/{cid}/students/{student}/lift-lockout", headers=ADMIN)
    assert lifted.status_code == 200 and lifted.json()["locked"] is False and lifted.json()["no_shows_counted"] == 0
    assert h.client.post(f"/v1/centres/{cid}/queue", json={}, headers=_as(student)).status_code == 201
    # An accommodation exempts a student from the lockout.
    h.client.put(f"/v1/centres/{cid}/students/{exempt}/accommodations", json={"exempt": ["no_show_lockout"]},
                 headers=ADMIN)
    assert miss(exempt) == 201 and miss(exempt) == 201 and miss(exempt) == 201
    assert h.client.get(f"/v1/centres/{cid}/students/{exempt}/standing", headers=ADMIN).json()["locked"] is False
    changes = [(e.student_id, e.change) for e in h.public_events() if type(e).__name__ == "StudentStandingChanged"]
    assert changes[:3] == [(student, "warned"), (student, "locked_out"), (student, "lifted")]
    assert (exempt, "locked_out") not in changes
