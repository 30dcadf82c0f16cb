"""A tutor's availability: weekly windows and dated exceptions in the tutor's own zone, the
buffer between sessions, minimum notice, booking horizon, slot grid, instant book, group
seats and the place of in-person sessions. One per tutor; every change records the whole
of it (published as ``AvailabilityChanged``).

Free slots are worked out here from the rules and the tutor's diary (what is booked), for
any range and viewer: see ``wallclock`` for how wall-clock windows become instants."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

import servicekit.wallclock as wallclock
from booking.domain.commands import AvailabilityRules
from booking.domain.errors import Invalid

NAMESPACE = UUID("0b1d7c1e-54a4-4d6f-9a55-3f2b5f8e9a01")
MAX_WINDOWS = 50
MAX_EXCEPTIONS = 200


@dataclass(frozen=True)
class Slot:
    starts_at: datetime  # UTC
    ends_at: datetime
    #: For a group session: seats left (None: a one-to-one slot).
    seats_left: int | None = None


def _check_windows(windows: list[tuple[str, str]], field: str) -> None:
    spans = sorted((wallclock.minutes_of(s), wallclock.minutes_of(e), i) for i, (s, e) in enumerate(windows))
    for start, end, i in spans:
        if end <= start:
            raise Invalid(f"{field}.{i}.end", "must be after start")
    for (_, prev_end, _), (start, _, i) in itertools.pairwise(spans):
        if start < prev_end:
            raise Invalid(f"{field}.{i}.start", "overlaps another window of the same day")


def rules_record(rules: AvailabilityRules) -> dict[str, Any]:
    """The rules checked as a whole, as stored (and published)."""
    wallclock.zone(rules.time_zone)
    for day in range(7):
        windows = [(w.start, w.end) for w in rules.weekly if w.weekday == day]
        index = [i for i, w in enumerate(rules.weekly) if w.weekday == day]
        try:
            _check_windows(windows, "weekly")
        except Invalid as refused:  # name the window by its place in the request
            part = refused.field.split(".") if refused.field else []
            raise Invalid(f"weekly.{index[int(part[1])]}.{part[2]}", refused.reason) from None
    seen: set[date] = set()
    for i, exc in enumerate(rules.exceptions):
        if exc.day in seen:
            raise Invalid(f"exceptions.{i}.date", "that date is listed twice")
        seen.add(exc.day)
        _check_windows([(w.start, w.end) for w in exc.windows], f"exceptions.{i}.windows")
    if rules.group_capacity < 1:
        raise Invalid("group_capacity", "must be at least 1")
    return {
        "time_zone": rules.time_zone,
        "weekly": [{"weekday": w.weekday, "start": w.start, "end": w.end}
                   for w in sorted(rules.weekly, key=lambda w: (w.weekday, w.start))],
        "exceptions": [{"date": x.day.isoformat(), "windows": [{"start": w.start, "end": w.end} for w in x.windows]}
                       for x in sorted(rules.exceptions, key=lambda x: x.day)],
        "buffer_minutes": rules.buffer_minutes,
        "min_notice_minutes": rules.min_notice_minutes,
        "horizon_days": rules.horizon_days,
        "slot_step_minutes": rules.slot_step_minutes,
        "instant_book": rules.instant_book,
        "group_capacity": rules.group_capacity,
        "place": rules.place,
    }


class Availability(Aggregate):
    @staticmethod
    def create_id(tutor_id: UUID) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE, f"availability:{tutor_id}")

    @event("Opened")
    def __init__(self, id: UUID, tutor_id: UUID, rules: dict[str, Any]) -> None:
        self.tutor_id = tutor_id
        self.rules = rules

    @classmethod
    def first(cls, tutor_id: UUID, rules: AvailabilityRules) -> Availability:
        return cls(id=cls.create_id(tutor_id), tutor_id=tutor_id, rules=rules_record(rules))

    def change(self, rules: AvailabilityRules) -> bool:
        record = rules_record(rules)
        if record == self.rules:
            return False
        self._changed(record)
        return True

    @event("Changed")
    def _changed(self, rules: dict[str, Any]) -> None:
        self.rules = rules

    # -- reading the rules --------------------------------------------------------------

    @property
    def tz(self) -> Any:
        return wallclock.zone(self.rules["time_zone"])

    @property
    def buffer(self) -> timedelta:
        return timedelta(minutes=self.rules["buffer_minutes"])

    @property
    def instant_book(self) -> bool:
        return bool(self.rules["instant_book"])

    @property
    def group_capacity(self) -> int:
        return int(self.rules["group_capacity"])

    @property
    def place(self) -> str | None:
        return self.rules.get("place")

    def _windows_on(self, day: date) -> list[tuple[str, str]]:
        iso = day.isoformat()
        for x in self.rules["exceptions"]:
            if x["date"] == iso:
                return [(w["start"], w["end"]) for w in x["windows"]]
        return [(w["start"], w["end"]) for w in self.rules["weekly"] if w["weekday"] == day.weekday()]

    def open_spans(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The open windows as instants, for every local day touching [start, end); windows
        that touch or overlap are one span (open until midnight and from midnight on: a
        session may run across it)."""
        tz = self.tz
        # A day either side: a session starting in [start, end) may run past midnight.
        day, last = wallclock.local_day(start, tz) - timedelta(days=1), wallclock.local_day(end, tz) + timedelta(days=1)
        spans = []
        while day <= last:
            for w_start, w_end in self._windows_on(day):
                s = wallclock.instant(day, w_start, tz)
                e = wallclock.instant(day, w_end, tz, end=True)
                if e > s:
                    spans.append((s, e))
            day += timedelta(days=1)
        merged: list[tuple[datetime, datetime]] = []
        for s, e in sorted(spans):
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        return merged

    def grid(self, start: datetime, end: datetime, minutes: int) -> list[tuple[datetime, datetime]]:
        """Every slot of ``minutes`` the windows offer starting in [start, end): laid out in
        real time from each window's start, every ``slot_step_minutes``."""
        length, step = timedelta(minutes=minutes), timedelta(minutes=self.rules["slot_step_minutes"])
        out = []
        for s, e in self.open_spans(start, end):
            t = s
            while t + length <= e:
                if start <= t < end:
                    out.append((t, t + length))
                t += step
        return out

    def bookable_window(self, now: datetime) -> tuple[datetime, datetime]:
        """The earliest and latest start a booking made ``now`` may have."""
        return (now + timedelta(minutes=self.rules["min_notice_minutes"]),
                now + timedelta(days=self.rules["horizon_days"]))

    def offers(self, starts_at: datetime, minutes: int) -> bool:
        """Whether a session of ``minutes`` at ``starts_at`` is on the grid of an open window."""
        return (starts_at, starts_at + timedelta(minutes=minutes)) in self.grid(
            starts_at, starts_at + timedelta(seconds=1), minutes)
