"""Attendance as time: who was present from when to when, and what that makes of a seat.

Presence is a list of intervals ``[from, to]`` per person (``to`` None while they are still
there). Everything is clipped to the scheduled time and to "now": time before the start or
after the end is not taught time, and an open interval counts up to the moment asked.
Pure functions, so the rules read (and are tested) without a database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

Interval = Sequence[datetime | None]


@dataclass(frozen=True)
class Rules:
    """The institution's attendance rules (sessions' settings)."""

    #: Both sides together for at least this share of the scheduled time: it took place.
    share_bps: int = 5000
    #: After the start plus this, a side that never appeared while the other waited is a no-show.
    grace_minutes: int = 15
    #: Sessions nobody closed are closed this long after their end.
    close_hours: int = 24
    #: Joining and in-person check-in open this many minutes before the start.
    early_minutes: int = 15


@dataclass(frozen=True)
class Together:
    minutes: int
    first: datetime | None
    last: datetime | None


def _clip(intervals: Sequence[Interval], start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    out = []
    for a, b in intervals:
        assert a is not None
        lo, hi = max(a, start), min(b or end, end)
        if hi > lo:
            out.append((lo, hi))
    return _merge(out)


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def together(a: Sequence[Interval], b: Sequence[Interval], start: datetime, end: datetime,
             now: datetime) -> Together:
    """Time ``a`` and ``b`` were both present within [start, min(end, now)]."""
    stop = min(end, now)
    if stop <= start:
        return Together(0, None, None)
    shared = []
    for lo1, hi1 in _clip(a, start, stop):
        for lo2, hi2 in _clip(b, start, stop):
            lo, hi = max(lo1, lo2), min(hi1, hi2)
            if hi > lo:
                shared.append((lo, hi))
    shared = _merge(shared)
    total = sum((hi - lo for lo, hi in shared), timedelta())
    if not shared:
        return Together(0, None, None)
    return Together(int(total.total_seconds() // 60), shared[0][0], shared[-1][1])


def appeared(intervals: Sequence[Interval], start: datetime, end: datetime) -> bool:
    """Whether someone was present at any moment of the session (early arrivals count from
    the start; someone who left before the start did not appear)."""
    return any((b is None or b > start) and a is not None and a < end for a, b in intervals)


def scheduled_minutes(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() // 60)


def enough(minutes: int, start: datetime, end: datetime, rules: Rules) -> bool:
    return minutes * 10000 >= scheduled_minutes(start, end) * rules.share_bps


def absent_side(tutor_came: bool, student_came: bool) -> str | None:
    if tutor_came and student_came:
        return None
    if not tutor_came and not student_came:
        return "both"
    return "tutor" if not tutor_came else "student"


@dataclass(frozen=True)
class Limits:
    """Sizes and durations of what a session offers (sessions' settings)."""

    token_minutes: int = 10
    room_lead_minutes: int = 60
    empty_room_seconds: int = 600
    retention_days: int = 30
    chat_max_chars: int = 2000
    file_max_bytes: int = 10 * 1024 * 1024
