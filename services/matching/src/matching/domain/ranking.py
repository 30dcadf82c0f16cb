"""The order of a search's results and its pages: one sort key per candidate, ties broken
by listing id, and a cursor (the last key and id) so a page never shifts when listings
arrive between requests."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from matching.domain.columns import Columns
from matching.domain.errors import Invalid
from matching.domain.query import SORTS, Query, decode_cursor, encode_cursor

#: The Bayesian prior for ratings: 4.2 stars as if from 5 reviews (shared with recommendations).
PRIOR_RATING, PRIOR_REVIEWS = 4.2, 5.0


@dataclass(frozen=True)
class SearchWeights:
    """The relevance order: text relevance, less a little for price and distance."""

    text: float = 1.0
    price: float = 0.2
    distance: float = 0.3


def sort_of(query: Query, distance: np.ndarray | None) -> str:
    sort = query.sort if query.sort in SORTS else "relevance"
    if sort == "distance" and distance is None:
        raise Invalid("sort", "sort=distance needs near=lat,lon")
    return sort


def sort_key(cols: Columns, idx: np.ndarray, sort: str, query: Query, relevance: np.ndarray,
             distance: np.ndarray | None, weights: SearchWeights) -> np.ndarray:
    """Ascending keys for the candidates ``idx`` (best first)."""
    credits = cols.credits
    if sort == "relevance":
        score = weights.text * relevance[idx]
        if distance is not None:
            score -= weights.distance * np.log1p(np.nan_to_num(distance[idx], nan=1000.0))
        if query.max_credits:
            score -= weights.price * np.nan_to_num(credits[idx], nan=0) / max(query.max_credits, 1)
        return -score
    if sort == "rating":
        reputation = cols.reputation[idx]
        return -(PRIOR_RATING * PRIOR_REVIEWS + reputation[:, 0]) / (PRIOR_REVIEWS + reputation[:, 1])
    if sort == "price":
        return np.nan_to_num(credits[idx], nan=math.inf)
    if sort == "distance":
        assert distance is not None  # sort_of refuses it without a point
        return np.nan_to_num(distance[idx], nan=math.inf)
    return -cols.published[idx]  # newest


def page(cols: Columns, idx: np.ndarray, key: np.ndarray, sort: str, cursor: str | None, limit: int
         ) -> tuple[np.ndarray, str | None]:
    """(positions in ``idx`` of the page after ``cursor``, in order; the next page's cursor)."""
    ids = cols.ids[idx]
    order = np.lexsort((cols.rank[idx], key)) if len(idx) else np.zeros(0, dtype=np.int64)
    after = decode_cursor(cursor, sort) if cursor else None
    if after is not None and len(order):
        after_key, after_id = after
        k, lid = key[order], ids[order]
        order = order[(k > after_key) | ((k == after_key) & (lid > after_id))]
    shown = order[:limit]
    next_cursor = None
    if len(order) > limit and len(shown):
        last = shown[-1]
        next_cursor = encode_cursor(sort, float(key[last]), str(ids[last]))
    return shown, next_cursor
