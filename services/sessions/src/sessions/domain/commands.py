"""What sessions' use cases are asked to do, as values: typed at the edge (http.py builds
them from the request bodies), so the domain checks rules, never types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from uuid import UUID


@dataclass(frozen=True)
class Caller:
    user_id: UUID
    staff: bool = False


@dataclass(frozen=True)
class Material:
    """Preparation shared with the session: a link, a catalog course (by id), or a file
    already shared in the session's chat (by message id)."""

    kind: Literal["link", "course", "file"]
    title: str
    url: str | None = None
    course_id: UUID | None = None
    message_id: UUID | None = None


@dataclass(frozen=True)
class Plan:
    objectives: tuple[str, ...]
    materials: tuple[Material, ...]


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    declared_type: str | None


@dataclass(frozen=True)
class TutorAssessment:
    student_id: UUID
    #: Progress on each objective, 0 (none) to 4 (mastered), in the plan's order.
    progress: tuple[int, ...]
    goals_covered: tuple[str, ...]
    next_steps: str
    #: Progress on goals of the student's learning plan with this tutor: goal id → 0..4.
    goals: tuple[tuple[UUID, int], ...] = ()


@dataclass(frozen=True)
class StudentAssessment:
    helpfulness: Literal["helped", "partly", "not_helpful"]
    confidence: int
