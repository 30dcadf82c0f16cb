"""Why a tutor is recommended: a few short reasons, the strongest first."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from matching.domain.availability import WEEKS_AHEAD
from matching.domain.query import Need
from matching.domain.text import words

#: Cosine between a goal and a topic name from which the reasons name the topic.
TOPIC_MATCH = 0.45


@dataclass(frozen=True)
class Evidence:
    """What is known of one recommended tutor, as the reasons quote it."""

    subjects: list[dict[str, Any]]
    verified: bool
    cosine: float | None  # None: no sentence vector yet
    credits: float  # NaN: no credit price
    distance: float | None
    reviews: tuple[float, ...]  # rating sum, rating count, completed, missed
    availability: float | None  # share of the preferred minutes (None: not published, or no times given)
    peers: int
    is_new: bool
    exposure: bool


def why(e: Evidence, need: Need, goal_words: set[str], topic_fit: Callable[[str], float | None]) -> list[str]:
    """A topic is named when the goal uses its words or means it (``topic_fit``: the cosine
    of the topic's own sentence vector and the goal's, None when not indexed)."""
    reasons: list[str] = []
    chosen = [s for s in e.subjects if s["subject_id"] == need.subject] or e.subjects
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
        reasons.append(f"Teaches {best['name']} ({level})" + (f", covering {join(covered[:3])}" if covered else ""))
    if e.cosine is not None and e.cosine >= 0.5:
        reasons.append("Their expertise closely matches your goal")
    elif e.cosine is not None and e.cosine >= 0.3:
        reasons.append("Their expertise is related to your goal")
    total, count, done, missed = e.reviews
    if count > 0:
        reasons.append(f"Rated {total / count:.1f} from {count:.0f} review{'s' if count != 1 else ''}")
    if done + missed >= 5:
        reasons.append(f"Attended {done / (done + missed):.0%} of {done + missed:.0f} sessions")
    if e.availability is not None and e.availability > 0:
        reasons.append(f"Available for {e.availability:.0%} of your preferred times in the next {WEEKS_AHEAD} weeks")
    if not math.isnan(e.credits):
        if e.credits == 0:
            reasons.append("Free (volunteer tutor)")
        elif need.budget_credits:
            reasons.append(f"{e.credits:g} credits/h, within your budget of {need.budget_credits}")
    if e.distance is not None and not math.isnan(e.distance):
        reasons.append(f"{e.distance:.1f} km from you")
    if e.peers:
        reasons.append(f"{e.peers} student{'s' if e.peers != 1 else ''} with choices like yours chose this tutor")
    if e.verified:
        reasons.append("Background check clear")
    if e.is_new:
        reasons.append("New tutor" + (": shown to give new tutors a fair chance" if e.exposure else ""))
    return reasons


def join(names: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""
