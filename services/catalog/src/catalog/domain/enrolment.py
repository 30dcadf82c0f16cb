"""A learner's progress through a course: quiz attempts marked against the private answer
keys, modules passed, levels reached, completion. One aggregate per enrolment (same id), so
a course with thousands of learners stays a small aggregate and progress never contends
with other learners' writes."""

from __future__ import annotations

import math
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from catalog.domain.errors import Conflict, ValidationError


def level_thresholds(levels: list[str], after: list[int] | None, modules: int) -> list[int]:
    """Modules passed to reach each level: as given (strictly rising, within the syllabus),
    or spread evenly over the modules (the last level at all of them)."""
    if after is None or not after:
        return [math.ceil((i + 1) * modules / len(levels)) for i in range(len(levels))]
    if len(after) != len(levels):
        raise ValidationError("level_up_after", f"needs one number per level ({len(levels)})")
    for i, n in enumerate(after):
        if not 1 <= n <= modules:
            raise ValidationError(f"level_up_after.{i}", f"must be 1 to {modules} (the number of modules)")
        if i and n <= after[i - 1]:
            raise ValidationError(f"level_up_after.{i}", "must be more than the level before")
    return list(after)


class Enrolment(Aggregate):
    """Created on the learner's first step; the course's rules are copied then (a published
    course does not change, so the learner's target never moves)."""

    @event("Started")
    def __init__(self, id: UUID, course_id: UUID, student_id: UUID, funded_by: UUID | None,
                 quiz_sizes: list[int], modules_required: int, min_quiz_score_pct: int, levels: list[str],
                 level_thresholds: list[int]) -> None:
        self.course_id = course_id
        self.student_id = student_id
        self.funded_by = funded_by
        self.quiz_sizes = quiz_sizes
        self.modules_required = modules_required
        self.min_quiz_score_pct = min_quiz_score_pct
        self.levels = levels
        self.level_thresholds = level_thresholds
        self.passed: list[int] = []
        self.best: dict[str, int] = {}
        self.attempts = 0
        self.level: str | None = None
        self.completed = False

    def _module(self, index: int) -> int:
        if not 0 <= index < len(self.quiz_sizes):
            raise ValidationError("module", f"must be 0 to {len(self.quiz_sizes) - 1}")
        return index

    def attempt(self, index: int, answers: list[int], key: list[int]) -> dict[str, Any]:
        """Marks the answers against the module's key; passing records the module and may
        reach a level or complete the course. Returns the result (correct per question,
        never the key)."""
        self._module(index)
        if not key:
            raise Conflict("this module has no quiz: mark it complete instead")
        if len(answers) != len(key):
            raise ValidationError("answers", f"needs one answer per question ({len(key)})")
        correct = [a == k for a, k in zip(answers, key, strict=True)]
        score = round(100 * sum(correct) / len(key))
        passed = score >= self.min_quiz_score_pct
        self._attempted(index, answers, score, passed)
        if passed:
            self._pass(index)
        return {"module": index, "score_pct": score, "passed": passed, "correct": correct,
                "pass_mark_pct": self.min_quiz_score_pct}

    @event("QuizAttempted")
    def _attempted(self, module: int, answers: list[int], score_pct: int, passed: bool) -> None:
        self.attempts += 1
        self.best[str(module)] = max(score_pct, self.best.get(str(module), 0))

    def complete_reading(self, index: int) -> None:
        """A module without a quiz is passed by saying it was done."""
        self._module(index)
        if self.quiz_sizes[index]:
            raise Conflict("this module is passed by its quiz")
        self._pass(index)

    def _pass(self, index: int) -> None:
        if index in self.passed:
            return
        self._module_passed(index)
        reached = [i for i, n in enumerate(self.level_thresholds) if len(self.passed) >= n]
        if reached and self.levels[reached[-1]] != self.level:
            self._level_reached(self.course_id, self.student_id, self.levels[reached[-1]], reached[-1],
                                len(self.passed))
        if not self.completed and len(self.passed) >= self.modules_required:
            self._completed(self.course_id, self.student_id, self.funded_by, len(self.passed), len(self.quiz_sizes))

    @event("ModulePassed")
    def _module_passed(self, module: int) -> None:
        self.passed.append(module)

    # Progress events carry the course and the learner themselves: they are published, and
    # the translation to contracts sees one event at a time.
    @event("LevelReached")
    def _level_reached(self, course_id: UUID, student_id: UUID, level: str, level_index: int,
                       modules_passed: int) -> None:
        self.level = level

    @event("Completed")
    def _completed(self, course_id: UUID, student_id: UUID, funded_by: UUID | None, modules_passed: int,
                   modules_total: int) -> None:
        self.completed = True

    def view(self) -> dict[str, Any]:
        return {"enrolment_id": self.id, "course_id": self.course_id, "student_id": self.student_id,
                "modules_total": len(self.quiz_sizes), "modules_required": self.modules_required,
                "modules_passed": sorted(self.passed), "best_scores_pct": {int(k): v for k, v in self.best.items()},
                "attempts": self.attempts, "level": self.level, "levels": self.levels,
                "level_thresholds": self.level_thresholds, "completed": self.completed,
                "pass_mark_pct": self.min_quiz_score_pct}
