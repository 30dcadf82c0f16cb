"""Tutors' availability from booking's AvailabilityChanged, asked in the searcher's own zone:
each event replaces the whole availability; exceptions, notice and horizon count; and
daylight-saving changes never shift, drop or duplicate a match — across the spring-forward
and fall-back weeks of America/New_York and Europe/Berlin, which change on different dates
(2027: New York on 14 March and 7 November, Berlin on 28 March and 31 October).

The first tests go through the gateway and the projection (fixtures in conftest.py); the last
ones hold the domain's open times against zoneinfo's own conversions, date by date."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from matching.domain.availability import Availability, minutes_of, occurrences, open_times
from matching.domain.query import parse_window
from matching.main import build
from matching.settings import MatchingSettings
from servicekit.testing import ISSUER

Feed = Any
NEW_YORK, BERLIN = "America/New_York", "Europe/Berlin"


def at(day: str, hhmm: str = "12:00") -> datetime:
    """A UTC instant: at("2027-03-15") is that Monday at noon UTC."""
    return datetime.fromisoformat(f"{day}T{hhmm}:00+00:00")


def found(feed: Feed, **params: Any) -> set[str]:
    feed.settle()  # the directory answers from columns rebuilt in the background: catch up first
    r = feed.get("/v1/search", **params)
    assert r.status_code == 200, r.text
    return {i["display_name"] for i in r.json()["items"]}


def share(feed: Feed, name: str, **need: Any) -> float:
    feed.settle()
    r = feed.post("/v1/recommendations", {"goal": "algebra", "limit": 50, **need})
    assert r.status_code == 200, r.text
    return next(i["components"]["availability"] for i in r.json()["items"] if i["display_name"] == name)


def tutor(feed: Feed, name: str) -> uuid.UUID:
    t = feed.tutor(name)
    feed.listing(t, bio="Algebra.")
    return t


# -- through the events --------------------------------------------------------------------


def test_each_event_replaces_the_whole_availability(feed: Feed) -> None:
    feed.at(at("2027-05-03"))
    t = tutor(feed, "Tess")
    assert feed.availability(t, BERLIN, ["tue 18:00-20:00", "thu 18:00-20:00"], position=10)
    assert found(feed, available="thu 18:00-20:00", time_zone=BERLIN) == {"Tess"}
    # The next event is the whole availability: Thursday is gone, Wednesday is new.
    assert feed.availability(t, BERLIN, ["wed 09:00-12:00"], position=11)
    assert found(feed, available="thu 18:00-20:00", time_zone=BERLIN) == set()
    assert found(feed, available="tue 18:00-20:00", time_zone=BERLIN) == set()
    assert found(feed, available="wed 09:00-12:00", time_zone=BERLIN) == {"Tess"}
    # Delivered again, an event changes nothing; an older one delivered late (a dead letter
    # replayed) never overwrites a newer one.
    assert not feed.availability(t, BERLIN, ["wed 09:00-12:00"], position=11)
    assert feed.availability(t, BERLIN, ["tue 18:00-20:00"], position=9)
    assert found(feed, available="wed 09:00-12:00", time_zone=BERLIN) == {"Tess"}
    assert found(feed, available="tue 18:00-20:00", time_zone=BERLIN) == set()
    # Nothing open at all: found by no window, and scored 0 (not the neutral 0.5 of the unknown).
    assert feed.availability(t, BERLIN, [], position=12)
    assert found(feed, available="wed 09:00-12:00", time_zone=BERLIN) == set()
    assert share(feed, "Tess", preferred_times=["wed 09:00-12:00"], time_zone=BERLIN) == 0.0


def test_exceptions_notice_and_horizon(feed: Feed) -> None:
    feed.at(at("2027-05-03", "09:00"))  # Monday 11:00 in Berlin
    closed, moved, notice, near = (tutor(feed, n) for n in ("Closed", "Moved", "Notice", "Near"))
    weekly = ["tue 18:00-20:00"]
    # Closed on each of the next four Tuesdays (an exam month): never found for Tuesdays.
    feed.availability(closed, BERLIN, weekly, exceptions={date(2027, 5, 4) + timedelta(weeks=k): [] for k in range(4)})
    # One Tuesday moved to the morning: found for Tuesday mornings, through that date alone.
    feed.availability(moved, BERLIN, weekly, exceptions={date(2027, 5, 11): ["09:00-11:00"]})
    # Two days' notice and a horizon of a week: only tomorrow is in the horizon, and too soon.
    feed.availability(notice, BERLIN, weekly, min_notice_minutes=2 * 24 * 60, horizon_days=7)
    feed.availability(near, BERLIN, weekly, min_notice_minutes=60, horizon_days=7)
    assert found(feed, available="tue 18:00-20:00", time_zone=BERLIN) == {"Moved", "Near"}
    assert found(feed, available="tue 09:00-11:00", time_zone=BERLIN) == {"Moved"}
    # Recommendations: the share of the next four Tuesdays' evenings that can be booked.
    evenings = {"preferred_times": ["tue 18:00-20:00"], "time_zone": BERLIN}
    assert share(feed, "Closed", **evenings) == 0.0
    assert share(feed, "Moved", **evenings) == 0.75
    assert share(feed, "Notice", **evenings) == 0.0
    assert share(feed, "Near", **evenings) == 0.25
    # An occurrence that has started is not one of the next four: at 18:30 on Tuesday, the
    # following four Tuesdays are asked about (so Moved's moved Tuesday is the first of them).
    feed.at(at("2027-05-04", "16:30"))
    assert share(feed, "Moved", **evenings) == 0.75
    assert found(feed, available="tue 09:00-11:00", time_zone=BERLIN) == {"Moved"}


#: Monday noon UTC, each week around the changes: New York and Berlin are 6 hours apart,
#: except in the weeks when only New York has changed (5 hours apart).
WEEKS = [("2027-03-08", 6), ("2027-03-15", 5), ("2027-03-22", 5), ("2027-03-29", 6),
         ("2027-10-25", 6), ("2027-11-01", 5), ("2027-11-08", 6)]


@pytest.mark.parametrize(("monday", "hours_apart"), WEEKS, ids=[w[0] for w in WEEKS])
@pytest.mark.parametrize(("searcher_zone", "evening"), [(NEW_YORK, "tue 12:00-14:00"), (BERLIN, "tue 18:00-20:00")],
                         ids=["searcher-in-new-york", "searcher-in-berlin"])
def test_tuesday_evening_follows_both_zones_changes(feed: Feed, monday: str, hours_apart: int, searcher_zone: str,
                                                    evening: str) -> None:
    """Tutors in New York (Tuesday 12-14 there) and in Berlin (Tuesday 18-20 there), bookable
    a week ahead, so only the coming Tuesday counts. Asked from either city for the other's
    hours, the overlap is what the clocks really show that week: two hours when the cities are
    six hours apart, exactly one in the weeks they are five apart. A tutor in the searcher's
    own zone always matches in full, across its own change."""
    feed.at(at(monday))
    feed.availability(tutor(feed, "NewYorker"), NEW_YORK, ["tue 12:00-14:00"], horizon_days=7)
    feed.availability(tutor(feed, "Berliner"), BERLIN, ["tue 18:00-20:00"], horizon_days=7)
    both = {"NewYorker", "Berliner"}
    same_zone = "NewYorker" if searcher_zone == NEW_YORK else "Berliner"
    full = found(feed, available=evening, time_zone=searcher_zone, session_minutes=120)
    hour = found(feed, available=evening, time_zone=searcher_zone, session_minutes=60)
    more = found(feed, available=evening, time_zone=searcher_zone, session_minutes=61)
    if hours_apart == 6:
        assert full == hour == more == both
    else:
        assert full == more == {same_zone} and hour == both
    # The share of the next four Tuesdays' two hours: a week's horizon leaves the first alone.
    other = "Berliner" if same_zone == "NewYorker" else "NewYorker"
    assert share(feed, other, preferred_times=[evening], time_zone=searcher_zone) == (
        120 / 480 if hours_apart == 6 else 60 / 480)
    assert share(feed, same_zone, preferred_times=[evening], time_zone=searcher_zone) == 120 / 480


def test_a_window_across_the_change_itself_counts_its_real_minutes(feed: Feed) -> None:
    """A New York tutor open Sunday 01:00-04:00 there, asked about from Berlin: on New York's
    spring-forward Sunday that is two real hours, on its fall-back Sunday four; the
    recommendations' share adds up the real minutes, each once."""
    t = tutor(feed, "Night")
    feed.availability(t, NEW_YORK, ["sun 01:00-04:00"], horizon_days=7)

    def fits(saturday: str, window: str, minutes: int) -> bool:
        feed.at(at(saturday))
        return "Night" in found(feed, available=window, time_zone=BERLIN, session_minutes=minutes)

    # 7 March: 06:00-09:00 UTC, three hours. 14 March (spring forward): 06:00-08:00 UTC, two.
    assert fits("2027-03-06", "sun 07:00-10:00", 180)
    assert fits("2027-03-13", "sun 07:00-10:00", 120) and not fits("2027-03-13", "sun 07:00-10:00", 121)
    # 31 October (Berlin falls back; New York not yet): the tutor 05:00-08:00 UTC, Berlin's
    # 06:00-10:00 is 05:00-09:00 UTC: three hours in common. 7 November (New York falls back):
    # the tutor 05:00-09:00 UTC, four hours, all of Berlin's window.
    assert fits("2027-10-30", "sun 06:00-10:00", 180) and not fits("2027-10-30", "sun 06:00-10:00", 181)
    assert fits("2027-11-06", "sun 06:00-10:00", 240)
    # Over four Sundays from 30 October: 180 + 240 + 180 + 180 of 4 x 240 minutes.
    feed.availability(t, NEW_YORK, ["sun 01:00-04:00"], horizon_days=60)
    feed.at(at("2027-10-30"))
    assert share(feed, "Night", preferred_times=["sun 06:00-10:00"], time_zone=BERLIN) == 780 / 960
    # From 13 March, Berlin's 06:00-09:00 on four Sundays: 14 March the tutor has two hours
    # (06:00-08:00 UTC), 21 March three (05:00-08:00 UTC, as Berlin's 05:00-08:00); from 28 March
    # Berlin is on summer time too and its window is 04:00-07:00 UTC: two hours in common.
    feed.at(at("2027-03-13"))
    assert share(feed, "Night", preferred_times=["sun 06:00-09:00"], time_zone=BERLIN) == 540 / 720


def test_a_zone_the_server_does_not_know_is_no_availability(feed: Feed) -> None:
    """Booking's tz database may be newer than matching's: the event is kept (it counts once
    this process knows the zone), and until then the tutor is as one who published nothing."""
    feed.at(at("2027-05-03"))
    t = tutor(feed, "Future")
    assert feed.availability(t, "Mars/Olympus_Mons", ["tue 18:00-20:00"])
    assert found(feed, available="tue 18:00-20:00") == set()
    assert share(feed, "Future", preferred_times=["tue 18:00-20:00"]) == 0.5
    with feed.db.transaction() as cur:
        cur.execute("SELECT count(*) FROM tutor_availability WHERE tutor_id = %s", (str(t),))
        assert cur.fetchone()[0] == 1


def test_the_migration_drops_the_zone_less_table(postgres_url: str, pg_schema: str, tmp_path: Any) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{pg_schema}"')
        conn.execute(f'CREATE TABLE "{pg_schema}".availability (tutor_id TEXT NOT NULL, start_minute INTEGER'
                     ' NOT NULL, end_minute INTEGER NOT NULL, PRIMARY KEY (tutor_id, start_minute))')
    settings = MatchingSettings(database_url=postgres_url, database_schema=pg_schema, data_dir=tmp_path,
                                subscribers_enabled=False, kafka_bootstrap_servers="127.0.0.1:1")
    for migrate in (True, False):  # the migration, then a replica that only checks the schema
        app = build(settings.model_copy(update={"migrate_on_start": migrate}), keys=ISSUER)
        for close in reversed(app.state.closers):
            close()
        app.state.db.close()
    with psycopg.connect(postgres_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables"
                                             " WHERE table_schema = %s", (pg_schema,))}
    assert "availability" not in tables and "tutor_availability" in tables


# -- the open times against zoneinfo, date by date ----------------------------------------------


def expected(zone: str, day: date, start: str, end: str) -> tuple[int, int]:
    """zoneinfo's own conversion of a wall-clock window that no change touches."""
    tz = ZoneInfo(zone)

    def instant(hhmm: str) -> int:
        h, m = (int(x) for x in hhmm.split(":"))
        return minutes_of(datetime(day.year, day.month, day.day, h, m, tzinfo=tz))

    return instant(start), instant(end)


def spans(zone: str, weekly: list[tuple[int, str, str]], first: datetime, days: int) -> list[tuple[int, int]]:
    """The open time of one tutor over ``days`` from ``first``, pieces joined again."""
    av = Availability(zone, weekly=tuple((w, *(int(x[:2]) * 60 + int(x[3:]) for x in (s, e))) for w, s, e in weekly))
    origin = minutes_of(first)
    index = open_times([(0, av)], 1, origin, origin + days * 24 * 60)
    joined: list[tuple[int, int]] = []
    for s, e in sorted(zip(index.starts.tolist(), index.ends.tolist(), strict=True)):
        if joined and joined[-1][1] == s + origin:
            joined[-1] = (joined[-1][0], e + origin)
        else:
            joined.append((s + origin, e + origin))
    return joined


@pytest.mark.parametrize("zone", [NEW_YORK, BERLIN])
@pytest.mark.parametrize("month", ["2027-03-01", "2027-10-18"], ids=["spring", "autumn"])
def test_every_evening_window_once_at_its_own_dates_offset(zone: str, month: str) -> None:
    """Every day's 18:00-20:00 for five weeks across both zones' changes: each date exactly
    once, two hours long, where zoneinfo puts it — never shifted by a neighbouring date's
    offset, never dropped or doubled by a 23- or 25-hour day."""
    first = at(month, "00:00")
    origin, end = minutes_of(first), minutes_of(first) + 35 * 1440

    def inside(span: tuple[int, int]) -> bool:  # the index is cut at its ends
        return origin < span[0] and span[1] < end

    got = [g for g in spans(zone, [(w, "18:00", "20:00") for w in range(7)], first, 35) if inside(g)]
    want = [expected(zone, first.date() + timedelta(days=k), "18:00", "20:00") for k in range(-1, 36)]
    assert got == [w for w in want if inside(w)]
    assert len(got) >= 34 and all(e - s == 120 for s, e in got)


@pytest.mark.parametrize(("zone", "sunday", "real_minutes", "utc_start"), [
    (NEW_YORK, "2027-03-14", 120, "06:00"),  # 02:00-03:00 does not exist
    (NEW_YORK, "2027-11-07", 240, "05:00"),  # 01:00-02:00 happens twice
    (BERLIN, "2027-03-28", 120, "00:00"),
    (BERLIN, "2027-10-31", 240, "23:00"),  # 01:00 CEST is 23:00 UTC the day before
])
def test_a_window_around_the_change_covers_its_real_minutes(zone: str, sunday: str, real_minutes: int,
                                                             utc_start: str) -> None:
    got = spans(zone, [(6, "01:00", "04:00")], at(sunday, "00:00") - timedelta(days=2), 4)
    assert len(got) == 1
    start, end = got[0]
    assert end - start == real_minutes
    day = date.fromisoformat(sunday) - timedelta(days=1 if utc_start == "23:00" else 0)
    assert start == minutes_of(at(day.isoformat(), utc_start))


def test_a_window_inside_the_repeated_hour_is_both_of_its_instants() -> None:
    """01:00-01:30 on New York's fall-back Sunday happens twice: both count, the half hour
    between them (01:30-02:00 the first time) does not."""
    [sunday] = occurrences([parse_window("sun 01:00-01:30")], NEW_YORK, minutes_of(at("2027-11-06")), weeks=1)
    assert sunday == [(minutes_of(at("2027-11-07", "05:00")), minutes_of(at("2027-11-07", "05:30"))),
                     (minutes_of(at("2027-11-07", "06:00")), minutes_of(at("2027-11-07", "06:30")))]
    assert occurrences([parse_window("sun 02:00-02:30")], NEW_YORK, minutes_of(at("2027-03-13")), weeks=1) == [[]]


def test_touching_windows_join_across_midnight() -> None:
    """Monday 22-24 and Tuesday 00-02 in Berlin are one stretch: a session may run across."""
    got = spans(BERLIN, [(0, "22:00", "24:00"), (1, "00:00", "02:00")], at("2027-05-03", "00:00"), 7)
    assert got == [(minutes_of(at("2027-05-03", "20:00")), minutes_of(at("2027-05-04", "00:00")))]
