"""Catalog's domain events → public contracts (``catalog.events``). Drafts and edits of
a hidden listing are internal; so is the taxonomy and each tutor's standing. A listing's
personal text travels sealed (v2 events; keys on ``catalog.keys``)."""

from __future__ import annotations

from typing import Any

from alphapeer_contracts import catalog as c
from alphapeer_contracts.base import IntegrationEvent
from catalog.domain.course import Course
from catalog.domain.enrolment import Enrolment
from catalog.domain.listing import PERSONAL, Listing

_C: Any = Course
_E: Any = Enrolment
_L: Any = Listing  # event classes are made by the @event decorator, unseen by type checkers


def _sealed(snapshot: dict[str, Any]) -> bool:
    """Stored since personal text is sealed (v2); before, it was in the clear (v1)."""
    return not any(isinstance(snapshot.get(f), dict) or (isinstance(snapshot.get(f), str) and snapshot.get(f)
                                                         and not snapshot[f].startswith("v1."))
                   for f in PERSONAL)


def _listing(e: Any, v2: Any, v1: Any) -> IntegrationEvent:
    # A snapshot stored before sealing is published as it always was (v1): history is not rewritten.
    if _sealed(e.snapshot):
        return v2(listing_id=e.originator_id, listing=c.ListingSnapshotV2.model_validate(e.snapshot),
                  occurred_at=e.timestamp)
    return v1(listing_id=e.originator_id, listing=c.ListingSnapshot.model_validate(e.snapshot),
              occurred_at=e.timestamp)


def to_contract(e: Any) -> IntegrationEvent | None:
    if isinstance(e, _L.Published):
        return _listing(e, c.ListingPublishedV2, c.ListingPublished)
    if isinstance(e, _L.Edited) and e.visible:
        return _listing(e, c.ListingUpdatedV2, c.ListingUpdated)
    if isinstance(e, _L.Paused):
        return c.ListingPaused(listing_id=e.originator_id, tutor_id=e.tutor_id, occurred_at=e.timestamp)
    if isinstance(e, _L.Withdrawn):
        return c.ListingWithdrawn(listing_id=e.originator_id, tutor_id=e.tutor_id, reason_code=e.reason_code,
                                  occurred_at=e.timestamp)
    if isinstance(e, _L.PromotionAdded):
        return c.PromotionCreated(listing_id=e.originator_id, promotion_id=e.promotion_id, tutor_id=e.tutor_id,
                                  code=e.code, percent_off=e.percent_off, credits_off=e.credits_off,
                                  max_redemptions=e.max_redemptions, expires_at=e.expires_at,
                                  occurred_at=e.timestamp)
    if isinstance(e, _L.PromotionEnded):
        return c.PromotionEnded(listing_id=e.originator_id, promotion_id=e.promotion_id, occurred_at=e.timestamp)
    if isinstance(e, _C.Published):
        return c.CoursePublished(course_id=e.originator_id, creator_id=e.creator_id, occurred_at=e.timestamp,
                                 **e.public)
    if isinstance(e, _C.Retired):
        return c.CourseRetired(course_id=e.originator_id, reason_code=e.reason_code, occurred_at=e.timestamp)
    if isinstance(e, _C.Enrolled):
        return c.EnrolmentCreated(course_id=e.originator_id, enrolment_id=e.enrolment_id, student_id=e.student_id,
                                  funded_by=e.funded_by, price_credits=e.price_credits, occurred_at=e.timestamp)
    if isinstance(e, _E.LevelReached):
        return c.CourseLevelReached(course_id=e.course_id, enrolment_id=e.originator_id, student_id=e.student_id,
                                    level=e.level, level_index=e.level_index, modules_passed=e.modules_passed,
                                    occurred_at=e.timestamp)
    if isinstance(e, _E.Completed):
        return c.CourseCompleted(course_id=e.course_id, enrolment_id=e.originator_id, student_id=e.student_id,
                                 funded_by=e.funded_by, modules_passed=e.modules_passed,
                                 modules_total=e.modules_total, occurred_at=e.timestamp)
    return None

