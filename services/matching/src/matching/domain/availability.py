"""Tutors' availability and a searcher's weekly windows, compared as instants.

Booking publishes each tutor's whole availability: weekly windows and dated exceptions in the
tutor's own IANA zone, a minimum notice and a horizon. A searcher asks for weekly windows
("tue 18:00-20:00") in *their* zone. Both sides become instants (minutes since the epoch, UTC)
before they meet, each wall-clock window mapped through the offsets of its own zone on that
very date, so a daylight-saving change on either side, on whatever date each zone changes,
never shifts, drops or duplicates a match. What is compared:

- the searcher's window on its next ``WEEKS_AHEAD`` (4) occurrences that have not started:
  the next four dates with that weekday in the searcher's zone;
- the tutor's open time on each local date: that date's exception if there is one (no
  windows: closed), else the weekly windows of its weekday; windows that touch join (a
  session may run from one into the next, across midnight);
- only what can be booked: from ``now + min_notice`` until ``now + horizon_days``;
- a wall-clock time a spring-forward skips covers no time; one a fall-back repeats covers
  both of its instants.

Search: the tutor matches a window when, on at least one of those occurrences, one unbroken
stretch of bookable open time inside it lasts ``minutes`` (or the whole occurrence if that is
shorter). Recommendations: the share of the occurrences' minutes that are bookable.

The buffer between sessions is kept with the availability but not applied: it separates
booked sessions, and matching does not subtract bookings (yet)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import chain
from zoneinfo import ZoneInfo, available_timezones

import numpy as np

DAY = 24 * 60
#: How many occurrences of each of the searcher's weekly windows are looked at.
WEEKS_AHEAD = 4
#: Open time is indexed in pieces that never cross a boundary of this grid (UTC minutes), so a
#: question about one window reads only the pieces that start near it.
GRID = 6 * 60
#: Beyond any instant in question (the first and last offset segments are open-ended).
FOREVER = 1 << 40
_EPOCH_DAY = date(1970, 1, 1).toordinal()
#: Names the tz database lists that are not zones a person lives in.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})

#: Minutes from 00:00 of a local date: a window's start and end (``24:00`` is 1440).
Span = tuple[int, int]


class UnknownZone(ValueError):
    """Not a time zone of the tz database this process has."""


@functools.cache
def known_zones() -> frozenset[str]:
    return frozenset(available_timezones() - _NOT_ZONES)


@functools.lru_cache(maxsize=4096)
def zone(name: str) -> ZoneInfo:
    """The IANA zone called ``name`` (exactly as the tz database spells it), or UnknownZone."""
    if name not in known_zones():
        raise UnknownZone(f"{name!r} is not an IANA time zone this server knows")
    return ZoneInfo(name)


def clock_minutes(hhmm: str) -> int:
    """'18:30' → 1110; '24:00' → 1440."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def day_number(d: date) -> int:
    """Days since 1970-01-01 (a Thursday): the weekday of day n is (n + 3) % 7, Monday 0."""
    return d.toordinal() - _EPOCH_DAY


def minutes_of(moment: datetime) -> int:
    """An aware datetime as whole minutes since the epoch (UTC)."""
    return int(moment.timestamp() // 60)


def weekday_of(day: int) -> int:
    return (day + 3) % 7


@dataclass(frozen=True)
class Availability:
    """One tutor's availability as booking last published it (times are the tutor's wall
    clock in ``time_zone``). Windows that do not end after they start are left out."""

    time_zone: str
    #: (weekday 0 = Monday, start, end)
    weekly: tuple[tuple[int, int, int], ...] = ()
    #: (local date as a day number, that date's windows instead of the weekly ones)
    exceptions: tuple[tuple[int, tuple[Span, ...]], ...] = ()
    min_notice_minutes: int = 0
    horizon_days: int = 60
    buffer_minutes: int = 0


# -- a zone's offsets, and wall-clock spans as instants ---------------------------------------


def _offset(tz: ZoneInfo, minute: int) -> int:
    """The zone's UTC offset (minutes east) at a UTC minute."""
    offset = datetime.fromtimestamp(minute * 60, UTC).astimezone(tz).utcoffset()
    assert offset is not None
    return int(offset.total_seconds() // 60)


@functools.lru_cache(maxsize=4096)
def segments(name: str, start: int, end: int) -> tuple[tuple[int, int, int], ...]:
    """The zone's offsets from UTC minute ``start`` to ``end``: ``(from, to, offset)`` for
    each stretch of one offset, the first from -FOREVER and the last to +FOREVER. Every
    transition is found to the minute (offsets are sampled every 3 hours, then bisected)."""
    tz = zone(name)
    found: list[tuple[int, int, int]] = []
    since, current = -FOREVER, _offset(tz, start)
    at = start
    while at < end:
        ahead = min(at + 180, end)
        if _offset(tz, ahead) == current:
            at = ahead
            continue
        before, after = at, ahead  # the offset changes after ``before``, by ``after``
        while after - before > 1:
            middle = (before + after) // 2
            if _offset(tz, middle) == current:
                before = middle
            else:
                after = middle
        found.append((since, after, current))
        since, current, at = after, _offset(tz, after), after
    found.append((since, FOREVER, current))
    return tuple(found)


def _day_range(start: int, end: int) -> tuple[int, int]:
    """A range of UTC minutes widened to whole days and a margin, so one day's questions share
    one computation of the offsets."""
    return (start // DAY - 2) * DAY, (end // DAY + 3) * DAY


def wall_to_instants(segs: tuple[tuple[int, int, int], ...], start: int, end: int) -> list[Span]:
    """The instants (UTC minutes) whose wall-clock time lies in [start, end) (local minutes since
    the epoch, as if the wall clock were UTC), as disjoint spans in order: none for a time a
    spring-forward skips, two for a span inside the hour a fall-back repeats."""
    spans: list[Span] = []
    for since, until, offset in segs:
        a, b = max(since, start - offset), min(until, end - offset)
        if a < b:
            if spans and spans[-1][1] == a:
                spans[-1] = (spans[-1][0], b)
            else:
                spans.append((a, b))
    return spans


# -- the searcher's side --------------------------------------------------------------------


def occurrences(windows: Iterable[Span], zone_name: str, now: int, weeks: int = WEEKS_AHEAD) -> list[list[Span]]:
    """Each weekly window (minutes from Monday 00:00 in ``zone_name``) on its next ``weeks``
    dates that have not started by ``now`` (UTC minutes): per occurrence, its instants."""
    segs = segments(zone_name, *_day_range(now, now + (7 * weeks + 9) * DAY))
    local_now = now + next(offset for since, until, offset in segs if since <= now < until)
    today = local_now // DAY
    found = []
    for week_start, week_end in windows:
        weekday, start = divmod(week_start, DAY)
        end = week_end - weekday * DAY
        first = today + (weekday - weekday_of(today)) % 7
        if first * DAY + start <= local_now:
            first += 7
        for k in range(weeks):
            day = first + 7 * k
            found.append(wall_to_instants(segs, day * DAY + start, day * DAY + end))
    return found


# -- the tutors' side: every tutor's open time, indexed ---------------------------------------


@dataclass(frozen=True, eq=False)
class OpenTimes:
    """Every tutor's open time over UTC minutes [origin, end), as pieces that never cross a
    GRID boundary, grouped by the GRID cell they lie in (``cells[k]:cells[k + 1]`` are the
    pieces of cell k; times in minutes from ``origin``). A piece belongs to one unbroken
    ``stretch`` of its tutor's open time (windows that touch are one stretch). Tutors are the
    directory's tutor numbers; ``published`` says who published availability at all."""

    origin: int
    end: int
    cells: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    stretch: np.ndarray
    owner: np.ndarray
    notice: np.ndarray
    horizon: np.ndarray
    published: np.ndarray

    def _bookable(self, span: Span, now: int) -> tuple[slice, np.ndarray]:
        """(the pieces that may overlap ``span``, how many of their minutes inside it can be
        booked at ``now``: after the tutor's notice, before their horizon)."""
        lo, hi = span[0] - self.origin, span[1] - self.origin
        last_cell = len(self.cells) - 1
        a = int(self.cells[min(max(lo // GRID, 0), last_cell)])
        b = int(self.cells[min(max((hi - 1) // GRID + 1, 0), last_cell)])
        owner = self.owner[a:b]
        since = now - self.origin
        first = np.maximum(np.maximum(self.starts[a:b], lo), since + self.notice[owner])
        last = np.minimum(np.minimum(self.ends[a:b], hi), since + self.horizon[owner])
        return slice(a, b), np.maximum(last - first, 0)

    def fits(self, occurrences: list[list[Span]], now: int, minutes: int) -> np.ndarray:
        """Per tutor: bookable for ``minutes`` without a break (or for a whole piece of an
        occurrence that is shorter) on at least one of the occurrences."""
        hit = np.zeros(len(self.published), dtype=bool)
        for occurrence in occurrences:
            for span in occurrence:
                rows, length = self._bookable(span, now)
                need = min(minutes, span[1] - span[0])
                owner = self.owner[rows]
                hit[owner[length >= need]] = True
                # A stretch cut by the grid: its pieces inside the span add up to one unbroken time.
                cut = (length > 0) & (length < need)
                if cut.any():
                    _, first, inverse = np.unique(self.stretch[rows][cut], return_index=True,
                                                          return_inverse=True)
                    total = np.bincount(inverse, weights=length[cut])
                    hit[owner[cut][first[total >= need]]] = True
        return hit

    def shares(self, occurrences: list[list[Span]], now: int) -> np.ndarray | None:
        """Per tutor: the share of the occurrences' minutes they can be booked for (None when
        the occurrences hold no time at all)."""
        covered = np.zeros(len(self.published))
        wanted = 0
        for occurrence in occurrences:
            for span in occurrence:
                wanted += span[1] - span[0]
                rows, length = self._bookable(span, now)
                covered += np.bincount(self.owner[rows], weights=length, minlength=len(covered))
        return covered / wanted if wanted else None


def open_times(availability: Iterable[tuple[int, Availability]], tutors: int, origin: int, end: int) -> OpenTimes:
    """The open time of every (tutor number, availability) over UTC minutes [origin, end)."""
    # One pass over the tutors into flat lists; the rest is array arithmetic.
    numbers: list[int] = []
    notices: list[int] = []
    horizons: list[int] = []
    rule_count: list[int] = []
    rules: list[int] = []  # weekday, start, end, ...
    zone_of: dict[str, int] = {}
    zones: list[int] = []
    excepted: list[tuple[int, int, tuple[Span, ...]]] = []
    for number, av in availability:
        numbers.append(number)
        notices.append(av.min_notice_minutes)
        horizons.append(av.horizon_days * DAY)
        zones.append(zone_of.setdefault(av.time_zone, len(zone_of)))
        rule_count.append(len(av.weekly))
        rules.extend(chain.from_iterable(av.weekly))
        if av.exceptions:
            excepted.extend((number, day, spans) for day, spans in av.exceptions)
    who = np.array(numbers, dtype=np.int64)
    published = np.zeros(tutors, dtype=bool)
    published[who] = True
    notice = np.zeros(tutors, dtype=np.int64)
    notice[who] = notices
    horizon = np.zeros(tutors, dtype=np.int64)
    horizon[who] = horizons
    tutor_zone = np.full(tutors, -1, dtype=np.int64)
    tutor_zone[who] = zones
    table = np.array(rules, dtype=np.int64).reshape(-1, 3)
    rule_owner = np.repeat(who, np.array(rule_count, dtype=np.int64))
    # Local dates whose wall-clock windows can reach into [origin, end) in any zone (±14 h).
    days = np.arange(origin // DAY - 1, end // DAY + 2, dtype=np.int64)
    wall = _local_windows(rule_owner, tutor_zone, table, excepted, days)
    owners, starts, ends = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for name, code in zone_of.items():
        mine = wall[0] == code
        owner, wall_start, wall_end = wall[1][mine], wall[2][mine], wall[3][mine]
        for since, until, offset in segments(name, *_day_range(origin, end)):
            first = np.maximum(np.maximum(wall_start - offset, since), origin)
            last = np.minimum(np.minimum(wall_end - offset, until), end)
            keep = first < last
            owners.append(owner[keep])
            starts.append(first[keep] - origin)
            ends.append(last[keep] - origin)
    owner, start, stop = _join(*(np.concatenate(x) for x in (owners, starts, ends)))
    return _pieces(owner, start, stop, origin, end, notice, horizon, published)


def _local_windows(rule_owner: np.ndarray, tutor_zone: np.ndarray, table: np.ndarray,
                   excepted: list[tuple[int, int, tuple[Span, ...]]], days: np.ndarray) -> tuple[np.ndarray, ...]:
    """(zone, tutor, wall start, wall end) of every window on ``days``, wall times as local
    minutes since the epoch (as if the wall clock were UTC): the weekly rules (``table``:
    weekday, start, end of ``rule_owner``'s rules), except on a tutor's excepted dates, which
    take their exception's windows instead. ``tutor_zone``: each tutor's zone's code."""
    rule_zone = tutor_zone[rule_owner]
    day_weekday = (days + 3) % 7  # as weekday_of
    parts: list[list[np.ndarray]] = [[], [], [], [], []]
    for weekday in range(7):
        mine = np.flatnonzero(table[:, 0] == weekday)
        dates = days[day_weekday == weekday]
        if len(mine) and len(dates):
            for i, column in enumerate((rule_zone[mine], rule_owner[mine], table[mine, 1], table[mine, 2])):
                parts[i].append(np.repeat(column, len(dates)))
            parts[4].append(np.tile(dates, len(mine)))
    z, t, s, e, d = (np.concatenate(x) if x else np.zeros(0, dtype=np.int64) for x in parts)
    first, last = int(days[0]), int(days[-1])
    excepted = [x for x in excepted if first <= x[1] <= last]
    if excepted:
        width = last - first + 1
        closed = np.array([number * width + day - first for number, day, _ in excepted], dtype=np.int64)
        keep = ~np.isin(t * width + d - first, closed)
        extra = np.array([(number, day, a, b) for number, day, spans in excepted for a, b in spans],
                         dtype=np.int64).reshape(-1, 4)
        extra = np.column_stack((tutor_zone[extra[:, 0]], extra))
        z, t, d, s, e = (np.concatenate((x[keep], extra[:, i])) for i, x in enumerate((z, t, d, s, e)))
    return z, t, d * DAY + s, d * DAY + e


def _join(owner: np.ndarray, start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each tutor's spans (minutes from the index's origin, under 2**24) joined where they
    touch or overlap: (tutor, start, end) per stretch."""
    if not len(owner):
        return owner, start, stop
    # By tutor, then start.
    order = np.argsort((owner << 24) | start)
    owner, start, stop = owner[order], start[order], stop[order]
    # The furthest end so far within the same tutor.
    reach = np.maximum.accumulate((owner << 24) | stop) - (owner << 24)
    opens = np.ones(len(owner), dtype=bool)
    opens[1:] = (owner[1:] != owner[:-1]) | (start[1:] > reach[:-1])
    heads = np.flatnonzero(opens)
    return owner[heads], start[heads], np.maximum.reduceat(stop, heads)


def _pieces(owner: np.ndarray, start: np.ndarray, stop: np.ndarray, origin: int, end: int, notice: np.ndarray,
            horizon: np.ndarray, published: np.ndarray) -> OpenTimes:
    """Stretches (minutes from ``origin``) cut at the GRID's boundaries, grouped by cell."""
    first_cell, last_cell = start // GRID, (stop - 1) // GRID
    count = last_cell - first_cell + 1
    stretch = np.repeat(np.arange(len(owner), dtype=np.int64), count)
    cell = first_cell[stretch] + np.arange(len(stretch)) - np.repeat(np.cumsum(count) - count, count)
    n_cells = (end - origin + GRID - 1) // GRID
    order = np.argsort(cell.astype(np.int16), kind="stable")  # a radix sort: cells are few
    cell = cell[order]
    stretch = stretch[order]
    return OpenTimes(
        origin=origin, end=end, cells=np.searchsorted(cell, np.arange(n_cells + 1)),
        starts=np.maximum(start[stretch], cell * GRID).astype(np.int32),
        ends=np.minimum(stop[stretch], (cell + 1) * GRID).astype(np.int32),
        stretch=stretch.astype(np.int32), owner=owner[stretch].astype(np.int32), notice=notice, horizon=horizon,
        published=published)
