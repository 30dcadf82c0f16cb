"""Reputation's use cases, and its reactions to sessions', booking's, catalog's and identity's
events. Every change to a tutor's figures ends with the record published again (its whole
standing, versioned), which matching projects into its ranking."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from alphapeer_contracts import booking as bkc
from alphapeer_contracts import catalog as cat
from alphapeer_contracts import identity as idc
from alphapeer_contracts import sessions as ses
from alphapeer_contracts.base import IntegrationEvent
from reputation.domain.certificate import Certificate, CodeIndex, Course, Member
from reputation.domain.commands import Ratings
from reputation.domain.review import Pair, Review, Seat
from reputation.domain.rules import Rules, abusive, term_of
from reputation.domain.tutor import TutorRecord
from servicekit.errors import Conflict, Forbidden, NotFound
from servicekit.eventstore import ServiceApplication, retry_on_conflict
from servicekit.subscriber import Delivery
from servicekit.vault import PersonalDataVault

#: Opens a member's sealed name (identity's key, by the key ring), or None once erased.
Names = Callable[[UUID, str | None], str | None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ReputationApplication(ServiceApplication):
    name = "reputation"

    def __init__(self, env: dict[str, str] | None = None, *, rules: Rules, sealer: PersonalDataVault,
                 names: Names | None = None, clock: Callable[[], datetime] = _utcnow) -> None:
        self.rules = rules
        self.sealer = sealer
        self.names: Names = names or (lambda user, sealed: None)
        self.clock = clock
        super().__init__(env)

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def opened(self, writer: UUID, sealed: str | None) -> str | None:
        return self.sealer.read(writer, sealed)

    def record_of(self, tutor_id: UUID) -> TutorRecord:
        return self.find(TutorRecord, TutorRecord.create_id(tutor_id)) or TutorRecord.open(tutor_id)

    def _settled(self, record: TutorRecord) -> TutorRecord:
        """Badges the figures now earn, then the standing published."""
        record.award_due(self.rules)
        record.publish(self.rules)
        return record

    # -- reactions -------------------------------------------------------------------------

    def react(self, event: IntegrationEvent, delivery: Delivery) -> list[Any]:
        if isinstance(event, ses.SessionCompleted):
            return self._taught(event)
        if isinstance(event, (ses.SessionNoShow, bkc.NoShowRecorded)):
            return self._missed(event)
        if isinstance(event, bkc.BookingCancelled) and event.cancelled_by == "tutor":
            record = self.record_of(event.tutor_id)
            key = f"cancel:{event.booking_id}:{','.join(map(str, sorted(event.occurrences)))}"
            if record.counted(key):
                return []
            record.cancelled(key)
            return [self._settled(record)]
        if isinstance(event, (idc.UserRegistered, idc.UserRegisteredV2)) and \
                self.find(Member, Member.create_id(event.user_id)) is None:
            sealed = event.display_name if isinstance(event, idc.UserRegisteredV2) else None
            return [Member.join(event.user_id, event.occurred_at, sealed)]
        if isinstance(event, idc.PublicProfileUpdatedV2):
            member = self.find(Member, Member.create_id(event.user_id))
            if member is not None:
                member.rename(event.display_name)
                return [member]
        if isinstance(event, idc.UserErased):
            self.sealer.forget(event.user_id)  # their reviews' and responses' words: unreadable for good
        if isinstance(event, cat.CoursePublished) and self.find(Course, Course.create_id(event.course_id)) is None:
            return [Course.learn(event.course_id, event.creator_id, event.title)]
        if isinstance(event, cat.CourseCompleted):
            return self._course_completed(event)
        return []

    def _taught(self, e: ses.SessionCompleted) -> list[Any]:
        if e.session_id is None or e.tutor_id is None or e.student_id is None:
            return []  # published before sessions said who (v0): nothing to review or count
        out: list[Any] = []
        if self.find(Seat, Seat.create_id(e.session_id, e.student_id)) is None:
            out.append(Seat.took_place(e.session_id, e.student_id, tutor_id=e.tutor_id, booking_id=e.booking_id,
                                       ended_at=e.ended_at, minutes=e.minutes_taught or 0))
        record = self.record_of(e.tutor_id)
        key = f"{e.booking_id}:{e.occurrence}"
        if not record.counted(key):
            record.taught(key, e.minutes_taught or 0, e.ended_at, term_of(e.ended_at, self.rules))
            out.append(self._settled(record))
        return out

    def _missed(self, e: Any) -> list[Any]:
        if e.absent not in ("tutor", "both") or getattr(e, "tutor_id", None) is None:
            return []
        record = self.record_of(e.tutor_id)
        key = f"{e.booking_id}:{e.occurrence}"
        if record.counted(key):
            return []
        was_on_probation = record.on_probation(self.rules)
        record.missed_one(key)
        if was_on_probation:
            record.flag(uuid.uuid4(), "probation_no_show", None, e.occurred_at)
        return [self._settled(record)]

    def _course_completed(self, e: cat.CourseCompleted) -> list[Any]:
        out: list[Any] = []
        course = self.find(Course, Course.create_id(e.course_id))
        title = course.title if course else None
        out += self._issue("course_completion", e.student_id, str(e.course_id),
                           {"course_id": str(e.course_id), "course_title": title,
                            "modules_passed": e.modules_passed, "modules_total": e.modules_total}, e.occurred_at)
        if course is not None:
            out += self._issue("teaching", course.creator_id, str(e.course_id),
                               {"course_id": str(e.course_id), "course_title": title}, e.occurred_at)
        return out

    def _issue(self, kind: str, holder: UUID, scope: str, details: dict[str, Any], at: datetime) -> list[Any]:
        if self.find(Certificate, Certificate.create_id(kind, holder, scope)) is not None:
            return []
        cert = Certificate.issue(kind, holder, scope, details, at)
        return [cert, CodeIndex.point(cert.code, cert.id)]

    # -- reviews ---------------------------------------------------------------------------

    def _held_for(self, text: str | None, student: UUID, record: TutorRecord, now: datetime) -> str | None:
        if text and abusive(text):
            return "abusive"
        member = self.find(Member, Member.create_id(student))
        if member is not None and now - member.joined_at < timedelta(days=self.rules.new_account_days):
            record.new_account_review(now)
            if record.burst(now, self.rules):
                return "new_account_burst"
        return None

    @retry_on_conflict()
    def review(self, student: UUID, session_id: UUID, ratings: Ratings, text: str | None) -> Review:
        seat = self.find(Seat, Seat.create_id(session_id, student))
        if seat is None:
            raise Forbidden("only a student who attended a session that took place reviews it")
        if self.find(Review, Review.create_id(session_id, student)) is not None:
            raise Conflict("you reviewed this session already: edit your review instead")
        now = self.now()
        record = self.record_of(seat.tutor_id)
        held = self._held_for(text, student, record, now)
        review = Review.write(seat, ratings.as_dict(), self.sealer.seal(student, text) if text else None, held, now)
        changed: list[Any] = [review, record]
        changed += self._reciprocity(review)
        if review.counts:
            record.rated(review.overall, 1)
        if record.on_probation(self.rules) and review.overall <= self.rules.probation_low_rating:
            record.flag(uuid.uuid4(), "probation_low_rating", review.id, now)
        self._settled(record)
        self.save(*changed)
        return review

    def _reciprocity(self, review: Review) -> list[Any]:
        """Peers who tutor each other and give each other full marks: both reviews held for staff."""
        pair = self.find(Pair, Pair.create_id(review.student_id, review.tutor_id)) or \
            Pair.of(review.student_id, review.tutor_id)
        pair.rate(review.student_id, review.tutor_id, review.overall, review.id)
        other_id = pair.reciprocal_five_stars(review.student_id, review.tutor_id)
        if other_id is None:
            return [pair]
        review.hold("reciprocal_five_stars")
        other = self.load(Review, other_id)
        out: list[Any] = [pair, other]
        if other.counts:
            other_record = self.record_of(other.tutor_id)
            other_record.rated(-other.overall, -1)
            self._settled(other_record)
            out.append(other_record)
        other.hold("reciprocal_five_stars")
        return out

    @retry_on_conflict()
    def edit(self, review_id: UUID, student: UUID, ratings: Ratings, text: str | None) -> Review:
        review = self.load(Review, review_id, "review")
        now = self.now()
        review.check_editable(student, now, self.rules.edit_hours)
        record = self.record_of(review.tutor_id)
        before = review.overall if review.counts else None
        held = "abusive" if text and abusive(text) else None
        review.edit(ratings.as_dict(), self.sealer.seal(student, text) if text else None, held, now)
        if before is not None:
            record.rated(-before, -1)
        if review.counts:
            record.rated(review.overall, 1)
        self._settled(record)
        self.save(review, record)
        return review

    @retry_on_conflict()
    def respond(self, review_id: UUID, tutor: UUID, text: str) -> Review:
        review = self.load(Review, review_id, "review")
        if review.status != "published":
            raise Conflict("only a published review is answered")
        review.respond(tutor, self.sealer.seal(tutor, text), self.now())
        self.save(review)
        return review

    @retry_on_conflict()
    def moderate(self, review_id: UUID, staff: UUID, action: str, reason_code: str) -> Review:
        review = self.load(Review, review_id, "review")
        record = self.record_of(review.tutor_id)
        counted = review.counts
        if (action == "publish" and counted) or (action == "remove" and review.status == "removed"):
            raise Conflict(f"this review is {review.status} already")
        review.moderate(action, reason_code, staff)
        if counted != review.counts:
            record.rated(review.overall if review.counts else -review.overall, 1 if review.counts else -1)
        for flag_id, flag in record.flags.items():
            if flag["review_id"] == review.id and not flag["resolved"]:
                record.resolve(UUID(flag_id), staff, f"review_{action}")
        self._settled(record)
        self.save(review, record)
        return review

    @retry_on_conflict()
    def resolve_flag(self, tutor_id: UUID, flag_id: UUID, staff: UUID, note_code: str) -> TutorRecord:
        record = self.find(TutorRecord, TutorRecord.create_id(tutor_id))
        if record is None:
            raise NotFound("no such flag")
        record.resolve(flag_id, staff, note_code)
        self.save(record)
        return record

    # -- certificates ----------------------------------------------------------------------

    @retry_on_conflict()
    def hours_certificate(self, tutor: UUID, term: str) -> Certificate:
        record = self.find(TutorRecord, TutorRecord.create_id(tutor))
        minutes = record.minutes_by_term.get(term, 0) if record else 0
        if minutes <= 0:
            raise Conflict(f"no tutoring recorded in {term}", field="term")
        scope = f"{term}:{minutes}"  # more hours later: a new certificate; the same hours: this one
        found = self.find(Certificate, Certificate.create_id("tutoring_hours", tutor, scope))
        if found is not None:
            return found
        changed = self._issue("tutoring_hours", tutor, scope, {"term": term, "minutes": minutes,
                                                               "hours": round(minutes / 60, 2)}, self.now())
        self.save(*changed)
        return changed[0]  # type: ignore[no-any-return]

    def certificate_by_code(self, code: str) -> Certificate:
        index = self.find(CodeIndex, CodeIndex.create_id(code.upper()))
        if index is None:
            raise NotFound("no certificate has this code")
        return self.load(Certificate, index.certificate_id, "certificate")

    def holder_name(self, holder: UUID) -> str | None:
        member = self.find(Member, Member.create_id(holder))
        return self.names(holder, member.sealed_name) if member else None
