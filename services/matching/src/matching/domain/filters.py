"""The hard filters of a search or a need, as a row mask over the columns, with what they
compute on the way (distance, BM25 relevance) for the ranking to reuse."""

from __future__ import annotations

import math

import numpy as np

from matching.domain.columns import Columns
from matching.domain.query import Query, Window
from matching.domain.text import bm25

EARTH_KM = 6371.0088
#: Cosine from which a listing answers a free-text search by meaning when no listing has its words.
MEANING_MIN = 0.35


def candidates(cols: Columns, query: Query, text_required: bool = True
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(mask, distance in km or None, BM25 relevance of ``query.q``). With ``text_required``
    a row must have one of the words; recommendations only score by them."""
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
        mask &= available_rows(cols, query.available, query.available_minutes)
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


def available_rows(cols: Columns, windows: tuple[Window, ...], minutes: int) -> np.ndarray:
    """Rows whose tutor is free for ``minutes`` (or the whole window if shorter) inside
    one of the windows; a tutor who published no availability is not."""
    hit = np.zeros(cols.size, dtype=bool)
    for tutor, theirs in cols.signals.availability.items():
        if any(min(e1, e2) - max(s1, s2) >= min(minutes, e1 - s1) for s1, e1 in windows for s2, e2 in theirs):
            hit[cols.tutor_rows.get(tutor, [])] = True
    return hit


def by_meaning(cols: Columns, mask: np.ndarray, cosine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask, relevance) when no listing has the searcher's words: the filtered rows whose
    expertise is close enough in meaning, ranked by that closeness."""
    mask = mask & cols.has_vector & (cosine >= MEANING_MIN)
    return mask, np.where(mask, cosine, 0.0).astype(float)
