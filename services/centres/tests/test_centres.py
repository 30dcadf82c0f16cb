"""Centres: opened by an admin, run by their own staff only; opening hours in the centre's zone
across a daylight-saving change; closures; locations, courses and rosters; and the events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from servicekit.testing import ISSUER

Centres = Any  # conftest.Centres
ADMIN = ISSUER.headers(uuid.uuid4(), "admin")
WEEKDAYS = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(5)]


def _centre(h: Centres, zone: str = "Europe/London") -> str:
    r = h.client.post("/v1/centres", json={"name": "Maths Learning Centre", "time_zone": zone,
                                           "description": "Drop in with any first-year maths."}, headers=ADMIN)
    assert r.status_code == 201, r.text
    return str(r.json()["centre_id"])


def test_an_admin_opens_a_centre_and_only_its_own_staff_run_it(h: Centres) -> None:
    staff_of_this, staff_of_another, platform_staff = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    refused = h.client.post("/v1/centres", json={"name": "X", "time_zone": "Europe/London"},
                            headers=ISSUER.headers(platform_staff, "staff"))
    assert refused.status_code == 403
    bad_zone = h.client.post("/v1/centres", json={"name": "X", "time_zone": "Mars/Olympus"}, headers=ADMIN)
    assert bad_zone.status_code == 422 and bad_zone.json()["errors"][0]["field"] == "time_zone"
    maths, writing = _centre(h), _centre(h)
    assert h.client.put(f"/v1/centres/{maths}/staff/{staff_of_this}", headers=ADMIN).status_code == 200
    assert h.client.put(f"/v1/centres/{writing}/staff/{staff_of_another}", headers=ADMIN).status_code == 200
    hours = {"weekly": WEEKDAYS}
    mine = ISSUER.headers(staff_of_this, "staff")
    assert h.client.put(f"/v1/centres/{maths}/hours", json=hours, headers=mine).status_code == 200
    for who in (ISSUER.headers(staff_of_another, "staff"), ISSUER.headers(platform_staff, "staff"),
                ISSUER.headers(uuid.uuid4(), "student")):
        assert h.client.put(f"/v1/centres/{maths}/hours", json=hours, headers=who).status_code == 403
    # Only admins name a centre's staff.
    assert h.client.put(f"/v1/centres/{maths}/staff/{uuid.uuid4()}", headers=mine).status_code == 403
    listed = h.client.get("/v1/centres", headers=ISSUER.headers(uuid.uuid4(), "student")).json()["items"]
    assert {c["centre_id"] for c in listed} == {maths, writing}


def test_hours_are_kept_in_the_centres_zone_across_a_daylight_saving_change(h: Centres) -> None:
    cid = _centre(h)
    r = h.client.put(f"/v1/centres/{cid}/hours", json={"weekly": WEEKDAYS}, headers=ADMIN)
    assert r.status_code == 200
    cal = h.client.get(f"/v1/centres/{cid}/calendar", headers=ADMIN, params={
        "from": "2026-03-27T00:00:00Z", "to": "2026-04-01T00:00:00Z"}).json()["openings"]
    # Friday 27 March, GMT: 09:00 is 09:00Z; Monday 30 March, BST: 09:00 is 08:00Z.
    assert [(o["date"], o["opens_at"][11:16], o["local_opens_at"][11:16]) for o in cal] == [
        ("2026-03-27", "09:00", "09:00"), ("2026-03-30", "08:00", "09:00"), ("2026-03-31", "08:00", "09:00")]
    assert all(o["local_closes_at"][11:16] == "17:00" for o in cal)
    # Open now? Wednesday 12:00Z is 12:00 GMT; at 18:00 it is closed until Thursday 09:00.
    doc = h.client.get(f"/v1/centres/{cid}", headers=ADMIN).json()
    assert doc["open_now"] is True and doc["closes_at"].startswith("2026-03-25T17:00")
    h.clock.now = datetime(2026, 3, 25, 18, 0, tzinfo=UTC)
    doc = h.client.get(f"/v1/centres/{cid}", headers=ADMIN).json()
    assert doc["open_now"] is False and doc["next_opening"].startswith("2026-03-26T09:00")
    overlapping = {"weekly": [{"weekday": 0, "start": "09:00", "end": "12:00"},
                              {"weekday": 0, "start": "11:00", "end": "13:00"}]}
    r = h.client.put(f"/v1/centres/{cid}/hours", json=overlapping, headers=ADMIN)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "weekly.1"
    backwards = {"weekly": [{"weekday": 0, "start": "12:00", "end": "09:00"}]}
    assert h.client.put(f"/v1/centres/{cid}/hours", json=backwards, headers=ADMIN).json()["errors"][0]["field"] \
        == "weekly.0.end"


def test_a_closure_takes_a_date_out_and_is_told(h: Centres) -> None:
    cid = _centre(h)
    h.client.put(f"/v1/centres/{cid}/hours", json={"weekly": WEEKDAYS}, headers=ADMIN)
    r = h.client.put(f"/v1/centres/{cid}/closures/2026-03-26", json={"reason_code": "holiday"}, headers=ADMIN)
    assert r.status_code == 200
    assert h.client.put(f"/v1/centres/{cid}/closures/2026-03-26", json={"reason_code": "holiday"},
                        headers=ADMIN).status_code == 409
    h.clock.now = datetime(2026, 3, 25, 18, 0, tzinfo=UTC)
    doc = h.client.get(f"/v1/centres/{cid}", headers=ADMIN).json()
    assert doc["next_opening"].startswith("2026-03-27T09:00")  # Thursday is closed
    cal = h.client.get(f"/v1/centres/{cid}/calendar", headers=ADMIN, params={
        "from": "2026-03-26T00:00:00Z", "to": "2026-03-28T00:00:00Z"}).json()
    assert [o["date"] for o in cal["openings"]] == ["2026-03-27"] and cal["closures"][0]["reason_code"] == "holiday"
    assert h.client.delete(f"/v1/centres/{cid}/closures/2026-03-26", headers=ADMIN).status_code == 200
    names = [type(e).__name__ for e in h.public_events()]
    assert names == ["CentreFounded", "CentreScheduleChanged", "CentreClosureAdded", "CentreScheduleChanged"]
    [*_, last] = h.public_events()
    assert last.closures == [] and [w.weekday for w in last.weekly] == [0, 1, 2, 3, 4]
    too_long = h.client.get(f"/v1/centres/{cid}/calendar", headers=ADMIN, params={
        "from": "2026-03-26T00:00:00Z", "to": "2026-06-26T00:00:00Z"})
    assert too_long.status_code == 422


def test_locations_courses_and_roster(h: Centres) -> None:
    cid = _centre(h)
    tutor = uuid.uuid4()
    r = h.client.post(f"/v1/centres/{cid}/locations", json={"name": "Library room 2", "kind": "in_person",
                                                             "where": "Main library, 2nd floor"}, headers=ADMIN)
    assert r.status_code == 201 and r.json()["locations"][0]["name"] == "Library room 2"
    assert h.client.post(f"/v1/centres/{cid}/locations", json={"name": "library ROOM 2", "kind": "online"},
                         headers=ADMIN).status_code == 409
    bad = h.client.put(f"/v1/centres/{cid}/courses", json={"courses": ["MATH 101", "<script>"]}, headers=ADMIN)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("courses")
    ok = h.client.put(f"/v1/centres/{cid}/courses", json={"courses": ["MATH 102", "MATH 101", "MATH 101"],
                                                          "subjects": ["mathematics.calculus"]}, headers=ADMIN)
    assert ok.json()["courses"] == ["MATH 101", "MATH 102"]
    assert h.client.put(f"/v1/centres/{cid}/roster/{tutor}", headers=ADMIN).json()["roster"] == [str(tutor)]
    assert h.client.put(f"/v1/centres/{cid}/roster/{tutor}", headers=ADMIN).status_code == 200  # again: unchanged
    assert h.client.delete(f"/v1/centres/{cid}/roster/{tutor}", headers=ADMIN).json()["roster"] == []
    roster = [(e.tutor_id, e.on_roster) for e in h.public_events() if type(e).__name__ == "CentreRosterChanged"]
    assert roster == [(tutor, True), (tutor, False)]
    assert h.client.get(f"/v1/centres/{uuid.uuid4()}", headers=ADMIN).status_code == 404
