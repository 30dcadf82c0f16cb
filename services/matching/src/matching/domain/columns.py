"""The directory as columns: one row per searchable listing, numpy arrays for what is
filtered and ranked, inverted indexes for facets and words, and the small per-tutor and
per-student signals the recommendations read. A snapshot: built whole, never changed in
place, so a query may read it without a lock while the next one is built (the tutors' open
time is worked out from their availability for the day of the first question that needs it,
and kept with the snapshot for that day)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matching.domain.availability import DAY, WEEKS_AHEAD, Availability, OpenTimes, open_times
from matching.domain.listing import Entry

#: (kind, id) of something a student chose, e.g. ("course", "…")
Item = tuple[str, str]


@dataclass(frozen=True)
class Signals:
    #: tutor → (rating sum, rating count, sessions completed, sessions missed)
    tutor: dict[str, tuple[float, int, int, int]] = field(default_factory=dict)
    #: tutor → their availability as booking last published it
    availability: dict[str, Availability] = field(default_factory=dict)
    courses: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_student: dict[str, set[Item]] = field(default_factory=dict)
    by_item: dict[Item, set[str]] = field(default_factory=dict)
    item_tutor: dict[Item, str] = field(default_factory=dict)

    @classmethod
    def of(cls, tutor: dict[str, tuple[float, int, int, int]], availability: dict[str, Availability],
           courses: dict[str, dict[str, Any]], interactions: Iterable[tuple[str, str, str, str | None]]) -> Signals:
        """From the read model's tables; ``interactions`` are (student, item kind, item id, tutor)."""
        by_student: dict[str, set[Item]] = defaultdict(set)
        by_item: dict[Item, set[str]] = defaultdict(set)
        item_tutor: dict[Item, str] = {}
        for student, kind, item, who in interactions:
            by_student[student].add((kind, item))
            by_item[(kind, item)].add(student)
            if who:
                item_tutor[(kind, item)] = who
        return cls(tutor, availability, courses, dict(by_student), dict(by_item), item_tutor)


@dataclass(frozen=True, eq=False)
class Columns:
    entries: list[Entry]
    ids: np.ndarray
    #: an integer rank of the id: tie-breaks sort by it much faster than by strings
    rank: np.ndarray
    credits: np.ndarray  # NaN: no credit price
    lat: np.ndarray  # radians; NaN: no place
    lon: np.ndarray
    radius: np.ndarray  # how far the tutor travels, km
    published: np.ndarray  # seconds since the epoch
    postings: dict[str, np.ndarray]  # facet → rows
    text: dict[str, tuple[np.ndarray, np.ndarray]]  # word → (rows, term frequencies)
    lengths: np.ndarray  # words per row
    vectors: np.ndarray  # sentence vectors, zero until indexed
    has_vector: np.ndarray
    reputation: np.ndarray  # per row: rating sum, rating count, completed, missed
    choices: np.ndarray  # how often students chose the row's tutor
    tutor_no: np.ndarray  # a number per tutor: one listing each in recommendations
    tutor_rows: dict[str, list[int]]
    signals: Signals
    _open: list[OpenTimes] = field(default_factory=list)
    _open_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def size(self) -> int:
        return len(self.entries)

    def open_times(self, now: int) -> OpenTimes:
        """The open time of the listed tutors who published availability, from the start of
        ``now``'s UTC day (minutes) to past the last occurrence a question may look at;
        built once a day per snapshot."""
        origin = now // DAY * DAY
        with self._open_lock:
            if not self._open or self._open[0].origin != origin:
                number = {tutor: int(self.tutor_no[rows[0]]) for tutor, rows in self.tutor_rows.items()}
                listed = ((number[t], av) for t, av in self.signals.availability.items() if t in number)
                tutors = int(self.tutor_no.max()) + 1 if self.size else 0
                self._open[:] = [open_times(listed, tutors, origin, origin + (7 * WEEKS_AHEAD + 3) * DAY)]
            return self._open[0]


def build_columns(entries: list[Entry], vectors: np.ndarray, has_vector: np.ndarray, signals: Signals) -> Columns:
    """The columns of ``entries``; ``vectors`` holds row i's sentence vector where ``has_vector[i]``."""
    n = len(entries)
    postings: dict[str, list[int]] = defaultdict(list)
    text: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i, e in enumerate(entries):
        for k in e.facets:
            postings[k].append(i)
        for w, tf in e.terms:
            text[w].append((i, tf))
    # Per-row tutor signals as columns, so ranking 50,000 candidates is array arithmetic.
    chosen: dict[str, int] = defaultdict(int)
    for tutor in signals.item_tutor.values():
        chosen[tutor] += 1
    tutor_rows: dict[str, list[int]] = defaultdict(list)
    reputation = np.zeros((n, 4), dtype=float)
    choices = np.zeros(n, dtype=float)
    tutor_no = np.zeros(n, dtype=np.int64)
    numbers: dict[str, int] = {}
    for i, e in enumerate(entries):
        tutor_rows[e.tutor_id].append(i)
        tutor_no[i] = numbers.setdefault(e.tutor_id, len(numbers))
        if e.tutor_id in signals.tutor:
            reputation[i] = signals.tutor[e.tutor_id]
        choices[i] = chosen.get(e.tutor_id, 0)
    ids = np.array([e.listing_id for e in entries], dtype=str)
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(ids, kind="stable")] = np.arange(n)
    return Columns(
        entries=entries, ids=ids, rank=rank,
        credits=np.array([e.credits for e in entries], dtype=float),
        lat=np.radians(np.array([e.lat for e in entries], dtype=float)),
        lon=np.radians(np.array([e.lon for e in entries], dtype=float)),
        radius=np.array([e.radius for e in entries], dtype=float),
        published=np.array([e.published for e in entries], dtype=float),
        postings={k: np.array(v, dtype=np.int64) for k, v in postings.items()},
        text={w: (np.array([i for i, _ in v], dtype=np.int64), np.array([tf for _, tf in v], dtype=float))
              for w, v in text.items()},
        lengths=np.array([e.length for e in entries], dtype=float),
        vectors=vectors, has_vector=has_vector, reputation=reputation, choices=choices, tutor_no=tutor_no,
        tutor_rows=dict(tutor_rows), signals=signals)
