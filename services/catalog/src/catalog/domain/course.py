"""Courses by creators: a syllabus of modules with materials and quizzes (answer keys kept
private), criteria for completion, a progression of levels; draft → published → retired
(with a reason, and no new enrolments after it). Enrolments are recorded on the course."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from catalog.domain.enrolment import level_thresholds as level_thresholds_for
from catalog.domain.errors import Conflict, ValidationError
from catalog.domain.rules import text_field

RETIRE_REASONS = ("outdated", "replaced", "quality", "creator_left", "other")


def build_syllabus(modules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not modules:
        raise ValidationError("modules", "a course needs at least one module")
    out = []
    for i, m in enumerate(modules):
        materials = []
        for j, mat in enumerate(m.get("materials") or []):
            url = text_field(f"modules.{i}.materials.{j}.url", mat.get("url"), 8, 2048)
            if not url.startswith(("https://", "http://")):
                raise ValidationError(f"modules.{i}.materials.{j}.url", "must be an http(s) URL")
            materials.append({"title": text_field(f"modules.{i}.materials.{j}.title", mat.get("title"), 1, 200),
                              "url": url})
        quiz = []
        for j, q in enumerate(m.get("quiz") or []):
            choices = [text_field(f"modules.{i}.quiz.{j}.choices.{k}", c, 1, 300)
                       for k, c in enumerate(q.get("choices") or [])]
            if not 2 <= len(choices) <= 8:
                raise ValidationError(f"modules.{i}.quiz.{j}.choices", "must offer 2 to 8 choices")
            answer = q.get("answer")
            if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < len(choices):
                raise ValidationError(f"modules.{i}.quiz.{j}.answer", "must be the index of one of the choices")
            quiz.append({"prompt": text_field(f"modules.{i}.quiz.{j}.prompt", q.get("prompt"), 1, 1000),
                         "choices": choices, "answer": answer})
        out.append({"title": text_field(f"modules.{i}.title", m.get("title"), 1, 200),
                    "summary": text_field(f"modules.{i}.summary", m.get("summary"), 0, 2000),
                    "materials": materials, "quiz": quiz})
    return out


def check_completion(completion: dict[str, Any], modules: int) -> dict[str, int]:
    pct = completion.get("min_quiz_score_pct", 70)
    required = completion.get("modules_required", modules)
    if not isinstance(pct, int) or not 0 <= pct <= 100:
        raise ValidationError("completion.min_quiz_score_pct", "must be 0 to 100")
    if not isinstance(required, int) or not 1 <= required <= modules:
        raise ValidationError("completion.modules_required", f"must be 1 to {modules} (the number of modules)")
    return {"min_quiz_score_pct": pct, "modules_required": required}


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
            level_thresholds_for(levels, None, len(modules)) if levels else [])
        self.status = "draft"
        self.enrolled: list[str] = []
        self.enrolment_of: dict[str, dict[str, Any]] = {}

    def public(self) -> dict[str, Any]:
        """What learners and other services see: no answer keys."""
        return {
            "title": self.title, "description": self.description, "subject_id": self.subject_id,
            "level": self.level, "completion": self.completion, "levels": self.levels,
            "level_thresholds": self.level_thresholds, "price_credits": self.price_credits,
            "modules": [{"title": m["title"], "summary": m["summary"], "material_count": len(m["materials"]),
                         "has_quiz": bool(m["quiz"])} for m in self.modules],
        }

    def publish(self) -> None:
        if self.status != "draft":
            raise Conflict(f"the course is {self.status}")
        self._published(self.creator_id, self.public())

    @event("Published")
    def _published(self, creator_id: UUID, public: dict[str, Any]) -> None:
        self.status = "published"

    def retire(self, reason_code: str) -> None:
        if reason_code not in RETIRE_REASONS:
            raise ValidationError("reason_code", f"must be one of {', '.join(RETIRE_REASONS)}")
        if self.status != "published":
            raise Conflict("only a published course can be retired")
        self._retired(reason_code)

    @event("Retired")
    def _retired(self, reason_code: str) -> None:
        self.status = "retired"

    def enrol(self, enrolment_id: UUID, student_id: UUID, funded_by: UUID | None) -> None:
        if self.status == "retired":
            raise Conflict("the course was retired and takes no new enrolments")
        if self.status != "published":
            raise Conflict("the course is not open for enrolment")
        if str(student_id) in self.enrolled:
            raise Conflict("already enrolled")
        if student_id == self.creator_id:
            raise ValidationError("student_id", "a creator does not enrol in their own course")
        self._enrolled(enrolment_id, student_id, funded_by, self.price_credits)

    @event("Enrolled")
    def _enrolled(self, enrolment_id: UUID, student_id: UUID, funded_by: UUID | None, price_credits: int) -> None:
        self.enrolled.append(str(student_id))
        self.enrolment_of[str(student_id)] = {"enrolment_id": enrolment_id, "funded_by": funded_by}

    def answer_key(self, module: int) -> list[int]:
        return [q["answer"] for q in self.modules[module]["quiz"]]
