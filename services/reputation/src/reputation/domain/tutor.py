"""A tutor's record: what happened in their sessions and what learners said, as counts, and
what the platform shows of it (rating, reliability, probation, badges). Every fact arrives
once per occurrence (its key is remembered), so a redelivered or doubly-reported outcome
counts once."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from reputation.domain.rules import Rules, badges_due, bayesian, reliability, term_of

_NS = UUID("5e9a7c1e-8f0b-4c39-9d55-0e9e7a7e0001")


class TutorRecord(Aggregate):
    @staticmethod
    def create_id(tutor_id: UUID) -> UUID:
        return uuid.uuid5(_NS, str(tutor_id))

    @classmethod
    def open(cls, tutor_id: UUID) -> TutorRecord:
        return cls._create(cls.Opened, id=cls.create_id(tutor_id), tutor_id=tutor_id)  # type: ignore[attr-defined]

    @event("Opened")
    def __init__(self, tutor_id: UUID) -> None:
        self.tutor_id = tutor_id
        self.rating_sum = 0.0
        self.rating_count = 0
        self.completed = 0
        self.missed = 0
        self.cancellations = 0
        self.minutes = 0
        self.minutes_by_term: dict[str, int] = {}
        self.badges: list[str] = []
        self.facts: list[str] = []  # keys of the outcomes counted
        self.new_account_reviews: list[datetime] = []
        self.published = 0  # how many TutorReputationChanged so far (their version)
        self.flags: dict[str, dict[str, Any]] = {}

    # -- facts ---------------------------------------------------------------------------

    def counted(self, key: str) -> bool:
        return key in self.facts

    @event("Taught")
    def taught(self, key: str, minutes: int, at: datetime, term: str) -> None:
        self.facts.append(key)
        self.completed += 1
        self.minutes += minutes
        self.minutes_by_term[term] = self.minutes_by_term.get(term, 0) + minutes

    @event("Missed")
    def missed_one(self, key: str) -> None:
        self.facts.append(key)
        self.missed += 1

    @event("Cancelled")
    def cancelled(self, key: str) -> None:
        self.facts.append(key)
        self.cancellations += 1

    @event("Rated")
    def rated(self, delta_sum: float, delta_count: int) -> None:
        self.rating_sum = max(0.0, self.rating_sum + delta_sum)
        self.rating_count = max(0, self.rating_count + delta_count)

    @event("NewAccountReview")
    def new_account_review(self, at: datetime) -> None:
        self.new_account_reviews = [*self.new_account_reviews[-49:], at]

    # -- what is shown -------------------------------------------------------------------

    def rating(self, rules: Rules) -> float:
        return bayesian(self.rating_sum, self.rating_count, rules)

    def reliability(self, rules: Rules) -> float:
        return reliability(self.completed, self.missed, self.cancellations, rules)

    def on_probation(self, rules: Rules) -> bool:
        return self.completed < rules.probation_sessions

    def term_minutes(self, at: datetime, rules: Rules) -> tuple[str, int]:
        term = term_of(at, rules)
        return term, self.minutes_by_term.get(term, 0)

    def award_due(self, rules: Rules) -> list[str]:
        due = badges_due(self.minutes, self.rating(rules), self.rating_count, self.reliability(rules), self.completed)
        new = [b for b in due if b not in self.badges]
        for badge in new:
            self._awarded(badge, rules.badge_rewards.get(badge, 0))
        return new

    @event("BadgeAwarded")
    def _awarded(self, badge: str, reward_credits: int) -> None:
        self.badges.append(badge)

    def publish(self, rules: Rules) -> None:
        """Record the standing as it now is (what matching and profiles show), all of it in
        the event, so a reader needs nothing else."""
        self._changed(self.published + 1, {
            "rating": self.rating(rules), "rating_sum": round(self.rating_sum, 3), "rating_count": self.rating_count,
            "sessions_completed": self.completed, "sessions_missed": self.missed,
            "cancellations": self.cancellations, "reliability": self.reliability(rules),
            "minutes_taught": self.minutes, "on_probation": self.on_probation(rules)})

    @event("Changed")
    def _changed(self, version: int, figures: dict[str, Any]) -> None:
        self.published = version

    @event("Flagged")
    def flag(self, flag_id: UUID, reason: str, review_id: UUID | None, at: datetime) -> None:
        """A matter for staff: probation signals, gaming. Flags change no figure by themselves."""
        self.flags[str(flag_id)] = {"reason": reason, "review_id": review_id, "at": at, "resolved": False}

    def resolve(self, flag_id: UUID, by: UUID, note_code: str) -> None:
        from servicekit.errors import Conflict, NotFound

        flag = self.flags.get(str(flag_id))
        if flag is None:
            raise NotFound("no such flag")
        if flag["resolved"]:
            raise Conflict("already resolved")
        self._resolved(flag_id, by, note_code)

    @event("Resolved")
    def _resolved(self, flag_id: UUID, by: UUID, note_code: str) -> None:
        self.flags[str(flag_id)]["resolved"] = True

    def burst(self, now: datetime, rules: Rules) -> bool:
        recent = [t for t in self.new_account_reviews if (now - t).total_seconds() <= 86400]
        return len(recent) >= rules.burst_reviews
