"""The hard filters of a search or a need, as a row mask over the columns, with what they
compute on the way (distance, BM25 relevance) for the ranking to reuse."""

from __future__ import annotations

import math

import numpy as np

from matching.domain.availability import occurrences
from matching.domain.columns import Columns
from matching.domain.query import Query
from matching.domain.text import bm25

EARTH_KM = 6371.0088
#: Cosine from which a listing answers a free-text search by meaning when no listing has its words.
MEANING_MIN = 0.35


def candidates(cols: Columns, query: Query, *, now: int, text_required: bool = True
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(mask, distance in km or None, BM25 relevance of ``query.q``). With ``text_required``
    a row must have one of the words; recommendations only score by them. ``now`` (UTC
    minutes since the epoch) is when the availability asked for must be bookable from."""
    n = cols.size
    mask = np.ones(n, dtype=bool)

    def require(key: str) -> None:
        nonlocal mask
        hit = np.zeros(n, dtype=bool)
        ids = cols.postings.get(key)
        if ids is not None:
            hit[ids] = True
        mask &= hit

    if query.subject and query.level:
        require(f"level:{query.subject}:{query.level}")
    elif query.subject:
        require(f"subject:{query.subject}")
    elif query.level:
        require(f"anylevel:{query.level}")
    for facet, value in (("mode", query.mode), ("lang", query.language), ("style", query.style),
                         ("comm", query.communication)):
        if value:
            require(f"{facet}:{value.split('-')[0] if facet == 'lang' else value}")
    if query.verified_only:
        require("verified")
    if query.available:
        mask &= available_rows(cols, query, now)
    if query.min_credits is not None:
        mask &= np.nan_to_num(cols.credits, nan=-1) >= query.min_credits
    if query.max_credits is not None:
        mask &= np.nan_to_num(cols.credits, nan=math.inf) <= query.max_credits

    distance = None
    if query.near is not None:
        distance = distance_km(cols, query.near)
        if query.within_km is not None:
            # The tutor's travel radius counts: they come to you that far.
            mask &= np.nan_to_num(distance, nan=math.inf) <= query.within_km + cols.radius

    relevance = np.zeros(n)
    if query.q:
        relevance, matched = bm25(query.q, cols.text, cols.lengths)
        if text_required:
            mask &= matched
    return mask, distance, relevance


def distance_km(cols: Columns, point: tuple[float, float]) -> np.ndarray:
    """Great-circle distance of every row's place from ``point`` (NaN: no place)."""
    lat0, lon0 = math.radians(point[0]), math.radians(point[1])
    dlat, dlon = cols.lat - lat0, cols.lon - lon0
    h = np.sin(dlat / 2) ** 2 + math.cos(lat0) * np.cos(cols.lat) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


def available_rows(cols: Columns, query: Query, now: int) -> np.ndarray:
    """Rows whose tutor can be booked for ``available_minutes`` without a break (or a whole
    occurrence if shorter) inside one of the windows, on one of its next occurrences in the
    searcher's zone (domain/availability.py); a tutor who published no availability cannot."""
    if not cols.size:
        return np.zeros(0, dtype=bool)
    wanted = occurrences(query.available, query.time_zone, now)
    return cols.open_times(now).fits(wanted, now, query.available_minutes)[cols.tutor_no]


def by_meaning(cols: Columns, mask: np.ndarray, cosine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask, relevance) when no listing has the searcher's words: the filtered rows whose
    expertise is close enough in meaning, ranked by that closeness."""
    mask = mask & cols.has_vector & (cosine >= MEANING_MIN)
    return mask, np.where(mask, cosine, 0.0).astype(float)
