"""The subject taxonomy: area → subject → topics. Seeded with a default a school or
university recognises; staff add and retire subjects. (Skill levels are shared vocabulary:
alphapeer_contracts.vocabulary.LEVELS, checked where a request is parsed.)"""

from __future__ import annotations

import re
from typing import Any

from eventsourcing.domain import Aggregate, event

from catalog.domain.commands import NewSubject
from catalog.domain.errors import Conflict, Invalid, NotFound

_SLUG = re.compile(r"[^a-z0-9]+")

DEFAULT: dict[str, dict[str, list[str]]] = {
    "Mathematics": {
        "Algebra I": ["Linear equations", "Quadratics", "Inequalities", "Functions"],
        "Geometry": ["Triangles", "Circles", "Proofs"],
        "Calculus I": ["Limits", "Derivatives", "Integrals"],
        "Linear Algebra": ["Matrices", "Eigenvalues", "Vector spaces"],
        "Statistics": ["Probability", "Hypothesis testing", "Regression"],
    },
    "Sciences": {
        "Physics": ["Mechanics", "Electricity and magnetism", "Waves", "Thermodynamics"],
        "Chemistry": ["Stoichiometry", "Organic chemistry", "Acids and bases"],
        "Biology": ["Cell biology", "Genetics", "Ecology"],
    },
    "Computing": {
        "Introduction to Programming": ["Python", "Control flow", "Functions"],
        "Data Structures and Algorithms": ["Sorting", "Graphs", "Dynamic programming"],
        "Databases": ["SQL", "Data modelling"],
        "Web Development": ["HTML and CSS", "JavaScript"],
    },
    "Languages": {
        "English Writing": ["Essays", "Grammar", "Academic writing"],
        "Spanish": ["Conversation", "Grammar"],
        "French": ["Conversation", "Grammar"],
        "Mandarin Chinese": ["Characters", "Conversation"],
    },
    "Humanities and Social Sciences": {
        "History": ["Modern history", "Essay technique"],
        "Economics": ["Microeconomics", "Macroeconomics"],
        "Psychology": ["Research methods", "Cognitive psychology"],
    },
    "Study Skills": {
        "Exam Preparation": ["Revision planning", "Past papers"],
        "Research Skills": ["Literature review", "Referencing"],
    },
}


def slug(area: str, subject: str) -> str:
    return f"{_SLUG.sub('-', area.lower()).strip('-')}.{_SLUG.sub('-', subject.lower()).strip('-')}"


class Taxonomy(Aggregate):
    """One per institution; its id is fixed."""

    @staticmethod
    def create_id() -> Any:
        from uuid import UUID

        return UUID("3f0c5a52-9d2e-4b6e-8a43-5b6f0e1d2c11")

    @event("Seeded")
    def __init__(self, subjects: list[dict[str, Any]]) -> None:
        self.subjects: dict[str, dict[str, Any]] = {s["subject_id"]: dict(s) for s in subjects}

    @classmethod
    def seeded(cls) -> Taxonomy:
        rows = [{"subject_id": slug(area, name), "area": area, "name": name, "topics": topics, "retired": False}
                for area, subjects in DEFAULT.items() for name, topics in subjects.items()]
        return cls(subjects=rows)

    def add_subject(self, new: NewSubject) -> str:
        subject_id = slug(new.area, new.name)
        if subject_id in self.subjects and not self.subjects[subject_id]["retired"]:
            raise Conflict(f"subject {new.name!r} already exists in {new.area!r}")
        self._subject_added(subject_id, new.area, new.name, list(new.topics))
        return subject_id

    @event("SubjectAdded")
    def _subject_added(self, subject_id: str, area: str, name: str, topics: list[str]) -> None:
        self.subjects[subject_id] = {"subject_id": subject_id, "area": area, "name": name, "topics": topics,
                                     "retired": False}

    def retire_subject(self, subject_id: str) -> None:
        """A subject not in the taxonomy (or retired already) is not found."""
        found = self.subjects.get(subject_id)
        if found is None or found["retired"]:
            raise NotFound("no such subject")
        self._subject_retired(subject_id)

    @event("SubjectRetired")
    def _subject_retired(self, subject_id: str) -> None:
        self.subjects[subject_id]["retired"] = True

    def subject(self, subject_id: str, field: str = "subject_id") -> dict[str, Any]:
        """A subject that may be chosen now (not retired); ``field`` names the input at fault."""
        found = self.subjects.get(subject_id)
        if found is None or found["retired"]:
            raise Invalid(field, f"{subject_id!r} is not a subject in the catalogue")
        return found

    def tree(self) -> list[dict[str, Any]]:
        areas: dict[str, list[dict[str, Any]]] = {}
        for s in sorted(self.subjects.values(), key=lambda s: (s["area"], s["name"])):
            if not s["retired"]:
                areas.setdefault(s["area"], []).append(
                    {"subject_id": s["subject_id"], "name": s["name"], "topics": s["topics"]})
        return [{"area": a, "subjects": subs} for a, subs in areas.items()]


__all__ = ["DEFAULT", "Taxonomy", "slug"]
