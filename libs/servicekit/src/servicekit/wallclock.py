"""Wall-clock times in a zone (a tutor's, a centre's), and the instants they stand for.

A tutor says "Mondays 09:00 to 12:00" in their zone; a slot is an instant (UTC). The rules
turning one into the other, across daylight-saving changes (``zoneinfo``, IANA data):

- a window's wall-clock start and end are turned into instants on each local date; slots
  are then laid out in *real* time from the start instant, so a session always lasts its
  length, whatever the clock does;
- a wall-clock time that does not exist (the hour skipped in spring) stands for the
  instant of the change: a window 01:00-04:00 on that night is two real hours long;
- a wall-clock time that exists twice (the hour repeated in autumn) stands, for a
  window's start, for its first instant and, for its end, for its second: a window
  00:00-03:00 on that night is four real hours, and no instant is lost or counted twice;
- a weekly series repeats the same wall-clock time on the same weekday (09:00 stays 09:00
  after the change; the UTC instant moves by the hour).

Everything stored is an aware UTC ``datetime``; a viewer's zone is applied only to show it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from servicekit.errors import Invalid


def zone(name: str, field: str = "time_zone") -> ZoneInfo:
    """The IANA zone named ``name`` ("Europe/Berlin"), or a refusal naming ``field``."""
    if not name or name.startswith(("/", ".")) or ".." in name or name not in _zones():
        raise Invalid(field, f"{name!r} is not an IANA time zone name such as Europe/Berlin")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # pragma: no cover - listed but unreadable
        raise Invalid(field, f"{name!r} is not an IANA time zone name such as Europe/Berlin") from None


_ZONES: frozenset[str] = frozenset()


def _zones() -> frozenset[str]:
    global _ZONES
    if not _ZONES:
        _ZONES = frozenset(available_timezones() | {"UTC"})
    return _ZONES


def clock(text: str) -> tuple[int, int]:
    """"HH:MM" as (hours, minutes); "24:00" is the end of the day."""
    hours, minutes = text.split(":")
    return int(hours), int(minutes)


def minutes_of(text: str) -> int:
    h, m = clock(text)
    return h * 60 + m


def _exists(local: datetime) -> bool:
    round_trip = local.astimezone(UTC).astimezone(local.tzinfo)
    return round_trip.replace(tzinfo=None) == local.replace(tzinfo=None)


def instant(day: date, wall: str, tz: ZoneInfo, *, end: bool = False) -> datetime:
    """The UTC instant of wall-clock ``wall`` on local ``day`` in ``tz`` (rules above)."""
    h, m = clock(wall)
    if (h, m) == (24, 0):
        day, h = day + timedelta(days=1), 0
    naive = datetime.combine(day, time(h, m))
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    a, b = first.astimezone(UTC), second.astimezone(UTC)
    if a == b:
        return a
    if _exists(first):  # repeated hour: the first instant for a start, the second for an end
        return b if end else a
    return _change_between(min(a, b), max(a, b), tz)


def _change_between(low: datetime, high: datetime, tz: ZoneInfo) -> datetime:
    """The instant (to the minute) at which ``tz``'s offset changes between ``low`` and ``high``."""
    before = low.astimezone(tz).utcoffset()
    while high - low > timedelta(minutes=1):
        mid = low + (high - low) / 2
        mid = mid.replace(second=0, microsecond=0)
        if mid <= low:
            break
        if mid.astimezone(tz).utcoffset() == before:
            low = mid
        else:
            high = mid
    return high


def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def same_wall_time_weeks_later(start: datetime, weeks: int, tz: ZoneInfo) -> datetime:
    """``start`` moved ``weeks`` weeks on in ``tz``'s wall clock: the same weekday and
    time of day, whatever the offset is then (a weekly series across a DST change)."""
    local = start.astimezone(tz)
    wall = f"{local.hour:02d}:{local.minute:02d}"
    return instant(local.date() + timedelta(weeks=weeks), wall, tz).replace(second=local.second)


def utc(value: datetime) -> datetime:
    """An aware datetime as UTC (naive ones are refused by the edges before they get here)."""
    return value.astimezone(UTC)


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime,
             gap: timedelta = timedelta(0)) -> bool:
    """Whether [a_start, a_end) and [b_start, b_end) come closer than ``gap`` (a buffer)."""
    return a_start < b_end + gap and b_start < a_end + gap
