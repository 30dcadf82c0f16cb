"""Reputation's domain events → public contracts (``reputation.events``). Anything not listed
is internal (review words, flags, seats, pairs, members) and never leaves the service."""

from __future__ import annotations

from typing import Any, Literal

from alphapeer_contracts import reputation as c
from alphapeer_contracts.base import IntegrationEvent
from reputation.domain.certificate import Certificate
from reputation.domain.review import Review
from reputation.domain.tutor import TutorRecord
from servicekit.eventstore import ServiceApplication

_R: Any = Review
_T: Any = TutorRecord
_C: Any = Certificate


class Translator:
    def __init__(self, app: ServiceApplication) -> None:
        self.app = app

    def __call__(self, e: Any) -> IntegrationEvent | None:
        at = e.timestamp
        if isinstance(e, _T.Changed):
            tutor = self.app.load(TutorRecord, e.originator_id).tutor_id
            return c.TutorReputationChanged(tutor_id=tutor, standing_version=e.version, occurred_at=at, **e.figures)
        if isinstance(e, _T.BadgeAwarded):
            tutor = self.app.load(TutorRecord, e.originator_id).tutor_id
            return c.BadgeAwarded(tutor_id=tutor, badge=e.badge, reward_credits=e.reward_credits, occurred_at=at)
        if isinstance(e, _C.Issued):
            return c.CertificateIssued(certificate_id=e.originator_id, holder_id=e.holder_id, kind=e.kind,
                                       code=e.code, occurred_at=at)
        if isinstance(e, (_R.Written, _R.Edited, _R.Moderated, _R.Held)):
            review = self.app.load(Review, e.originator_id)
            removed = (isinstance(e, _R.Moderated) and e.action == "remove") or isinstance(e, _R.Held)
            if removed:
                reason: str = e.reason_code if isinstance(e, _R.Moderated) else "gaming"
                code: Literal["abusive", "gaming", "other"] = \
                    "abusive" if reason == "abusive" else "gaming" if reason == "gaming" else "other"
                return c.ReviewRemoved(review_id=review.id, tutor_id=review.tutor_id, student_id=review.student_id,
                                       reason_code=code, occurred_at=at)
            if (isinstance(e, _R.Written) and e.held) or (isinstance(e, _R.Edited) and e.held):
                return None
            ratings = e.ratings if not isinstance(e, _R.Moderated) else review.ratings
            return c.ReviewPublished(review_id=review.id, session_id=review.session_id, tutor_id=review.tutor_id,
                                     student_id=review.student_id, overall=round(sum(ratings.values()) / 4, 3),
                                     edited=isinstance(e, _R.Edited), occurred_at=at, **ratings)
        return None
