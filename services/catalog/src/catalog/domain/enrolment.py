"""A learner's progress through a course: quiz attempts marked against the private answer
keys, modules passed, levels reached, completion. One aggregate per enrolment (same id), so
a course with thousands of learners stays a small aggregate and progress never contends
with other learners' writes."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from catalog.domain.errors import Conflict, Invalid, NotFound


@dataclass(frozen=True)
class Progress:
    enrolment_id: UUID
    course_id: UUID
    student_id: UUID
    modules_total: int
    modules_required: int
    modules_passed: list[int]
    best_scores_pct: dict[int, int]
    attempts: int
    level: str | None
    levels: list[str]
    level_thresholds: list[int]
    completed: bool
    pass_mark_pct: int


@dataclass(frozen=True)
class Marked:
    """One quiz attempt, marked: which answers were right, never the key."""

    module: int
    score_pct: int
    passed: bool
    correct: list[bool]
    pass_mark_pct: int


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
            raise NotFound(f"no such module: the course has modules 0 to {len(self.quiz_sizes) - 1}")
        return index

    def attempt(self, index: int, answers: tuple[int, ...], keys: list[list[int]]) -> Marked:
        """Marks the answers against the module's key (``keys``: the course's, one per
        module); passing records the module and may reach a level or complete the course."""
        key = keys[self._module(index)]
        if not key:
            raise Conflict("this module has no quiz: mark it complete instead")
        if len(answers) != len(key):
            raise Invalid("answers", f"needs one answer per question ({len(key)})")
        correct = [a == k for a, k in zip(answers, key, strict=True)]
        score = round(100 * sum(correct) / len(key))
        passed = score >= self.min_quiz_score_pct
        self._attempted(index, list(answers), score, passed)
        if passed:
            self._pass(index)
        return Marked(index, score, passed, correct, self.min_quiz_score_pct)

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

    def progress(self) -> Progress:
        return Progress(self.id, self.course_id, self.student_id, len(self.quiz_sizes), self.modules_required,
                        sorted(self.passed), {int(k): v for k, v in self.best.items()}, self.attempts, self.level,
                        self.levels, self.level_thresholds, self.completed, self.min_quiz_score_pct)
