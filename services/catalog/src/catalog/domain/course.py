"""Courses by creators: a syllabus of modules with materials and quizzes (answer keys kept
private), criteria for completion, a progression of levels; draft → published → retired
(with a reason, and no new enrolments after it). Enrolments are recorded on the course;
each learner's progress is its own aggregate (enrolment.py)."""

from __future__ import annotations

import math
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from catalog.domain.commands import Caller, Completion, CourseDraft, Module, RetireReason
from catalog.domain.enrolment import Enrolment
from catalog.domain.errors import Conflict, Forbidden, Invalid, NotFound, NotOwner
from catalog.domain.standing import TutorStanding, withheld
from catalog.domain.taxonomy import Taxonomy


def thresholds(levels: int, after: tuple[int, ...] | None, modules: int) -> list[int]:
    """Modules passed to reach each of ``levels`` levels: as given (strictly rising, within
    the syllabus), or spread evenly over the modules (the last level at all of them)."""
    if not after:
        return [math.ceil((i + 1) * modules / levels) for i in range(levels)]
    if len(after) != levels:
        raise Invalid("level_up_after", f"needs one number per level ({levels})")
    for i, n in enumerate(after):
        if n > modules:
            raise Invalid(f"level_up_after.{i}", f"must be 1 to {modules} (the number of modules)")
        if i and n <= after[i - 1]:
            raise Invalid(f"level_up_after.{i}", "must be more than the level before")
    return list(after)


def _syllabus(modules: tuple[Module, ...]) -> list[dict[str, Any]]:
    """As the Drafted event stores it; each answer must point at one of its choices."""
    out = []
    for i, m in enumerate(modules):
        for j, q in enumerate(m.quiz):
            if q.answer >= len(q.choices):
                raise Invalid(f"modules.{i}.quiz.{j}.answer", "must be the index of one of the choices")
        out.append({"title": m.title, "summary": m.summary,
                    "materials": [{"title": x.title, "url": x.url} for x in m.materials],
                    "quiz": [{"prompt": q.prompt, "choices": list(q.choices), "answer": q.answer} for q in m.quiz]})
    return out


def _completion(completion: Completion, modules: int) -> dict[str, int]:
    required = modules if completion.modules_required is None else completion.modules_required
    if required > modules:
        raise Invalid("completion.modules_required", f"must be 1 to {modules} (the number of modules)")
    return {"min_quiz_score_pct": completion.min_quiz_score_pct, "modules_required": required}


class Course(Aggregate):
    @event("Drafted")
    def __init__(self, creator_id: UUID, title: str, description: str, subject_id: str, level: str,
                 modules: list[dict[str, Any]], completion: dict[str, int], levels: list[str],
                 price_credits: int, level_thresholds: list[int] | None = None) -> None:
        self.creator_id = creator_id
        self.title = title
        self.description = description
        self.subject_id = subject_id
        self.level = level
        self.modules = modules
        self.completion = completion
        self.levels = levels
        self.price_credits = price_credits
        # Drafted events stored before thresholds existed spread the levels evenly.
        self.level_thresholds = level_thresholds or (
            thresholds(len(levels), None, len(modules)) if levels else [])
        self.status = "draft"
        self.enrolled: list[str] = []
        self.enrolment_of: dict[str, dict[str, Any]] = {}

    @classmethod
    def draft(cls, creator_id: UUID, draft: CourseDraft, taxonomy: Taxonomy) -> Course:
        subject = taxonomy.subject(draft.subject_id)
        modules = _syllabus(draft.modules)
        return cls(creator_id=creator_id, title=draft.title, description=draft.description,
                   subject_id=subject["subject_id"], level=draft.level, modules=modules,
                   completion=_completion(draft.completion, len(modules)), levels=list(draft.levels),
                   price_credits=draft.price_credits,
                   level_thresholds=thresholds(len(draft.levels), draft.level_up_after, len(modules)))

    def public(self) -> dict[str, Any]:
        """What learners and other services see: no answer keys (CoursePublished carries it)."""
        return {
            "title": self.title, "description": self.description, "subject_id": self.subject_id,
            "level": self.level, "completion": self.completion, "levels": self.levels,
            "level_thresholds": self.level_thresholds, "price_credits": self.price_credits,
            "modules": [{"title": m["title"], "summary": m["summary"], "material_count": len(m["materials"]),
                         "has_quiz": bool(m["quiz"])} for m in self.modules],
        }

    def check_owner(self, caller: Caller) -> None:
        if caller.user_id != self.creator_id and not caller.staff:
            raise NotOwner("this course belongs to another creator")

    def privileged(self, caller: Caller) -> bool:
        """Its creator and staff: they see it in any state, with the answer keys."""
        return caller.staff or caller.user_id == self.creator_id

    def shown_to(self, caller: Caller, creator: TutorStanding | None) -> bool:
        """Others see a published course, and not while its creator is suspended."""
        return self.privileged(caller) or (self.status == "published" and not withheld(creator))

    def syllabus_for(self, caller: Caller) -> list[dict[str, Any]]:
        if self.privileged(caller):
            return self.modules
        return [{**m, "quiz": [{k: v for k, v in q.items() if k != "answer"} for q in m["quiz"]]}
                for m in self.modules]

    def publish(self) -> None:
        if self.status != "draft":
            raise Conflict(f"the course is {self.status}")
        self._published(self.creator_id, self.public())

    @event("Published")
    def _published(self, creator_id: UUID, public: dict[str, Any]) -> None:
        self.status = "published"

    def retire(self, reason_code: RetireReason) -> None:
        if self.status != "published":
            raise Conflict("only a published course can be retired")
        self._retired(reason_code)

    @event("Retired")
    def _retired(self, reason_code: str) -> None:
        self.status = "retired"

    def enrol(self, enrolment_id: UUID, student_id: UUID, funded_by: UUID | None,
              creator: TutorStanding | None) -> None:
        # A suspended creator's course is as if absent to learners: no hint of why.
        if withheld(creator):
            raise NotFound("no such course")
        if self.status == "retired":
            raise Conflict("the course was retired and takes no new enrolments")
        if self.status != "published":
            raise Conflict("the course is not open for enrolment")
        if str(student_id) in self.enrolled:
            raise Conflict("already enrolled")
        if student_id == self.creator_id:
            raise Forbidden("a creator does not enrol in their own course")
        self._enrolled(enrolment_id, student_id, funded_by, self.price_credits)

    @event("Enrolled")
    def _enrolled(self, enrolment_id: UUID, student_id: UUID, funded_by: UUID | None, price_credits: int) -> None:
        self.enrolled.append(str(student_id))
        self.enrolment_of[str(student_id)] = {"enrolment_id": enrolment_id, "funded_by": funded_by}

    def enrolment_id(self, student_id: UUID) -> UUID:
        found = self.enrolment_of.get(str(student_id))
        if found is None:
            raise NotFound("not enrolled in this course")
        enrolment_id: UUID = found["enrolment_id"]
        return enrolment_id

    def funder_of(self, student_id: UUID) -> UUID | None:
        found = self.enrolment_of.get(str(student_id))
        return found["funded_by"] if found else None

    def check_progress_reader(self, caller: Caller, student_id: UUID) -> None:
        """The learner, the course's creator, staff, and the funder paying for that enrolment."""
        readers = {student_id, self.creator_id, self.funder_of(student_id)} - {None}
        if not caller.staff and caller.user_id not in readers:
            raise NotOwner("only the learner, the course's creator, the learner's funder and staff see progress")

    def begin_progress(self, student_id: UUID) -> Enrolment:
        """A learner's progress, begun on their first step, with this course's rules copied
        (a published course does not change, so the learner's target never moves)."""
        return Enrolment(id=self.enrolment_id(student_id), course_id=self.id, student_id=student_id,
                         funded_by=self.funder_of(student_id), quiz_sizes=[len(m["quiz"]) for m in self.modules],
                         modules_required=self.completion["modules_required"],
                         min_quiz_score_pct=self.completion["min_quiz_score_pct"], levels=self.levels,
                         level_thresholds=self.level_thresholds)

    def answer_keys(self) -> list[list[int]]:
        return [[q["answer"] for q in m["quiz"]] for m in self.modules]
