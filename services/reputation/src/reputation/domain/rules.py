"""The institution's reputation rules as values and pure functions, so they read (and are
tested) without a database: the Bayesian rating, reliability, terms, badges, and what text
is held back for staff."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

#: Words that hold a review back for staff until they have read it (a seed list; staff decide).
ABUSIVE = ("idiot", "stupid", "moron", "useless piece", "hate you", "kill", "shut up", "dumb", "loser",
           "retard", "bitch", "bastard", "fuck", "shit", "cunt", "slut", "whore")
_ABUSIVE = re.compile(r"\b(" + "|".join(re.escape(w) for w in ABUSIVE) + r")", re.IGNORECASE)


@dataclass(frozen=True)
class Rules:
    #: The rating every tutor starts from, and how many reviews' weight it has.
    prior_rating: float = 4.0
    prior_weight: float = 5.0
    #: Reliability starts at this share, with this many sessions' weight.
    prior_reliability: float = 0.9
    reliability_weight: float = 5.0
    #: A new tutor's first sessions are on probation.
    probation_sessions: int = 5
    #: A review at or below this, on probation, goes to staff.
    probation_low_rating: float = 2.0
    #: A review may be edited for this long after it was written.
    edit_hours: int = 24
    #: Reviewers whose account is younger than this count towards a burst.
    new_account_days: int = 7
    #: This many reviews of one tutor from new accounts within a day is a burst.
    burst_reviews: int = 3
    #: Terms start in these months (1 = January): "2031-T1" is the first term of 2031.
    term_months: tuple[int, ...] = (1, 5, 9)
    badge_rewards: dict[str, int] = field(default_factory=lambda: {
        "hours_10": 0, "hours_50": 5, "hours_100": 10, "top_rated": 5, "reliable": 5})


def bayesian(rating_sum: float, count: int, rules: Rules) -> float:
    """(C·m + Σ) / (C + n): a few reviews move it a little, many move it to their mean."""
    return round((rules.prior_weight * rules.prior_rating + rating_sum) / (rules.prior_weight + count), 3)


def reliability(completed: int, missed: int, cancelled: int, rules: Rules) -> float:
    w = rules.reliability_weight
    return round((completed + w * rules.prior_reliability) / (completed + missed + cancelled + w), 3)


def term_of(at: datetime, rules: Rules) -> str:
    starts = sorted(rules.term_months)
    n = max(i for i, m in enumerate(starts) if m <= at.month) if at.month >= starts[0] else len(starts) - 1
    year = at.year if at.month >= starts[0] else at.year - 1
    return f"{year}-T{n + 1}"


def abusive(text: str) -> bool:
    return bool(_ABUSIVE.search(text))


def badges_due(minutes: int, rating: float, reviews: int, reliable: float, completed: int) -> list[str]:
    """Every badge these figures earn (clear thresholds; awarded once each)."""
    out = [name for hours, name in ((10, "hours_10"), (50, "hours_50"), (100, "hours_100")) if minutes >= hours * 60]
    if reviews >= 10 and rating >= 4.5:
        out.append("top_rated")
    if completed >= 20 and reliable >= 0.97:
        out.append("reliable")
    return out
