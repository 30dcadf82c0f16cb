"""The calendar feed (parsed back with ``icalendar``), and bad input: refused with the field
named, and changing nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from icalendar import Calendar

from servicekit.testing import ISSUER

Booking = Any
token = ISSUER.headers
TUE_10 = datetime(2031, 1, 7, 9, 0, tzinfo=UTC)


def test_each_user_has_a_secret_calendar_feed_of_their_bookings_that_can_be_rotated(h: Booking) -> None:
    tutor, listing = h.tutor(instant_book=True, place="Library, room 2")
    student = uuid.uuid4()
    online = h.book(student, listing, TUE_10)
    h.held(online["booking_id"])
    in_person = h.book(student, listing, TUE_10 + timedelta(days=1), mode="in_person")
    h.held(in_person["booking_id"])
    pending = h.book(student, listing, TUE_10 + timedelta(days=2))
    cancelled = h.book(student, listing, TUE_10 + timedelta(days=3))
    h.held(cancelled["booking_id"])
    h.client.post(f"/v1/bookings/{cancelled['booking_id']}/cancel",
                  json={"reason_code": "no_longer_needed", "note": "Passed the exam."},
                  headers=token(student, "student"))

    url = h.client.get("/v1/users/me/calendar-feed", headers=token(student, "student")).json()["url"]
    path = url.split("8004", 1)[1]
    r = h.client.get(path)  # no token: the secret address is the credential
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar"), r.text
    cal = Calendar.from_ical(r.content)
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert len(events) == 4
    first = events[f"{online['booking_id']}-0@booking.alphapeer"]
    assert first.decoded("DTSTART") == TUE_10 and first.decoded("DTEND") == TUE_10 + timedelta(hours=1)
    assert str(first["STATUS"]) == "CONFIRMED" and str(first["LOCATION"]) == "Online"
    assert str(events[f"{in_person['booking_id']}-0@booking.alphapeer"]["LOCATION"]) == "Library, room 2"
    assert str(events[f"{pending['booking_id']}-0@booking.alphapeer"]["STATUS"]) == "TENTATIVE"
    assert str(events[f"{cancelled['booking_id']}-0@booking.alphapeer"]["STATUS"]) == "CANCELLED"
    # The tutor's feed has the same sessions, as teaching.
    tutor_url = h.client.get("/v1/users/me/calendar-feed", headers=token(tutor, "tutor")).json()["url"]
    tutor_cal = Calendar.from_ical(h.client.get(tutor_url.split("8004", 1)[1]).content)
    assert all("(teaching)" in str(e["SUMMARY"]) for e in tutor_cal.walk("VEVENT"))

    rotated = h.client.post("/v1/users/me/calendar-feed/rotate", headers=token(student, "student")).json()["url"]
    assert rotated != url
    assert h.client.get(path).status_code == 404
    assert h.client.get(rotated.split("8004", 1)[1]).status_code == 200
    assert h.client.get(f"/v1/calendars/{student}/{'A' * 43}.ics").status_code == 404


@pytest.mark.parametrize(("change", "field", "status"), [
    ({"starts_at": ["2031-01-06T07:00:00Z"]}, "starts_at", 422),  # in the past
    ({"starts_at": ["2031-01-06T08:30:00Z"]}, "starts_at", 422),  # inside the tutor's notice
    ({"starts_at": ["2031-01-07T09:10:00Z"]}, "starts_at", 422),  # not on the slot grid
    ({"starts_at": ["2031-01-11T09:00:00Z"]}, "starts_at", 422),  # Saturday: closed
    ({"starts_at": ["2031-01-07T09:00:00"]}, "starts_at.0", 422),  # no offset
    ({"listing_id": str(uuid.uuid4())}, "listing_id", 422),  # unknown listing
    ({"minutes": 45}, "minutes", 422),  # a length the listing does not offer
    ({"currency": "EUR"}, "currency", 422),  # priced in XAP and GBP
    ({"mode": "in_person"}, "mode", 422),  # the tutor named no place
    ({"promotion_code": "NOPE"}, "promotion_code", 422),
    ({"kind": "package"}, "starts_at", 422),  # a package has several sessions
    ({"kind": "package", "starts_at": ["2031-01-07T09:00:00Z", "2031-01-07T09:30:00Z"]}, "starts_at.1", 422),
    ({"weeks": 3}, "weeks", 422),  # only a recurring booking repeats
    ({"minutes": 60.5}, "minutes", 422),
    ({"surprise": 1}, "surprise", 422),
])
def test_bad_requests_are_refused_with_the_field_and_change_nothing(h: Booking, change: dict, field: str,
                                                                    status: int) -> None:
    _, listing = h.tutor(instant_book=True)
    before = h.app.recorder.max_notification_id()
    body = {"listing_id": str(listing), "minutes": 60, "starts_at": [TUE_10.isoformat()], **change}
    r = h.client.post("/v1/bookings", json=body, headers=token(uuid.uuid4(), "student"))
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in r.json()["errors"]}, r.json()
    assert h.app.recorder.max_notification_id() == before


def test_an_overlapping_request_is_a_conflict_naming_the_start_and_another_users_booking_is_hidden(
        h: Booking) -> None:
    _, listing = h.tutor(instant_book=True, buffer_minutes=15)
    owner = uuid.uuid4()
    b = h.book(owner, listing, TUE_10)
    before = h.app.recorder.max_notification_id()
    for start in (TUE_10, TUE_10 + timedelta(minutes=30), TUE_10 + timedelta(hours=1)):  # the last: in the buffer
        taken = h.book(uuid.uuid4(), listing, start, expect=409)
        assert taken["errors"][0]["field"] == "starts_at" and taken["title"] == "Slot taken"
    assert h.app.recorder.max_notification_id() == before
    assert h.client.get(f"/v1/bookings/{b['booking_id']}", headers=token(uuid.uuid4(), "student")).status_code == 403
    assert h.client.get(f"/v1/bookings/{uuid.uuid4()}", headers=token(owner, "student")).status_code == 404
    mine = h.client.get("/v1/bookings", headers=token(owner, "student")).json()
    assert [x["booking_id"] for x in mine["items"]] == [b["booking_id"]]


@pytest.mark.parametrize(("change", "field"), [
    ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
    ({"weekly": [{"weekday": 0, "start": "10:00", "end": "09:00"}]}, "weekly.0.end"),
    ({"weekly": [{"weekday": 0, "start": "09:00", "end": "12:00"}, {"weekday": 0, "start": "11:00", "end": "13:00"}]},
     "weekly.1.start"),
    ({"weekly": [{"weekday": 7, "start": "09:00", "end": "10:00"}]}, "weekly.0.weekday"),
    ({"weekly": [{"weekday": 0, "start": "9:00", "end": "10:00"}]}, "weekly.0.start"),
    ({"exceptions": [{"date": "2031-01-06"}, {"date": "2031-01-06"}]}, "exceptions.1.date"),
    ({"exceptions": [{"date": "2031-02-30"}]}, "exceptions.0.date"),
])
def test_bad_availability_is_refused_with_the_field(h: Booking, change: dict, field: str) -> None:
    body = {"time_zone": "Europe/Berlin", "weekly": [], **change}
    r = h.client.put("/v1/tutors/me/availability", json=body, headers=token(uuid.uuid4(), "tutor"))
    assert r.status_code == 422, r.text
    assert field in {e["field"] for e in r.json()["errors"]}, r.json()


def test_availability_changes_are_published_whole(h: Booking) -> None:
    tutor, _ = h.tutor(buffer_minutes=10)
    h.availability(tutor, buffer_minutes=10)  # the same again: nothing new
    h.availability(tutor, buffer_minutes=15, group_capacity=4)
    changes = [e for e in h.public_events() if type(e).__name__ == "AvailabilityChanged" and e.tutor_id == tutor]
    assert [(c.buffer_minutes, c.group_capacity) for c in changes] == [(10, 1), (15, 4)]
    assert changes[-1].time_zone == "Europe/Berlin" and len(changes[-1].weekly) == 5


def test_every_route_refuses_an_anonymous_caller(h: Booking) -> None:
    document = h.client.get("/openapi.json").json()
    for path, item in document["paths"].items():
        for method in item:
            if path.endswith(".ics") or not path.startswith("/v1/"):
                continue
            concrete = path.replace("{", "").replace("}", "")
            assert h.client.request(method.upper(), concrete).status_code == 401, (method, path)
