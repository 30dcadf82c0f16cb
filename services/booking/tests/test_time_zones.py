"""Availability in the tutor's own zone, slots for any viewer's, across daylight-saving
changes: a slot is never moved, dropped or repeated. New York and Berlin change on different
dates (2031: 9 March and 2 November in New York; 30 March and 26 October in Berlin), so the
weeks between are checked from both sides."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from booking.domain.availability import Availability
from booking.domain.commands import AvailabilityRules, DatedException, DayWindow, WeeklyWindow
from servicekit import wallclock
from servicekit.testing import ISSUER

Booking = Any
NY, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")


def tutor_in(zone: str, *windows: WeeklyWindow, **rules: Any) -> Availability:
    return Availability.first(uuid.uuid4(), AvailabilityRules(time_zone=zone, weekly=windows, **rules))


def local(slots: list[tuple[datetime, datetime]], tz: ZoneInfo) -> list[str]:
    return [s.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z") for s, _ in slots]


def test_a_weekly_slot_keeps_its_wall_clock_time_across_both_changes_in_both_zones() -> None:
    for zone, tz in (("America/New_York", NY), ("Europe/Berlin", BERLIN)):
        a = tutor_in(zone, WeeklyWindow(0, "09:00", "10:00"))  # Mondays 09:00-10:00, local
        for start in (datetime(2031, 2, 24, tzinfo=UTC), datetime(2031, 10, 13, tzinfo=UTC)):
            slots = a.grid(start, start + timedelta(weeks=6), 60)
            assert len(slots) == 6, (zone, local(slots, tz))  # one a week: none dropped, none repeated
            assert {s.astimezone(tz).strftime("%a %H:%M") for s, _ in slots} == {"Mon 09:00"}
            assert all(e - s == timedelta(hours=1) for s, e in slots)
            assert len({s.utcoffset() for s, _ in [(x.astimezone(tz), y) for x, y in slots]}) == 2  # the offset moved


def test_a_viewer_in_another_zone_sees_the_shift_only_between_the_two_changes() -> None:
    a = tutor_in("America/New_York", WeeklyWindow(0, "09:00", "10:00"))
    slots = a.grid(datetime(2031, 3, 1, tzinfo=UTC), datetime(2031, 4, 8, tzinfo=UTC), 60)
    seen_in_berlin = [s.astimezone(BERLIN).strftime("%m-%d %H:%M") for s, _ in slots]
    # 15:00 in Berlin before New York changes, 14:00 in the weeks between, 15:00 again after Berlin's change.
    assert seen_in_berlin == ["03-03 15:00", "03-10 14:00", "03-17 14:00", "03-24 14:00", "03-31 15:00",
                              "04-07 15:00"]


def test_a_window_over_the_spring_forward_night_is_as_long_as_the_real_hours_in_it() -> None:
    # Sunday 01:00-04:00 local: on the night clocks jump 02:00 -> 03:00 it is two real hours.
    for zone, tz, night in (("America/New_York", NY, date(2031, 3, 9)), ("Europe/Berlin", BERLIN, date(2031, 3, 30))):
        a = tutor_in(zone, WeeklyWindow(6, "01:00", "04:00"))
        start = datetime.combine(night, datetime.min.time(), tzinfo=tz) - timedelta(hours=12)
        slots = a.grid(start.astimezone(UTC), start.astimezone(UTC) + timedelta(days=1), 30)
        assert local(slots, tz) == [f"Sun {night} {t}" for t in (
            "01:00 " + ("EST" if tz is NY else "CET"), "01:30 " + ("EST" if tz is NY else "CET"),
            "03:00 " + ("EDT" if tz is NY else "CEST"), "03:30 " + ("EDT" if tz is NY else "CEST"))]
        assert len(set(slots)) == len(slots)


def test_a_window_over_the_fall_back_night_has_the_repeated_hour_once_each_and_nothing_twice() -> None:
    # Sunday 00:00-03:00 local: on the night clocks go back 02:00 -> 01:00 it is four real hours.
    for zone, tz, night in (("America/New_York", NY, date(2031, 11, 2)), ("Europe/Berlin", BERLIN, date(2031, 10, 26))):
        a = tutor_in(zone, WeeklyWindow(6, "00:00", "03:00"))
        day_start = datetime.combine(night, datetime.min.time(), tzinfo=tz).astimezone(UTC)
        slots = a.grid(day_start - timedelta(hours=1), day_start + timedelta(hours=12), 60)
        starts = [s for s, _ in slots]
        assert len(starts) == len(set(starts))  # no instant twice
        assert starts[-1] + timedelta(hours=1) - starts[0] == timedelta(hours=4)
        walls = Counter(s.astimezone(tz).strftime("%H:%M") for s in starts[::2])
        assert sum(walls.values()) == 4 and all(e - s == timedelta(hours=1) for s, e in slots)


def test_the_same_local_date_as_an_exception_closes_or_replaces_that_day() -> None:
    a = tutor_in("Europe/Berlin", WeeklyWindow(0, "09:00", "12:00"), WeeklyWindow(1, "09:00", "12:00"),
                 exceptions=(DatedException(date(2031, 1, 6)),  # a holiday
                             DatedException(date(2031, 1, 7), (DayWindow("14:00", "15:00"),))))  # exam week
    slots = a.grid(datetime(2031, 1, 5, tzinfo=UTC), datetime(2031, 1, 9, tzinfo=UTC), 60)
    assert local(slots, BERLIN) == ["Tue 2031-01-07 14:00 CET"]


def test_a_weekly_series_across_the_change_stays_at_the_same_local_time() -> None:
    first = datetime(2031, 3, 4, 14, 0, tzinfo=UTC)  # Tuesday 09:00 in New York (EST)
    series = [wallclock.same_wall_time_weeks_later(first, w, NY) for w in range(3)]
    assert [s.astimezone(NY).strftime("%m-%d %H:%M") for s in series] == ["03-04 09:00", "03-11 09:00",
                                                                          "03-18 09:00"]
    assert [s.strftime("%H:%M") for s in series] == ["14:00", "13:00", "13:00"]  # UTC moved by the hour


def test_slots_are_served_in_the_viewers_zone_and_a_recurring_booking_crosses_the_change(h: Booking) -> None:
    h.clock.now = datetime(2031, 3, 1, 12, 0, tzinfo=UTC)
    tutor = uuid.uuid4()
    listing = h.listing(tutor)
    r = h.client.put("/v1/tutors/me/availability", headers=ISSUER.headers(tutor, "tutor"), json={
        "time_zone": "America/New_York", "weekly": [{"weekday": 1, "start": "09:00", "end": "10:00"}],
        "instant_book": True})
    assert r.status_code == 200, r.text
    viewer = ISSUER.headers(uuid.uuid4(), "student")
    got = h.client.get(f"/v1/tutors/{tutor}/slots", headers=viewer, params={
        "minutes": 60, "from": "2031-03-02T00:00:00Z", "to": "2031-04-02T00:00:00Z", "time_zone": "Europe/Berlin",
        "listing_id": str(listing)})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["prices"] == {"XAP": 12, "GBP": 2500} and body["policy"]["dispute_window_hours"] == 48
    assert [s["local_starts_at"][5:16] for s in body["slots"]] == [
        "03-04T15:00", "03-11T14:00", "03-18T14:00", "03-25T14:00", "04-01T15:00"]
    assert {s["tutor_local_starts_at"][11:19] for s in body["slots"]} == {"09:00:00"}
    series = h.book(uuid.uuid4(), listing, body["slots"][0]["starts_at"], kind="recurring", weeks=5)
    assert [o["starts_at"][:16] for o in series["occurrences"]] == [s["starts_at"][:16] for s in body["slots"]]
    bad = h.client.get(f"/v1/tutors/{tutor}/slots", headers=viewer,
                       params={"minutes": 60, "time_zone": "Mars/Olympus_Mons"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.time_zone"


def test_windows_that_meet_at_midnight_are_one_span_a_session_may_cross() -> None:
    # Open Monday evening until midnight and Tuesday from midnight: 23:30-00:30 is bookable,
    # in the tutor's zone on the night Berlin falls back as on any other.
    for monday in (date(2031, 10, 20), date(2031, 10, 27)):
        a = tutor_in("Europe/Berlin", WeeklyWindow(0, "22:00", "24:00"), WeeklyWindow(1, "00:00", "01:00"))
        start = datetime.combine(monday, datetime.min.time(), tzinfo=BERLIN).astimezone(UTC)
        slots = local(a.grid(start, start + timedelta(days=2), 60), BERLIN)
        assert [s[:3] + s[14:20] for s in slots] == ["Mon 22:00", "Mon 22:30", "Mon 23:00", "Mon 23:30", "Tue 00:00"]
        late = datetime.combine(monday, datetime.strptime("23:30", "%H:%M").time(), tzinfo=BERLIN).astimezone(UTC)
        assert a.offers(late, 60)
    # Windows apart stay apart: no session across the gap.
    a = tutor_in("UTC", WeeklyWindow(0, "09:00", "10:00"), WeeklyWindow(0, "10:30", "12:00"))
    slots = a.grid(datetime(2031, 3, 3, tzinfo=UTC), datetime(2031, 3, 4, tzinfo=UTC), 60)
    assert [s.strftime("%H:%M") for s, _ in slots] == ["09:00", "10:30", "11:00"]
