"""A user's request to tutor and its one review. What the applicant wrote and uploaded is
sealed by the vault before it arrives here."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from identity.domain.errors import Conflict, SelfReview


class TutorApplication(Aggregate):
    """A user's request to tutor, with what they wrote and uploaded (sealed), decided once
    by a reviewer who is not the applicant."""

    class Submitted(Aggregate.Created):
        """``user_id`` applied to teach ``subjects`` at ``levels`` with ``document_count``
        documents; qualifications, statement and document metadata are sealed."""

        user_id: UUID
        subjects: list[str]
        levels: list[str]
        qualifications_sealed: str
        statement_sealed: str
        documents_sealed: str
        document_count: int

    class Approved(Aggregate.Event):
        """Reviewer ``reviewer_id`` approved ``user_id`` to tutor ``subjects`` at
        ``levels``; the optional note is sealed."""

        reviewer_id: UUID
        note_sealed: str | None
        user_id: UUID
        subjects: list[str]
        levels: list[str]

    class Rejected(Aggregate.Event):
        """Reviewer ``reviewer_id`` rejected ``user_id``'s application; the reason is sealed."""

        reviewer_id: UUID
        reason_sealed: str
        user_id: UUID

    class Withdrawn(Aggregate.Event):
        """The application ended undecided (``reason``: "erased" when its user was erased)."""

        user_id: UUID
        reason: str

    @event(Submitted)
    def __init__(self, user_id: UUID, subjects: list[str], levels: list[str], qualifications_sealed: str,
                 statement_sealed: str, documents_sealed: str, document_count: int) -> None:
        self.user_id = user_id
        self.subjects = list(subjects)
        self.levels = list(levels)
        self.qualifications_sealed = qualifications_sealed
        self.statement_sealed = statement_sealed
        self.documents_sealed = documents_sealed
        self.document_count = document_count
        self.status = "submitted"
        self.reviewer_id: UUID | None = None
        self.review_note_sealed: str | None = None
        self.decided_at: datetime | None = None

    def check_reviewable_by(self, reviewer_id: UUID) -> None:
        if reviewer_id == self.user_id:
            raise SelfReview()
        if self.status != "submitted":
            raise Conflict(f"the application was already {self.status}", field="status")

    def approve(self, reviewer_id: UUID, note_sealed: str | None) -> None:
        self.check_reviewable_by(reviewer_id)
        self._approved(reviewer_id, note_sealed, self.user_id, self.subjects, self.levels)

    @event(Approved)
    def _approved(self, reviewer_id: UUID, note_sealed: str | None, user_id: UUID, subjects: list[str],
                  levels: list[str], timestamp: datetime | None = None) -> None:
        self.status = "approved"
        self.reviewer_id = reviewer_id
        self.review_note_sealed = note_sealed
        self.decided_at = timestamp

    def reject(self, reviewer_id: UUID, reason_sealed: str) -> None:
        self.check_reviewable_by(reviewer_id)
        self._rejected(reviewer_id, reason_sealed, self.user_id)

    @event(Rejected)
    def _rejected(self, reviewer_id: UUID, reason_sealed: str, user_id: UUID,
                  timestamp: datetime | None = None) -> None:
        self.status = "rejected"
        self.reviewer_id = reviewer_id
        self.review_note_sealed = reason_sealed
        self.decided_at = timestamp

    def withdraw(self, reason: str) -> None:
        if self.status == "submitted":
            self._withdrawn(self.user_id, reason)

    @event(Withdrawn)
    def _withdrawn(self, user_id: UUID, reason: str, timestamp: datetime | None = None) -> None:
        self.status = "withdrawn"
        self.decided_at = timestamp
