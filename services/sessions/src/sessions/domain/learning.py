"""A learning plan: the goals one student works on with one tutor, carried across their
sessions. Either of them adds a goal (its words sealed under the writer's key); the tutor
scores progress on goals in each session's assessment (0 none … 4 mastered); either marks a
goal achieved or dropped."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from servicekit.errors import Conflict, Forbidden, Invalid, NotFound

_NS = UUID("8a1d5f0e-3c1b-4f7e-9a51-5e55105e0004")
#: Goals a plan may hold (achieved and dropped ones included).
MAX_GOALS = 50


class LearningPlan(Aggregate):
    @staticmethod
    def create_id(tutor_id: UUID, student_id: UUID) -> UUID:
        return uuid.uuid5(_NS, f"{tutor_id}:{student_id}")

    @classmethod
    def start(cls, tutor_id: UUID, student_id: UUID) -> LearningPlan:
        return cls._create(cls.Started, id=cls.create_id(tutor_id, student_id),  # type: ignore[attr-defined]
                           tutor_id=tutor_id, student_id=student_id)

    @event("Started")
    def __init__(self, tutor_id: UUID, student_id: UUID) -> None:
        self.tutor_id, self.student_id = tutor_id, student_id
        self.goals: dict[str, dict[str, Any]] = {}

    def party(self, user_id: UUID, staff: bool = False) -> str:
        if user_id == self.tutor_id:
            return "tutor"
        if user_id == self.student_id:
            return "student"
        if staff:
            return "staff"
        raise NotFound("no such learning plan")

    def add(self, goal_id: UUID, writer: UUID, sealed_text: str, at: datetime) -> None:
        if self.party(writer) not in ("tutor", "student"):
            raise Forbidden("the tutor and the student set their goals")
        if len(self.goals) >= MAX_GOALS:
            raise Conflict(f"a plan holds at most {MAX_GOALS} goals")
        self._added(goal_id, writer, sealed_text, at)

    @event("GoalAdded")
    def _added(self, goal_id: UUID, writer: UUID, sealed_text: str, at: datetime) -> None:
        self.goals[str(goal_id)] = {"goal_id": goal_id, "writer": writer, "text": sealed_text, "status": "active",
                                    "added_at": at, "progress": []}

    def goal(self, goal_id: UUID, field: str | None = None) -> dict[str, Any]:
        """The goal; absent: 404, or 422 naming ``field`` when a request body named it."""
        g = self.goals.get(str(goal_id))
        if g is None:
            raise Invalid(field, "is not a goal of this plan") if field else NotFound("no such goal")
        return g

    def set_status(self, goal_id: UUID, status: str, by: UUID, at: datetime) -> None:
        if self.goal(goal_id)["status"] != status:
            self._status(goal_id, status, by, at)

    @event("GoalStatus")
    def _status(self, goal_id: UUID, status: str, by: UUID, at: datetime) -> None:
        self.goals[str(goal_id)]["status"] = status

    def score(self, session_id: UUID, levels: dict[UUID, int], at: datetime) -> None:
        for goal_id in levels:
            if self.goal(goal_id, "goals.goal_id")["status"] != "active":
                raise Invalid("goals", "progress is scored on active goals")
        if levels:
            self._scored(session_id, {str(k): v for k, v in levels.items()}, at)

    @event("Scored")
    def _scored(self, session_id: UUID, levels: dict[str, int], at: datetime) -> None:
        for goal_id, level in levels.items():
            self.goals[goal_id]["progress"].append({"session_id": session_id, "level": level, "at": at})
