"""A tutoring centre (a maths lab, a writing centre, a library help desk): where it is (its
locations, or online), when it is open (weekly hours in its own time zone, and dated closures
such as holidays and exam weeks), what it covers (courses and subjects), who tutors there (its
roster) and who runs it (its centre staff: they manage this centre only).

Opening hours are wall-clock times in the centre's zone, turned into instants per local date
by ``servicekit.wallclock`` (a daylight-saving change never moves, drops or doubles an hour of
opening); a closure is a local date on which it does not open."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

import servicekit.wallclock as wallclock
from servicekit.errors import Conflict, Invalid, NotFound

MAX_LOCATIONS = 20
MAX_CLOSURES = 366
MAX_ROSTER = 500
MAX_COURSES = 200


@dataclass(frozen=True)
class Opening:
    """One opening: a local date and its window, as instants."""

    day: date
    opens_at: datetime
    closes_at: datetime


class Centre(Aggregate):
    @classmethod
    def found(cls, name: str, time_zone: str, description: str, by: UUID) -> Centre:
        wallclock.zone(time_zone)
        return cls(name=name, time_zone=time_zone, description=description, by=by)

    @event("Founded")
    def __init__(self, name: str, time_zone: str, description: str, by: UUID) -> None:
        self.name, self.time_zone, self.description = name, time_zone, description
        self.weekly: list[dict[str, Any]] = []
        self.closures: dict[str, dict[str, Any]] = {}  # ISO date → {"date", "reason_code"}
        self.locations: dict[str, dict[str, Any]] = {}
        self.courses: list[str] = []
        self.subjects: list[str] = []
        self.roster: list[str] = []
        self.staff: list[str] = []
        self.active = True

    # -- who may manage it --------------------------------------------------------------------

    def manages(self, user_id: UUID, admin: bool) -> bool:
        return admin or str(user_id) in self.staff

    @event("StaffChanged")
    def set_staff(self, user_id: UUID, member: bool, by: UUID) -> None:
        s = str(user_id)
        if member and s not in self.staff:
            self.staff.append(s)
        elif not member and s in self.staff:
            self.staff.remove(s)

    # -- what it is ---------------------------------------------------------------------------

    @event("Described")
    def describe(self, name: str, description: str) -> None:
        self.name, self.description = name, description

    def add_location(self, name: str, kind: str, where: str | None) -> UUID:
        if len(self.locations) >= MAX_LOCATIONS:
            raise Conflict(f"a centre has at most {MAX_LOCATIONS} locations")
        if any(loc["name"].casefold() == name.casefold() for loc in self.locations.values()):
            raise Conflict("a location of this centre has that name already")
        location_id = uuid.uuid5(self.id, name.casefold())
        self._located(location_id, name, kind, where)
        return location_id

    @event("Located")
    def _located(self, location_id: UUID, name: str, kind: str, where: str | None) -> None:
        self.locations[str(location_id)] = {"location_id": location_id, "name": name, "kind": kind, "where": where}

    def remove_location(self, location_id: UUID) -> None:
        if str(location_id) not in self.locations:
            raise NotFound("no such location")
        self._unlocated(location_id)

    @event("Unlocated")
    def _unlocated(self, location_id: UUID) -> None:
        del self.locations[str(location_id)]

    @event("CoursesSet")
    def set_courses(self, courses: list[str], subjects: list[str]) -> None:
        self.courses, self.subjects = list(courses), list(subjects)

    @event("RosterChanged")
    def set_tutor(self, tutor_id: UUID, on: bool) -> None:
        s = str(tutor_id)
        if on and s not in self.roster:
            self.roster.append(s)
        elif not on and s in self.roster:
            self.roster.remove(s)

    def check_roster_room(self) -> None:
        if len(self.roster) >= MAX_ROSTER:
            raise Conflict(f"a roster holds at most {MAX_ROSTER} tutors")

    # -- when it is open ------------------------------------------------------------------------

    @staticmethod
    def check_hours(weekly: list[tuple[int, str, str]]) -> list[dict[str, Any]]:
        out = []
        by_day: dict[int, list[tuple[int, int]]] = {}
        for i, (weekday, start, end) in enumerate(weekly):
            lo, hi = wallclock.minutes_of(start), wallclock.minutes_of(end)
            if hi <= lo:
                raise Invalid(f"weekly.{i}.end", "must be after start")
            for a, b in by_day.get(weekday, []):
                if lo < b and a < hi:
                    raise Invalid(f"weekly.{i}", "overlaps another window of the same day")
            by_day.setdefault(weekday, []).append((lo, hi))
            out.append({"weekday": weekday, "start": start, "end": end})
        return sorted(out, key=lambda w: (w["weekday"], w["start"]))

    @event("HoursSet")
    def set_hours(self, weekly: list[dict[str, Any]]) -> None:
        self.weekly = list(weekly)

    def add_closure(self, day: date, reason_code: str) -> None:
        if day.isoformat() in self.closures:
            raise Conflict("the centre is closed that day already")
        if len(self.closures) >= MAX_CLOSURES:
            raise Conflict(f"at most {MAX_CLOSURES} closures are kept")
        self._closed(day.isoformat(), reason_code)

    @event("Closed")
    def _closed(self, day: str, reason_code: str) -> None:  # an ISO date: the store keeps JSON
        self.closures[day] = {"date": day, "reason_code": reason_code}

    def remove_closure(self, day: date) -> None:
        if day.isoformat() not in self.closures:
            raise NotFound("the centre is not closed that day")
        self._reopened(day.isoformat())

    @event("Reopened")
    def _reopened(self, day: str) -> None:
        del self.closures[day]

    def openings(self, start: datetime, end: datetime) -> list[Opening]:
        """Every opening overlapping [start, end), in order, closures left out."""
        tz = wallclock.zone(self.time_zone)
        first = wallclock.local_day(start, tz) - timedelta(days=1)
        last = wallclock.local_day(end, tz) + timedelta(days=1)
        out = []
        day = first
        while day <= last:
            if day.isoformat() not in self.closures:
                for w in self.weekly:
                    if w["weekday"] == day.weekday():
                        opens = wallclock.instant(day, w["start"], tz)
                        closes = wallclock.instant(day, w["end"], tz, end=True)
                        if opens < end and closes > start:
                            out.append(Opening(day, opens, closes))
            day += timedelta(days=1)
        return sorted(out, key=lambda o: o.opens_at)

    def open_at(self, at: datetime) -> Opening | None:
        found = [o for o in self.openings(at, at + timedelta(seconds=1)) if o.opens_at <= at < o.closes_at]
        return found[0] if found else None

    def next_opening(self, at: datetime) -> Opening | None:
        upcoming = [o for o in self.openings(at, at + timedelta(days=60)) if o.opens_at > at]
        return upcoming[0] if upcoming else None
