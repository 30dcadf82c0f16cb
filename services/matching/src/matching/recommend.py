"""Recommendations for a learning need: the directory's hard filters, then a ranked list
with the reasons for each tutor, and peer recommendations ("students like you chose …").

The score is a weighted sum of components, each in [0, 1], all reported per tutor:
semantic similarity between the need and the tutor's expertise (all-MiniLM-L6-v2), word
overlap (BM25, normalised), rating and reliability (Bayesian, neutral until reputation and
booking publish), availability overlap with the preferred times, price fit, distance, and
the collaborative signal of students whose choices overlap the learner's. Weights come
from configuration. New tutors who fit the need get reserved positions (fair exposure)."""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from matching.directory import PRIOR_RATING, PRIOR_REVIEWS, Directory, Entry, Query, words
from matching.embedding import Embedder

COMPONENTS = ("semantic", "text", "rating", "reliability", "availability", "price", "distance", "collaborative")
# Measured by `make bench` (NDCG@10 on the labelled needs): word overlap helps needs that
# name the topic and hurts needs in a learner's own words, so it only breaks near-ties.
DEFAULT_WEIGHTS = {"semantic": 0.45, "text": 0.02, "rating": 0.1, "reliability": 0.05, "availability": 0.1,
                   "price": 0.1, "distance": 0.1, "collaborative": 0.1}
#: Cosine between a goal and a topic name from which the reasons name the topic.
TOPIC_MATCH = 0.45
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


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
    #: Weekly windows in minutes from Monday 00:00.
    preferred: tuple[tuple[int, int], ...] = ()
    limit: int = 10


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


class Recommender:
    def __init__(self, directory: Directory, embedder: Embedder, tuning: Tuning | None = None) -> None:
        self.directory = directory
        self.embedder = embedder
        self.tuning = tuning or Tuning()

    def recommend(self, need: Need) -> dict[str, Any]:
        t = self.tuning
        w = {k: float(t.weights.get(k, 0.0)) for k in COMPONENTS}
        cols = self.directory.snapshot()
        entries: list[Entry] = cols["entries"]
        query = Query(subject=need.subject, level=need.level, q=need.goal, max_credits=need.budget_credits,
                      mode=need.mode, near=need.near, within_km=need.within_km, language=need.language,
                      verified_only=need.verified_only)
        mask, distance, bm25 = self.directory.candidates(cols, query, text_required=False)
        signals = cols["signals"]
        for row in cols["tutor_rows"].get(need.student_id or "", ()):
            mask[row] = False  # a tutor looking for help is not recommended to themselves
        idx = np.flatnonzero(mask)
        if not len(idx):
            return {"items": [], "total": 0, "weights": w, "index": _index_state(cols)}

        need_vector = self.embedder.encode_one(need.goal)
        # One pass over the whole matrix beats gathering the candidates' rows first.
        cosine = (cols["vectors"] @ need_vector)[idx]
        has_vector = cols["has_vector"][idx]
        comp: dict[str, np.ndarray] = {}
        comp["semantic"] = np.clip(cosine, 0.0, 1.0)
        top_bm25 = float(bm25[idx].max())
        comp["text"] = bm25[idx] / top_bm25 if top_bm25 > 0 else np.zeros(len(idx))
        reputation = cols["reputation"][idx]
        # Bayesian average: a few reviews move the rating a little, many move it a lot;
        # reliability starts from a Beta(9, 1) prior (90 %).
        prior = t.prior_rating * t.prior_reviews
        comp["rating"] = (prior + reputation[:, 0]) / (t.prior_reviews + reputation[:, 1]) / 5
        comp["reliability"] = (reputation[:, 2] + 9.0) / (reputation[:, 2] + reputation[:, 3] + 10.0)
        comp["availability"], overlap = self._availability(idx, cols, signals, need.preferred)
        credits = cols["credits"][idx]
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
        comp["collaborative"], peers_of = self._collaborative(idx, cols, signals, need.student_id)
        score: np.ndarray = np.sum([w[k] * comp[k] for k in COMPONENTS], axis=0)
        is_new = ((time.time() - cols["published"][idx]) < t.new_tutor_days * 86400) \
            & (cols["choices"][idx] < t.new_max_choices)
        # Fit for exposure is how well the expertise matches the need (the score's other
        # parts are mostly neutral for a newcomer), or the score if semantics are weighted off.
        fit = comp["semantic"] if w["semantic"] > 0 else score
        page = _with_exposure(score, fit, is_new, cols["tutor_no"][idx], need.limit, t.exposure_positions,
                              t.exposure_min_fit)
        goal_words = set(words(need.goal))

        def topic_fit(topic: str) -> float | None:
            vector = self.directory.vector_of(topic)
            return None if vector is None else float(vector.astype(np.float32) @ need_vector)
        items = []
        for rank, (j, exposure) in enumerate(page, start=1):
            e = entries[idx[j]]
            doc = json.loads(e.doc_json)
            parts = {k: round(float(comp[k][j]), 4) for k in COMPONENTS}
            item = {
                "rank": rank, "listing_id": e.listing_id, "tutor_id": e.tutor_id, "display_name": e.display_name,
                "headline": e.headline, "verified": e.verified, "title": doc.get("title"),
                "subjects": doc.get("subjects"), "rate": doc.get("rate"), "modes": doc.get("modes"),
                "score": round(float(score[j]), 4), "components": parts,
                "similarity": round(float(cosine[j]), 4) if has_vector[j] else None,
                "new_tutor": bool(is_new[j]), "exposure_slot": exposure,
                "why": _why(doc, e, need, goal_words, float(cosine[j]) if has_vector[j] else None,
                            credits[j], None if distance is None else float(distance[idx[j]]),
                            tuple(reputation[j]), overlap.get(int(j)), peers_of.get(e.tutor_id, 0),
                            bool(is_new[j]), exposure, topic_fit),
            }
            if distance is not None and not math.isnan(distance[idx[j]]):
                item["distance_km"] = round(float(distance[idx[j]]), 2)
            items.append(item)
        return {"items": items, "total": len(idx), "weights": w,
                "index": _index_state(cols)}

    # -- components ----------------------------------------------------------------------

    def _availability(self, idx: np.ndarray, cols: dict[str, Any], signals: dict[str, Any],
                      preferred: tuple[tuple[int, int], ...]) -> tuple[np.ndarray, dict[int, float]]:
        """Share of the preferred minutes the tutor is available; 0.5 (unknown) for a tutor
        who has not published availability, or when the learner gave no times."""
        out = np.full(len(idx), 0.5)
        shares: dict[int, float] = {}
        wanted = sum(end - start for start, end in preferred)
        if not wanted:
            return out, shares
        position = _positions(idx, len(cols["entries"]))
        for tutor, theirs in signals.get("availability", {}).items():
            covered = sum(max(0, min(e1, e2) - max(s1, s2)) for s1, e1 in preferred for s2, e2 in theirs)
            for row in cols["tutor_rows"].get(tutor, ()):
                j = int(position[row])
                if j >= 0:
                    shares[j] = out[j] = min(1.0, covered / wanted)
        return out, shares

    def _collaborative(self, idx: np.ndarray, cols: dict[str, Any], signals: dict[str, Any], student: str | None
                       ) -> tuple[np.ndarray, dict[str, int]]:
        """Tutors chosen by students whose choices overlap the learner's (cosine over sets)."""
        out = np.zeros(len(idx))
        scores: dict[str, float] = defaultdict(float)
        peers_of: dict[str, int] = defaultdict(int)
        by_student, by_item, item_tutor = (signals.get(k, {}) for k in ("by_student", "by_item", "item_tutor"))
        mine = by_student.get(student or "", set())
        similar: dict[str, int] = defaultdict(int)
        for item in mine:
            for other in by_item.get(item, ()):
                if other != student:
                    similar[other] += 1
        for other, shared in similar.items():
            theirs = by_student[other]
            sim = shared / math.sqrt(len(mine) * len(theirs))
            for item in theirs - mine:
                tutor = item_tutor.get(item)
                if tutor:
                    scores[tutor] += sim
                    peers_of[tutor] += 1
        top = max(scores.values(), default=0.0)
        if top:
            position = _positions(idx, len(cols["entries"]))
            for tutor, value in scores.items():
                for row in cols["tutor_rows"].get(tutor, ()):
                    if position[row] >= 0:
                        out[position[row]] = value / top
        return out, peers_of

    # -- peers ---------------------------------------------------------------------------

    def peers(self, student: str, limit: int = 10) -> dict[str, Any]:
        """What students with overlapping choices chose next; the most chosen when the
        learner has no history yet (said so in ``basis``)."""
        signals = self.directory.snapshot()["signals"]
        by_student, by_item = signals.get("by_student", {}), signals.get("by_item", {})
        courses = signals.get("courses", {})
        mine = by_student.get(student, set())
        scored: dict[tuple[str, str], float] = defaultdict(float)
        via: dict[tuple[str, str], set[str]] = defaultdict(set)
        shared_items: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
        for item in mine:
            for other in by_item.get(item, ()):
                if other == student:
                    continue
                theirs = by_student[other]
                sim = len(mine & theirs) / math.sqrt(len(mine) * len(theirs))
                for candidate in theirs - mine:
                    if other not in via[candidate]:
                        scored[candidate] += sim
                    via[candidate].add(other)
                    shared_items[candidate].add(item)
        basis = "peers"
        if not scored:
            basis = "popular"
            scored = {item: float(len(students)) for item, students in by_item.items() if item not in mine}
        items = []
        for item, value in sorted(scored.items(), key=lambda kv: (-kv[1], kv[0])):
            kind, item_id = item
            if kind != "course" or item_id not in courses or courses[item_id]["creator_id"] == student:
                continue  # retired courses and one's own are not suggested
            course = courses[item_id]
            if basis == "peers":
                n = len(via[item])
                shared = sorted(courses[i]["title"] for k, i in shared_items[item] if k == "course" and i in courses)
                why = (f"{n} student{'s' if n != 1 else ''} who also took {_join(shared)} "
                       f"enrolled in this") if shared else f"{n} students with choices like yours enrolled in this"
            else:
                n = len(by_item.get(item, ()))
                why = f"Popular: {n} student{'s' if n != 1 else ''} enrolled"
            items.append({"kind": "course", **course, "score": round(value, 4), "why": why})
            if len(items) >= limit:
                break
        return {"basis": basis, "items": items}


def _index_state(cols: dict[str, Any]) -> dict[str, int]:
    """How many listings this answer ranked without their sentence vector (still waiting
    for the indexer): 0 means the semantic part saw everyone."""
    return {"pending": int((~cols["has_vector"]).sum())}


def _positions(idx: np.ndarray, n: int) -> np.ndarray:
    """Row → position among the candidates (-1 when not a candidate)."""
    position = np.full(n, -1, dtype=np.int64)
    position[idx] = np.arange(len(idx))
    return position


def _best_per_tutor(score: np.ndarray, tutor: np.ndarray, rows: np.ndarray, count: int) -> np.ndarray:
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


def _with_exposure(score: np.ndarray, fit: np.ndarray, is_new: np.ndarray, tutor: np.ndarray, limit: int,
                   positions: tuple[int, ...], min_fit: float) -> list[tuple[int, bool]]:
    """The page by score, one listing per tutor (their best), with the reserved positions
    given to the best-scored new tutors whose fit is at least ``min_fit`` of the page's best
    fit (fair exposure that never shows a poor fit). Returns (index into the candidates,
    placed by exposure)."""
    page = _best_per_tutor(score, tutor, np.arange(len(score)), limit)
    k = len(page)
    best = float(fit[page].max()) if k else 0.0
    eligible = np.flatnonzero(is_new & (fit >= min_fit * best) & ~np.isin(tutor, tutor[page]))
    waiting = _best_per_tutor(score, tutor, eligible, len(positions)).tolist() if len(eligible) else []
    placed: list[tuple[int, bool]] = [(int(j), False) for j in page]
    for position, j in zip(sorted(p for p in positions if 1 <= p <= k), waiting, strict=False):
        if any(is_new[x] for x, _ in placed[position - 1:]):
            continue  # a new tutor already earned a place at or below this position
        placed.insert(position - 1, (j, True))
        placed.pop()  # the page keeps its length: the lowest-scored falls off
    return placed


def _why(doc: dict[str, Any], e: Entry, need: Need, goal_words: set[str], cosine: float | None, credits: float,
         distance: float | None, reviews: tuple[float, ...], availability: float | None,
         peers: int, is_new: bool, exposure: bool, topic_fit: Callable[[str], float | None]) -> list[str]:
    """A few short reasons, the strongest first. A topic is named when the goal uses its
    words or means it (its own sentence vector is close to the goal's)."""
    reasons: list[str] = []
    subjects = doc.get("subjects") or []
    chosen = [s for s in subjects if s["subject_id"] == need.subject] or subjects
    covered: list[str] = []
    best = chosen[0] if chosen else None
    for s in chosen:
        matched = [topic for topic in s.get("topics", [])
                   if goal_words & set(words(topic)) or (topic_fit(topic) or 0.0) >= TOPIC_MATCH]
        if matched and not covered:
            best = s  # the subject whose topic the goal is about leads the reasons
        covered += matched
    if best:
        level = best["level"].replace("_", " ")
        reasons.append(f"Teaches {best['name']} ({level})" + (f", covering {_join(covered[:3])}" if covered else ""))
    if cosine is not None and cosine >= 0.5:
        reasons.append("Their expertise closely matches your goal")
    elif cosine is not None and cosine >= 0.3:
        reasons.append("Their expertise is related to your goal")
    total, count, done, missed = reviews
    if count > 0:
        reasons.append(f"Rated {total / count:.1f} from {count:.0f} review{'s' if count != 1 else ''}")
    if done + missed >= 5:
        reasons.append(f"Attended {done / (done + missed):.0%} of {done + missed:.0f} sessions")
    if availability is not None and availability > 0:
        reasons.append(f"Available for {availability:.0%} of your preferred times")
    if not math.isnan(credits):
        if credits == 0:
            reasons.append("Free (volunteer tutor)")
        elif need.budget_credits:
            reasons.append(f"{credits:g} credits/h, within your budget of {need.budget_credits}")
    if distance is not None and not math.isnan(distance):
        reasons.append(f"{distance:.1f} km from you")
    if peers:
        reasons.append(f"{peers} student{'s' if peers != 1 else ''} with choices like yours chose this tutor")
    if e.verified:
        reasons.append("Background check clear")
    if is_new:
        reasons.append("New tutor" + (": shown to give new tutors a fair chance" if exposure else ""))
    return reasons


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""


def parse_window(text: str) -> tuple[int, int]:
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
