"""What a caller asks for: a search (``Query``), a learning need (``Need``), weekly time
windows, and the cursors that page a search."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Literal, get_args

from matching.domain.errors import BadCursor

Sort = Literal["relevance", "rating", "price", "distance", "newest"]
SORTS: tuple[Sort, ...] = get_args(Sort)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: A weekly window: minutes from Monday 00:00 in the searcher's zone, start and end.
Window = tuple[int, int]
#: The zone a searcher's windows are in when they name none.
DEFAULT_ZONE = "UTC"


@dataclass(frozen=True)
class Query:
    subject: str | None = None
    level: str | None = None
    q: str | None = None
    min_credits: int | None = None
    max_credits: int | None = None
    mode: str | None = None
    near: tuple[float, float] | None = None
    within_km: float | None = None
    language: str | None = None
    style: str | None = None
    communication: str | None = None
    verified_only: bool = False
    #: The tutor must be bookable for ``available_minutes`` inside one of these, on one of its
    #: next occurrences (domain/availability.py), in ``time_zone`` (IANA).
    available: tuple[Window, ...] = ()
    available_minutes: int = 60
    time_zone: str = DEFAULT_ZONE
    sort: str = "relevance"
    limit: int = 20
    cursor: str | None = None


@dataclass(frozen=True)
class Need:
    goal: str
    student_id: str | None = None
    subject: str | None = None
    level: str | None = None
    mode: str | None = None
    budget_credits: int | None = None
    near: tuple[float, float] | None = None
    within_km: float | None = None
    language: str | None = None
    verified_only: bool = False
    #: Weekly windows in ``time_zone`` (IANA): how much of them the tutor is bookable scores.
    preferred: tuple[Window, ...] = ()
    time_zone: str = DEFAULT_ZONE
    limit: int = 10

    def filters(self) -> Query:
        """The search's hard filters this need asks for (the goal's words score, never exclude)."""
        return Query(subject=self.subject, level=self.level, q=self.goal, max_credits=self.budget_credits,
                     mode=self.mode, near=self.near, within_km=self.within_km, language=self.language,
                     verified_only=self.verified_only)


def parse_window(text: str) -> Window:
    """'tue 18:00-20:00' → minutes from Monday 00:00; ValueError with the reason."""
    try:
        day, span = text.strip().lower().split()
        start_s, end_s = span.split("-")
        start, end = (_minutes(x) for x in (start_s, end_s))
    except ValueError:
        raise ValueError("must look like 'tue 18:00-20:00'") from None
    if day[:3] not in DAYS:
        raise ValueError(f"day must be one of {', '.join(DAYS)}")
    if end <= start:
        raise ValueError("must end after it starts (split a window that crosses midnight)")
    offset = DAYS.index(day[:3]) * 24 * 60
    return offset + start, offset + end


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    hours, minutes = int(h), int(m)
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or hours * 60 + minutes > 24 * 60:
        raise ValueError(hhmm)
    return hours * 60 + minutes


def encode_cursor(sort: str, key: float, listing_id: str) -> str:
    """Where a page ended: its last sort key and id, so new listings never shift the next page."""
    return base64.urlsafe_b64encode(json.dumps([sort, key, listing_id]).encode()).decode()


def decode_cursor(cursor: str, sort: str) -> tuple[float, str]:
    try:
        s, key, listing_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if s != sort:
            raise BadCursor("belongs to a search with another sort order")
        return float(key), str(listing_id)
    except BadCursor:
        raise
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise BadCursor("is not a cursor this API returned") from exc
