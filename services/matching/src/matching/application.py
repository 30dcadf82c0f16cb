"""Matching's use cases over the directory's current snapshot: search it, recommend tutors
for a learning need (each with why), and peer recommendations. Read-only: the directory is
written by the event reactions alone. The clock is a port: availability is bookable from now."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np

from matching.adapters.directory import Directory
from matching.adapters.embedding import Embedder
from matching.domain import ranking, recommendation
from matching.domain.availability import minutes_of
from matching.domain.filters import by_meaning, candidates
from matching.domain.listing import Entry
from matching.domain.peers import peers as peer_choices
from matching.domain.query import Need, Query
from matching.domain.ranking import SearchWeights
from matching.domain.reasons import Evidence, why
from matching.domain.recommendation import COMPONENTS, Tuning
from matching.domain.text import words


def utc_now() -> datetime:
    return datetime.now(UTC)


class MatchingApplication:
    def __init__(self, directory: Directory, embedder: Embedder | None, weights: SearchWeights | None = None,
                 tuning: Tuning | None = None, clock: Callable[[], datetime] = utc_now) -> None:
        self.directory = directory
        self.embedder = embedder
        self.weights = weights or SearchWeights()
        self.tuning = tuning or Tuning()
        self.clock = clock

    def search(self, query: Query) -> dict[str, Any]:
        cols = self.directory.snapshot()
        now = minutes_of(self.clock())
        mask, distance, relevance = candidates(cols, query, now=now)
        matched_by = "words"
        if query.q and not mask.any() and self.embedder is not None:
            # No listing uses the searcher's words ("x squared"): fall back to meaning, so
            # the search still finds the quadratics tutor rather than nothing.
            mask, distance, _ = candidates(cols, query, text_required=False, now=now)
            mask, relevance = by_meaning(cols, mask, cols.vectors @ self.embedder.encode_one(query.q))
            matched_by = "meaning"
        idx = np.flatnonzero(mask)
        sort = ranking.sort_of(query, distance)
        key = ranking.sort_key(cols, idx, sort, query, relevance, distance, self.weights)
        shown, next_cursor = ranking.page(cols, idx, key, sort, query.cursor, query.limit)
        items = []
        for row in idx[shown]:
            item = {**_card(cols.entries[row]), **json.loads(cols.entries[row].doc_json)}
            if query.q:
                item["relevance"] = round(float(relevance[row]), 4)
            if distance is not None and not math.isnan(distance[row]):
                item["distance_km"] = round(float(distance[row]), 2)
            items.append(item)
        found: dict[str, Any] = {"items": items, "total": len(idx), "next_cursor": next_cursor}
        if query.q:
            found["matched_by"] = matched_by
        return found

    def recommend(self, need: Need) -> dict[str, Any]:
        assert self.embedder is not None, "recommendations need the model"
        t = self.tuning
        cols = self.directory.snapshot()
        now = self.clock()
        mask, distance, bm25 = candidates(cols, need.filters(), text_required=False, now=minutes_of(now))
        for row in cols.tutor_rows.get(need.student_id or "", ()):
            mask[row] = False  # a tutor looking for help is not recommended to themselves
        idx = np.flatnonzero(mask)
        answer: dict[str, Any] = {"items": [], "total": len(idx), "weights": t.component_weights(),
                                  "index": recommendation.index_state(cols)}
        if not len(idx):
            return answer
        need_vector = self.embedder.encode_one(need.goal)
        # One pass over the whole matrix beats gathering the candidates' rows first.
        cosine = (cols.vectors @ need_vector)[idx]
        scored = recommendation.evaluate(cols, idx, need, cosine, bm25[idx], distance, t, now.timestamp())
        goal_words = set(words(need.goal))

        def topic_fit(topic: str) -> float | None:
            vector = self.directory.vectors.vector_of(topic)
            return None if vector is None else float(vector.astype(np.float32) @ need_vector)

        for rank, (j, exposure) in enumerate(recommendation.page(cols, idx, scored, t, need.limit), start=1):
            row = idx[j]
            e = cols.entries[row]
            doc = json.loads(e.doc_json)
            similarity = float(cosine[j]) if cols.has_vector[row] else None
            row_distance = None if distance is None else float(distance[row])
            evidence = Evidence(
                subjects=doc.get("subjects") or [], verified=e.verified, cosine=similarity,
                credits=cols.credits[row], distance=row_distance, reviews=tuple(cols.reputation[row]),
                availability=None if math.isnan(scored.availability[j]) else float(scored.availability[j]),
                peers=scored.peers_of.get(e.tutor_id, 0),
                is_new=bool(scored.is_new[j]), exposure=exposure)
            item = {
                "rank": rank, **_card(e), "title": doc.get("title"), "subjects": doc.get("subjects"),
                "rate": doc.get("rate"), "modes": doc.get("modes"), "score": round(float(scored.score[j]), 4),
                "components": {k: round(float(scored.components[k][j]), 4) for k in COMPONENTS},
                "similarity": None if similarity is None else round(similarity, 4),
                "new_tutor": evidence.is_new, "exposure_slot": exposure,
                "why": why(evidence, need, goal_words, topic_fit),
            }
            if row_distance is not None and not math.isnan(row_distance):
                item["distance_km"] = round(row_distance, 2)
            answer["items"].append(item)
        return answer

    def peers(self, student: str, limit: int = 10) -> dict[str, Any]:
        return peer_choices(self.directory.snapshot().signals, student, limit)


def _card(e: Entry) -> dict[str, Any]:
    """Who the result is: the fields every answer shows before the listing's own."""
    return {"listing_id": e.listing_id, "tutor_id": e.tutor_id, "display_name": e.display_name,
            "headline": e.headline, "verified": e.verified}
