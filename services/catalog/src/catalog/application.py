"""Catalog's use cases, and its reactions to identity's events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from alphapeer_contracts import identity as idc
from alphapeer_contracts.base import IntegrationEvent
from catalog.domain.course import Course, build_syllabus, check_completion
from catalog.domain.enrolment import Enrolment, level_thresholds
from catalog.domain.errors import NotFound, NotOwner, ValidationError
from catalog.domain.listing import Listing, TutorStanding, build_snapshot, check_promotion
from catalog.domain.rules import text_field
from catalog.domain.taxonomy import Taxonomy, check_level
from servicekit.eventstore import ServiceApplication, retry_on_conflict
from servicekit.subscriber import Delivery


@dataclass(frozen=True)
class ListingView:
    listing_id: UUID
    tutor_id: UUID
    status: str
    listing: dict[str, Any]
    created_at: Any
    modified_at: Any


class CatalogApplication(ServiceApplication):
    name = "catalog"

    # -- taxonomy --------------------------------------------------------------------

    def ensure_taxonomy(self) -> None:
        try:
            self.repository.get(Taxonomy.create_id())
        except AggregateNotFoundError:
            self.save(Taxonomy.seeded())

    def taxonomy(self) -> Taxonomy:
        tax: Any = self.repository.get(Taxonomy.create_id())
        return tax  # type: ignore[no-any-return]

    @retry_on_conflict()
    def add_subject(self, area: str, name: str, topics: list[str]) -> str:
        tax = self.taxonomy()
        subject_id = tax.add_subject(area, name, topics)
        self.save(tax)
        return subject_id

    @retry_on_conflict()
    def retire_subject(self, subject_id: str) -> None:
        tax = self.taxonomy()
        tax.retire_subject(subject_id)
        self.save(tax)

    # -- listings --------------------------------------------------------------------

    def _listing(self, listing_id: UUID) -> Listing:
        try:
            found: Any = self.repository.get(listing_id)
        except AggregateNotFoundError:
            raise NotFound("no such listing") from None
        if not isinstance(found, Listing):
            raise NotFound("no such listing")
        return found

    def _owned(self, listing_id: UUID, actor: UUID, staff: bool = False) -> Listing:
        listing = self._listing(listing_id)
        if listing.tutor_id != actor and not staff:
            raise NotOwner("this listing belongs to another tutor")
        return listing

    def _standing(self, tutor_id: UUID) -> TutorStanding | None:
        try:
            found: Any = self.repository.get(TutorStanding.create_id(tutor_id))
        except AggregateNotFoundError:
            return None
        return found  # type: ignore[no-any-return]

    @retry_on_conflict()
    def create_listing(self, tutor_id: UUID, raw: dict[str, Any]) -> UUID:
        snapshot = build_snapshot(raw, tutor_id, self.taxonomy())
        listing = Listing(tutor_id=tutor_id, snapshot=snapshot)
        standing = self._standing(tutor_id) or TutorStanding(tutor_id=tutor_id)
        standing.add_listing(listing.id)
        self.save(listing, standing)
        return listing.id

    @retry_on_conflict()
    def edit_listing(self, listing_id: UUID, actor: UUID, raw: dict[str, Any]) -> None:
        listing = self._owned(listing_id, actor)
        merged = {**listing.snapshot, **raw}
        listing.edit(build_snapshot(merged, listing.tutor_id, self.taxonomy()))
        self.save(listing)

    @retry_on_conflict()
    def publish_listing(self, listing_id: UUID, actor: UUID) -> None:
        listing = self._owned(listing_id, actor)
        listing.publish(self._standing(listing.tutor_id))
        self.save(listing)

    @retry_on_conflict()
    def pause_listing(self, listing_id: UUID, actor: UUID) -> None:
        listing = self._owned(listing_id, actor)
        listing.pause()
        self.save(listing)

    @retry_on_conflict()
    def withdraw_listing(self, listing_id: UUID, actor: UUID, staff: bool) -> None:
        listing = self._owned(listing_id, actor, staff=staff)
        listing.withdraw("by_tutor" if listing.tutor_id == actor else "by_staff")
        self.save(listing)

    @retry_on_conflict()
    def add_media(self, listing_id: UUID, actor: UUID, media: dict[str, Any]) -> None:
        listing = self._owned(listing_id, actor)
        listing.add_media(media)
        self.save(listing)

    @retry_on_conflict()
    def add_promotion(self, listing_id: UUID, actor: UUID, code: str, percent_off: int | None,
                      credits_off: int | None, max_redemptions: int | None, expires_at: datetime) -> UUID:
        listing = self._owned(listing_id, actor)
        code = check_promotion(code, percent_off, credits_off, max_redemptions, expires_at, datetime.now(UTC))
        promotion_id = uuid4()
        listing.add_promotion(promotion_id, code, percent_off, credits_off, max_redemptions, expires_at)
        self.save(listing)
        return promotion_id

    @retry_on_conflict()
    def end_promotion(self, listing_id: UUID, actor: UUID, promotion_id: UUID) -> None:
        listing = self._owned(listing_id, actor)
        listing.end_promotion(promotion_id)
        self.save(listing)

    def promotions_of(self, listing_id: UUID, actor: UUID, staff: bool) -> list[dict[str, Any]]:
        return list(self._owned(listing_id, actor, staff=staff).promotions)

    def get_listing(self, listing_id: UUID) -> ListingView:
        listing = self._listing(listing_id)
        return ListingView(listing.id, listing.tutor_id, listing.status, listing.snapshot, listing.created_on,
                           listing.modified_on)

    def listings_of(self, tutor_id: UUID) -> list[ListingView]:
        standing = self._standing(tutor_id)
        return [self.get_listing(i) for i in (standing.listing_ids if standing else [])]

    def standing_of(self, tutor_id: UUID) -> dict[str, Any]:
        s = self._standing(tutor_id)
        if s is None:
            return {"approved": False, "suspended": False, "erased": False, "may_publish": False}
        return {"approved": s.approved, "suspended": s.suspended, "erased": s.erased, "may_publish": s.may_publish}

    # -- courses ---------------------------------------------------------------------------

    def _course(self, course_id: UUID) -> Course:
        try:
            found: Any = self.repository.get(course_id)
        except AggregateNotFoundError:
            raise NotFound("no such course") from None
        if not isinstance(found, Course):
            raise NotFound("no such course")
        return found

    def create_course(self, creator_id: UUID, raw: dict[str, Any]) -> UUID:
        tax = self.taxonomy()
        subject = tax.subject(str(raw.get("subject_id", "")))
        modules = build_syllabus(list(raw.get("modules") or []))
        levels = [str(x).strip() for x in raw.get("levels") or [] if str(x).strip()]
        price = raw.get("price_credits", 0)
        if not isinstance(price, int) or price < 0:
            raise ValidationError("price_credits", "must be a whole number, 0 or more")
        course = Course(
            creator_id=creator_id,
            title=text_field("title", raw.get("title"), 3, 200),
            description=text_field("description", raw.get("description"), 0, 5000),
            subject_id=subject["subject_id"], level=check_level(str(raw.get("level", "")), "level"),
            modules=modules, completion=check_completion(dict(raw.get("completion") or {}), len(modules)),
            levels=levels, price_credits=price,
            level_thresholds=level_thresholds(levels, raw.get("level_up_after"), len(modules)) if levels else [],
        )
        self.save(course)
        return course.id

    @retry_on_conflict()
    def publish_course(self, course_id: UUID, actor: UUID) -> None:
        course = self._own_course(course_id, actor)
        course.publish()
        self.save(course)

    @retry_on_conflict()
    def retire_course(self, course_id: UUID, actor: UUID, reason_code: str, staff: bool) -> None:
        course = self._own_course(course_id, actor, staff)
        course.retire(reason_code)
        self.save(course)

    @retry_on_conflict()
    def enrol(self, course_id: UUID, student_id: UUID, funded_by: UUID | None) -> UUID:
        course = self._course(course_id)
        enrolment_id = uuid4()
        course.enrol(enrolment_id, student_id, funded_by)
        self.save(course)
        return enrolment_id

    # -- progress ------------------------------------------------------------------------

    def _enrolment(self, course: Course, student_id: UUID) -> Enrolment:
        found = course.enrolment_of.get(str(student_id))
        if found is None:
            raise NotFound("not enrolled in this course")
        try:
            enrolment: Any = self.repository.get(found["enrolment_id"])
            return enrolment  # type: ignore[no-any-return]
        except AggregateNotFoundError:
            return Enrolment(id=found["enrolment_id"], course_id=course.id, student_id=student_id,
                             funded_by=found["funded_by"], quiz_sizes=[len(m["quiz"]) for m in course.modules],
                             modules_required=course.completion["modules_required"],
                             min_quiz_score_pct=course.completion["min_quiz_score_pct"], levels=course.levels,
                             level_thresholds=course.level_thresholds)

    @retry_on_conflict()
    def attempt_quiz(self, course_id: UUID, student_id: UUID, module: int, answers: list[int]) -> dict[str, Any]:
        course = self._course(course_id)
        enrolment = self._enrolment(course, student_id)
        if not 0 <= module < len(course.modules):
            raise ValidationError("module", f"must be 0 to {len(course.modules) - 1}")
        result = enrolment.attempt(module, answers, course.answer_key(module))
        self.save(enrolment)
        return {**result, "progress": enrolment.view()}

    @retry_on_conflict()
    def complete_reading(self, course_id: UUID, student_id: UUID, module: int) -> dict[str, Any]:
        course = self._course(course_id)
        enrolment = self._enrolment(course, student_id)
        enrolment.complete_reading(module)
        self.save(enrolment)
        return enrolment.view()

    def progress(self, course_id: UUID, student_id: UUID, actor: UUID, staff: bool) -> dict[str, Any]:
        """The learner's own progress; the course's creator and staff may read any learner's,
        and a funder the progress of a learner whose enrolment they pay for."""
        course = self._course(course_id)
        enrolled = course.enrolment_of.get(str(student_id))
        funder = enrolled["funded_by"] if enrolled else None
        if actor not in (student_id, course.creator_id, funder) and not staff:
            raise NotOwner("only the learner, the course's creator, the learner's funder and staff see progress")
        return self._enrolment(course, student_id).view()

    def _own_course(self, course_id: UUID, actor: UUID, staff: bool = False) -> Course:
        course = self._course(course_id)
        if course.creator_id != actor and not staff:
            raise NotOwner("this course belongs to another creator")
        return course

    def course_view(self, course_id: UUID, actor: UUID, staff: bool) -> dict[str, Any]:
        """The creator and staff see the syllabus with answer keys; everyone else, published
        courses without them."""
        course = self._course(course_id)
        privileged = staff or course.creator_id == actor
        if course.status != "published" and not privileged:
            raise NotFound("no such course")
        doc: dict[str, Any] = {"course_id": course.id, "creator_id": course.creator_id, "status": course.status,
                               **course.public(), "enrolments": len(course.enrolled)}
        if privileged:
            doc["syllabus"] = course.modules
        else:
            doc["syllabus"] = [{**m, "quiz": [{k: v for k, v in q.items() if k != "answer"} for q in m["quiz"]]}
                               for m in course.modules]
        return doc

    # -- reactions to identity -----------------------------------------------------------

    def react_to_identity(self, event: IntegrationEvent, delivery: Delivery) -> list[Any]:
        """Decide what an identity event changes here; the kit saves it with its tracking."""
        user_id = getattr(event, "user_id", None)
        if user_id is None:
            return []
        standing = self._standing(user_id) or TutorStanding(tutor_id=user_id)
        approved, suspended, erased = standing.approved, standing.suspended, standing.erased
        withdraw_reason = None
        if isinstance(event, idc.TutorApproved) or (isinstance(event, idc.RoleGranted) and event.role == "tutor"):
            approved = True
        elif isinstance(event, idc.RoleRevoked) and event.role == "tutor":
            approved, withdraw_reason = False, "tutor_role_revoked"
        elif isinstance(event, idc.UserSuspended):
            suspended = True
        elif isinstance(event, idc.UserReinstated):
            suspended = False
        elif isinstance(event, idc.UserErased):
            erased, withdraw_reason = True, "tutor_erased"
        else:
            return []
        changed: list[Any] = []
        if (approved, suspended, erased) != (standing.approved, standing.suspended, standing.erased):
            standing.change(approved, suspended, erased)
            changed.append(standing)
        if withdraw_reason:
            for listing_id in standing.listing_ids:
                listing = self._listing(listing_id)
                if listing.status != "withdrawn":
                    listing.withdraw(withdraw_reason)
                    changed.append(listing)
        return changed
