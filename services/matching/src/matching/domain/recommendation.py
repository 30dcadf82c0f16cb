"""A learning need's ranking: a weighted sum of components, each in [0, 1] and all reported
per tutor — semantic similarity of the need and the tutor's expertise, word overlap (BM25,
normalised), rating and reliability (Bayesian, neutral until reputation and booking
publish), availability at the preferred times, price fit, distance, and the collaborative
signal of students whose choices overlap the learner's. Then one listing per tutor, and
reserved positions for new tutors who fit (fair exposure)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from matching.domain.availability import occurrences
from matching.domain.columns import Columns
from matching.domain.query import Need
from matching.domain.ranking import PRIOR_RATING, PRIOR_REVIEWS

COMPONENTS = ("semantic", "text", "rating", "reliability", "availability", "price", "distance", "collaborative")
# Measured by `make bench` (NDCG@10 on the labelled needs): word overlap helps needs that
# name the topic and hurts needs in a learner's own words, so it only breaks near-ties.
DEFAULT_WEIGHTS = {"semantic": 0.45, "text": 0.02, "rating": 0.1, "reliability": 0.05, "availability": 0.1,
                   "price": 0.1, "distance": 0.1, "collaborative": 0.1}


@dataclass
class Tuning:
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    #: A tutor whose listing is younger than this, with fewer choices than ``new_max_choices``, is new.
    new_tutor_days: float = 30.0
    new_max_choices: int = 3
    #: 1-based positions of a page kept for the best-fitting new tutors.
    exposure_positions: tuple[int, ...] = (3, 8)
    #: A new tutor takes a reserved position only if this close to the page's best fit.
    exposure_min_fit: float = 0.75
    prior_rating: float = PRIOR_RATING
    prior_reviews: float = PRIOR_REVIEWS

    def component_weights(self) -> dict[str, float]:
        return {k: float(self.weights.get(k, 0.0)) for k in COMPONENTS}


@dataclass(frozen=True)
class Scored:
    """The candidates' components and score, and what the reasons quote."""

    components: dict[str, np.ndarray]
    score: np.ndarray
    is_new: np.ndarray
    availability: np.ndarray  # per candidate: share of the preferred minutes; NaN: not known
    peers_of: dict[str, int]  # tutor → students like the learner who chose them


def evaluate(cols: Columns, idx: np.ndarray, need: Need, cosine: np.ndarray, bm25: np.ndarray,
             distance: np.ndarray | None, tuning: Tuning, now: float) -> Scored:
    """Every component for the candidates ``idx`` (``cosine`` and ``bm25`` are theirs,
    ``distance`` every row's), and the weighted score; ``now`` in seconds since the epoch."""
    t = tuning
    w = t.component_weights()
    comp: dict[str, np.ndarray] = {}
    comp["semantic"] = np.clip(cosine, 0.0, 1.0)
    top_bm25 = float(bm25.max())
    comp["text"] = bm25 / top_bm25 if top_bm25 > 0 else np.zeros(len(idx))
    reputation = cols.reputation[idx]
    # Bayesian average: a few reviews move the rating a little, many move it a lot;
    # reliability starts from a Beta(9, 1) prior (90 %).
    prior = t.prior_rating * t.prior_reviews
    comp["rating"] = (prior + reputation[:, 0]) / (t.prior_reviews + reputation[:, 1]) / 5
    comp["reliability"] = (reputation[:, 2] + 9.0) / (reputation[:, 2] + reputation[:, 3] + 10.0)
    comp["availability"], shares = availability(cols, idx, need, int(now // 60))
    credits = cols.credits[idx]
    if need.budget_credits:
        comp["price"] = 1.0 - 0.5 * np.clip(np.nan_to_num(credits, nan=0.0) / need.budget_credits, 0.0, 1.0)
    else:
        comp["price"] = np.full(len(idx), 0.5)
    if distance is not None:
        scale = need.within_km or 10.0
        comp["distance"] = np.where(np.isnan(distance[idx]), 0.3,
                                    np.exp(-np.nan_to_num(distance[idx], nan=0.0) / scale))
    else:
        comp["distance"] = np.full(len(idx), 0.5)
    comp["collaborative"], peers_of = collaborative(cols, idx, need.student_id)
    total: np.ndarray = np.sum([w[k] * comp[k] for k in COMPONENTS], axis=0)
    is_new = ((now - cols.published[idx]) < t.new_tutor_days * 86400) & (cols.choices[idx] < t.new_max_choices)
    return Scored(comp, total, is_new, shares, peers_of)


def availability(cols: Columns, idx: np.ndarray, need: Need, now: int) -> tuple[np.ndarray, np.ndarray]:
    """(component, share): the share of the minutes of the preferred windows' next occurrences
    in the learner's zone that the tutor can be booked for (domain/availability.py). The
    component is 0.5 (unknown) for a tutor who has not published availability, or when the
    learner gave no times; the share is NaN then."""
    share = np.full(len(idx), np.nan)
    if need.preferred and len(idx):
        open_time = cols.open_times(now)
        per_tutor = open_time.shares(occurrences(need.preferred, need.time_zone, now), now)
        if per_tutor is not None:
            tutors = cols.tutor_no[idx]
            share = np.where(open_time.published[tutors], np.minimum(per_tutor[tutors], 1.0), np.nan)
    return np.where(np.isnan(share), 0.5, share), share


def collaborative(cols: Columns, idx: np.ndarray, student: str | None) -> tuple[np.ndarray, dict[str, int]]:
    """Tutors chosen by students whose choices overlap the learner's (cosine over sets)."""
    signals = cols.signals
    out = np.zeros(len(idx))
    scores: dict[str, float] = defaultdict(float)
    peers_of: dict[str, int] = defaultdict(int)
    mine = signals.by_student.get(student or "", set())
    similar: dict[str, int] = defaultdict(int)
    for item in mine:
        for other in signals.by_item.get(item, ()):
            if other != student:
                similar[other] += 1
    for other, shared in similar.items():
        theirs = signals.by_student[other]
        sim = shared / math.sqrt(len(mine) * len(theirs))
        for item in theirs - mine:
            tutor = signals.item_tutor.get(item)
            if tutor:
                scores[tutor] += sim
                peers_of[tutor] += 1
    top = max(scores.values(), default=0.0)
    if top:
        position = row_positions(idx, cols.size)
        for tutor, value in scores.items():
            for row in cols.tutor_rows.get(tutor, ()):
                if position[row] >= 0:
                    out[position[row]] = value / top
    return out, peers_of


def row_positions(idx: np.ndarray, n: int) -> np.ndarray:
    """Row → position among the candidates (-1 when not a candidate)."""
    position = np.full(n, -1, dtype=np.int64)
    position[idx] = np.arange(len(idx))
    return position


def best_per_tutor(score: np.ndarray, tutor: np.ndarray, rows: np.ndarray, count: int) -> np.ndarray:
    """Up to ``count`` of ``rows`` by score (ties by position), each tutor once, with their
    best listing. Sorts only a head of the candidates unless duplicates exhaust it."""
    head = min(len(rows), max(4 * count, 64))
    while True:
        top = rows if head == len(rows) else rows[np.argpartition(-score[rows], head - 1)[:head]]
        top = top[np.lexsort((top, -score[top]))]
        _, first = np.unique(tutor[top], return_index=True)
        unique = top[np.sort(first)]
        if len(unique) >= count or head == len(rows):
            return unique[:count]
        head = min(len(rows), head * 4)


def with_exposure(score: np.ndarray, fit: np.ndarray, is_new: np.ndarray, tutor: np.ndarray, limit: int,
                  positions: tuple[int, ...], min_fit: float) -> list[tuple[int, bool]]:
    """The page by score, one listing per tutor (their best), with the reserved positions
    given to the best-scored new tutors whose fit is at least ``min_fit`` of the page's best
    fit (fair exposure that never shows a poor fit). Returns (index into the candidates,
    placed by exposure)."""
    page = best_per_tutor(score, tutor, np.arange(len(score)), limit)
    k = len(page)
    best = float(fit[page].max()) if k else 0.0
    eligible = np.flatnonzero(is_new & (fit >= min_fit * best) & ~np.isin(tutor, tutor[page]))
    waiting = best_per_tutor(score, tutor, eligible, len(positions)).tolist() if len(eligible) else []
    placed: list[tuple[int, bool]] = [(int(j), False) for j in page]
    for position, j in zip(sorted(p for p in positions if 1 <= p <= k), waiting, strict=False):
        if any(is_new[x] for x, _ in placed[position - 1:]):
            continue  # a new tutor already earned a place at or below this position
        placed.insert(position - 1, (j, True))
        placed.pop()  # the page keeps its length: the lowest-scored falls off
    return placed


def page(cols: Columns, idx: np.ndarray, scored: Scored, tuning: Tuning, limit: int) -> list[tuple[int, bool]]:
    """The page of candidates with fair exposure. Fit for exposure is how well the
    expertise matches the need (the score's other parts are mostly neutral for a newcomer),
    or the score if semantics are weighted off."""
    fit = scored.components["semantic"] if tuning.component_weights()["semantic"] > 0 else scored.score
    return with_exposure(scored.score, fit, scored.is_new, cols.tutor_no[idx], limit, tuning.exposure_positions,
                         tuning.exposure_min_fit)


def index_state(cols: Columns) -> dict[str, int]:
    """How many listings this answer ranked without their sentence vector (still waiting
    for the indexer): 0 means the semantic part saw everyone."""
    return {"pending": int((~cols.has_vector).sum())}
