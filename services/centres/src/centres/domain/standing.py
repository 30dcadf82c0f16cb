"""A student's standing at a centre: their no-shows (called from the drop-in queue and not
there), and what the centre's escalation makes of them — a warning, then a lockout from the
queue for some days — which staff can lift; an accommodation (e.g. from disability services)
exempts a student from the lockout."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from servicekit.errors import Conflict

_NS = UUID("0c3a1e7e-5d8c-4c1e-9a1f-7c3e6e0a0002")
#: Limits an accommodation may exempt a student from.
EXEMPTIONS = ("no_show_lockout",)


@dataclass(frozen=True)
class Escalation:
    """No-shows within ``window_days``: a warning at ``warn_after``, a lockout of
    ``lockout_days`` at ``lockout_after``."""

    warn_after: int = 2
    lockout_after: int = 3
    lockout_days: int = 14
    window_days: int = 90


class Standing(Aggregate):
    @staticmethod
    def create_id(centre_id: UUID, student_id: UUID) -> UUID:
        return uuid.uuid5(_NS, f"{centre_id}:{student_id}")

    @classmethod
    def start(cls, centre_id: UUID, student_id: UUID) -> Standing:
        return cls._create(cls.Started, id=cls.create_id(centre_id, student_id),  # type: ignore[attr-defined]
                           centre_id=centre_id, student_id=student_id)

    @event("Started")
    def __init__(self, centre_id: UUID, student_id: UUID) -> None:
        self.centre_id, self.student_id = centre_id, student_id
        self.no_shows: list[dict[str, Any]] = []
        self.warned_at: datetime | None = None
        self.locked_until: datetime | None = None
        self.exempt: list[str] = []
        self.counted_from: datetime | None = None  # a lift forgives what came before

    def recent(self, now: datetime, rules: Escalation) -> int:
        since = now - timedelta(days=rules.window_days)
        if self.counted_from is not None:
            since = max(since, self.counted_from)
        return sum(1 for n in self.no_shows if n["at"] > since)

    def no_show(self, visit_id: UUID, at: datetime, rules: Escalation) -> str | None:
        """Records it; returns what it led to: "warned", "locked_out" or None."""
        if any(n["visit_id"] == visit_id for n in self.no_shows):
            return None
        self._missed(visit_id, at)
        count = self.recent(at, rules)
        if count >= rules.lockout_after and "no_show_lockout" not in self.exempt and not self.locked(at):
            self._locked(at + timedelta(days=rules.lockout_days), count)
            return "locked_out"
        if count >= rules.warn_after and (self.warned_at is None or self.warned_at < at - timedelta(days=1)):
            self._warned(at, count)
            return "warned"
        return None

    @event("Missed")
    def _missed(self, visit_id: UUID, at: datetime) -> None:
        self.no_shows = [*self.no_shows[-199:], {"visit_id": visit_id, "at": at}]

    @event("Warned")
    def _warned(self, at: datetime, no_shows: int) -> None:
        self.warned_at = at

    @event("LockedOut")
    def _locked(self, until: datetime, no_shows: int) -> None:
        self.locked_until = until

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until and "no_show_lockout" not in self.exempt

    def check_may_join(self, now: datetime) -> None:
        if self.locked(now):
            raise Conflict(f"after repeated no-shows you may join this centre's queue again from "
                           f"{self.locked_until:%Y-%m-%d %H:%M} UTC; the centre's staff can lift this")

    def lift(self, by: UUID, now: datetime) -> None:
        if not self.locked(now):
            raise Conflict("this student is not locked out")
        self._lifted(by, now)

    @event("Lifted")
    def _lifted(self, by: UUID, at: datetime) -> None:
        self.locked_until, self.counted_from = None, at

    @event("Accommodated")
    def accommodate(self, exempt: list[str], by: UUID) -> None:
        self.exempt = sorted(set(exempt))
