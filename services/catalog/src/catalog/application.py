"""Catalog's use cases, and its reactions to identity's events.

Every command takes ids and command values (domain/commands.py) and is a load, a decision
in the domain, and a save; those that may simply be decided again on fresh state when
another writer saved first are @retry_on_conflict(). Queries return views (dataclasses)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import RecordConflictError

from alphapeer_contracts import identity as idc
from alphapeer_contracts.base import IntegrationEvent
from alphapeer_contracts.vocabulary import LEVELS
from catalog.domain.commands import (
    COMMUNICATION,
    SESSION_MINUTES,
    TEACHING_STYLES,
    Caller,
    CourseDraft,
    ListingChanges,
    ListingDetails,
    MediaFile,
    NewSubject,
    PromotionOffer,
    RetireReason,
    Upload,
    WithdrawReason,
)
from catalog.domain.course import Course
from catalog.domain.enrolment import Enrolment, Marked, Progress
from catalog.domain.errors import Forbidden, NotFound
from catalog.domain.listing import Listing, opened
from catalog.domain.ports import Sealer
from catalog.domain.standing import TutorStanding
from catalog.domain.taxonomy import Taxonomy
from servicekit.blobstore import BlobNotFound
from servicekit.eventstore import ServiceApplication, retry_on_conflict
from servicekit.subscriber import Delivery

log = logging.getLogger(__name__)


class MediaFiles(Protocol):
    """The media store (adapters/media.py): checks a file by its bytes and keeps it."""

    @property
    def max_bytes(self) -> int: ...

    def put(self, listing_id: UUID, upload: Upload) -> MediaFile: ...

    def open(self, listing_id: UUID, sha256: str) -> Iterator[bytes]: ...

    def delete(self, listing_id: UUID, sha256: str) -> None: ...


# -- views ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaxonomyView:
    areas: list[dict[str, Any]]
    levels: list[str]
    session_minutes: list[int]
    teaching_styles: list[str]
    communication: list[str]


@dataclass(frozen=True)
class ListingView:
    listing_id: UUID
    tutor_id: UUID
    status: str
    listing: dict[str, Any]  # the public snapshot, as published
    created_at: datetime
    modified_at: datetime


@dataclass(frozen=True)
class PromotionView:
    promotion_id: str
    code: str
    percent_off: int | None
    credits_off: int | None
    max_redemptions: int | None
    expires_at: str
    ended: bool


@dataclass(frozen=True)
class StandingView:
    tutor_id: UUID
    approved: bool
    suspended: bool
    erased: bool
    may_publish: bool


@dataclass(frozen=True)
class CourseView:
    course_id: UUID
    creator_id: UUID
    status: str
    public: dict[str, Any]  # what CoursePublished carries
    enrolments: int
    syllabus: list[dict[str, Any]]  # with answer keys only for its creator and staff


@dataclass(frozen=True)
class MediaDownload:
    file: MediaFile
    chunks: Iterator[bytes]


@dataclass(frozen=True)
class AttemptView:
    marked: Marked
    progress: Progress


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _listing_view(listing: Listing, sealer: Sealer) -> ListingView:
    return ListingView(listing.id, listing.tutor_id, listing.status, opened(listing.snapshot, sealer),
                       listing.created_on, listing.modified_on)


class CatalogApplication(ServiceApplication):
    name = "catalog"

    def __init__(self, env: dict[str, str] | None = None, *, media_files: MediaFiles, sealer: Sealer,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.media_files = media_files
        self.sealer = sealer
        self.clock = clock
        super().__init__(env)

    def _standing(self, user_id: UUID) -> TutorStanding | None:
        # Not a loader of its own: the standing's id is derived from the user's.
        return self.find(TutorStanding, TutorStanding.create_id(user_id))

    # -- taxonomy --------------------------------------------------------------------------------

    def ensure_taxonomy(self) -> None:
        if self.find(Taxonomy, Taxonomy.create_id()) is None:
            # Another replica starting at the same time may have seeded it first.
            with contextlib.suppress(RecordConflictError):
                self.save(Taxonomy.seeded())

    def _taxonomy(self) -> Taxonomy:
        return self.load(Taxonomy, Taxonomy.create_id(), "taxonomy")

    def taxonomy(self) -> TaxonomyView:
        return TaxonomyView(self._taxonomy().tree(), list(LEVELS), list(SESSION_MINUTES), list(TEACHING_STYLES),
                            list(COMMUNICATION))

    @retry_on_conflict()
    def add_subject(self, new: NewSubject) -> str:
        taxonomy = self._taxonomy()
        subject_id = taxonomy.add_subject(new)
        self.save(taxonomy)
        return subject_id

    @retry_on_conflict()
    def retire_subject(self, subject_id: str) -> None:
        taxonomy = self._taxonomy()
        taxonomy.retire_subject(subject_id)
        self.save(taxonomy)

    # -- listings ------------------------------------------------------------------------------

    def _owned(self, listing_id: UUID, caller: Caller) -> Listing:
        listing = self.load(Listing, listing_id, "listing")
        listing.check_owner(caller)
        return listing

    @retry_on_conflict()
    def create_listing(self, tutor_id: UUID, details: ListingDetails) -> UUID:
        listing = Listing.draft(tutor_id, details, self._taxonomy(), self.sealer)
        # The standing remembers the listing, so a departure can withdraw it.
        standing = self._standing(tutor_id) or TutorStanding(tutor_id=tutor_id)
        standing.add_listing(listing.id)
        self.save(listing, standing)
        return listing.id

    @retry_on_conflict()
    def edit_listing(self, listing_id: UUID, actor: UUID, changes: ListingChanges) -> None:
        listing = self._owned(listing_id, Caller(actor))
        listing.edit(changes, self._taxonomy(), self.sealer)
        self.save(listing)

    @retry_on_conflict()
    def publish_listing(self, listing_id: UUID, actor: UUID) -> None:
        listing = self._owned(listing_id, Caller(actor))
        listing.publish(self._standing(listing.tutor_id))
        self.save(listing)

    @retry_on_conflict()
    def pause_listing(self, listing_id: UUID, actor: UUID) -> None:
        listing = self._owned(listing_id, Caller(actor))
        listing.pause()
        self.save(listing)

    @retry_on_conflict()
    def withdraw_listing(self, listing_id: UUID, caller: Caller) -> None:
        listing = self._owned(listing_id, caller)
        reason: WithdrawReason = "by_tutor" if listing.tutor_id == caller.user_id else "by_staff"
        listing.withdraw(reason)
        self.save(listing)

    @property
    def max_upload_bytes(self) -> int:
        return self.media_files.max_bytes

    def add_media(self, listing_id: UUID, actor: UUID, upload: Upload) -> MediaFile:
        """Refused before anything is stored; the file is stored once, then recorded (decided
        again on fresh state if the listing changed meanwhile)."""
        self._owned(listing_id, Caller(actor)).check_takes_media()
        media = self.media_files.put(listing_id, upload)
        self._record_media(listing_id, actor, media)
        return media

    @retry_on_conflict()
    def _record_media(self, listing_id: UUID, actor: UUID, media: MediaFile) -> None:
        listing = self._owned(listing_id, Caller(actor))
        listing.add_media(media)
        self.save(listing)

    def open_media(self, listing_id: UUID, media_id: UUID) -> MediaDownload:
        """A sample file, to anyone, while its listing is shown to anyone."""
        listing = self.find(Listing, listing_id)
        media = listing.media_file(media_id) if listing else None
        if listing is None or media is None or not listing.shown_to(Caller(), self._standing(listing.tutor_id)):
            raise NotFound("no such media")
        try:
            return MediaDownload(media, self.media_files.open(listing_id, media.sha256))
        except BlobNotFound:
            log.error("media %s of listing %s is listed but not in the store", media_id, listing_id)
            raise NotFound("no such media") from None

    @retry_on_conflict()
    def add_promotion(self, listing_id: UUID, actor: UUID, offer: PromotionOffer) -> PromotionView:
        listing = self._owned(listing_id, Caller(actor))
        promotion_id = uuid4()
        listing.add_promotion(promotion_id, offer, self.clock())
        self.save(listing)
        return next(p for p in self._promotions(listing) if p.promotion_id == str(promotion_id))

    @retry_on_conflict()
    def end_promotion(self, listing_id: UUID, actor: UUID, promotion_id: UUID) -> list[PromotionView]:
        listing = self._owned(listing_id, Caller(actor))
        listing.end_promotion(promotion_id)
        self.save(listing)
        return self._promotions(listing)

    def promotions_of(self, listing_id: UUID, caller: Caller) -> list[PromotionView]:
        return self._promotions(self._owned(listing_id, caller))

    @staticmethod
    def _promotions(listing: Listing) -> list[PromotionView]:
        return [PromotionView(**p) for p in listing.promotions]

    def listing_for(self, listing_id: UUID, caller: Caller) -> ListingView:
        """As if absent when not shown to the caller (a draft, or its tutor suspended)."""
        listing = self.find(Listing, listing_id)
        if listing is None or not listing.shown_to(caller, self._standing(listing.tutor_id)):
            raise NotFound("no such listing")
        return _listing_view(listing, self.sealer)

    def listings_of(self, tutor_id: UUID, caller: Caller) -> list[ListingView]:
        standing = self._standing(tutor_id)
        listings = [self.load(Listing, i, "listing") for i in (standing.listing_ids if standing else [])]
        return [_listing_view(x, self.sealer) for x in listings if x.shown_to(caller, standing)]

    def standing_of(self, tutor_id: UUID, caller: Caller) -> StandingView:
        if caller.user_id != tutor_id and not caller.staff:
            raise Forbidden("this belongs to another user")
        s = self._standing(tutor_id)
        if s is None:
            return StandingView(tutor_id, approved=False, suspended=False, erased=False, may_publish=False)
        return StandingView(tutor_id, s.approved, s.suspended, s.erased, s.may_publish)

    # -- courses ---------------------------------------------------------------------------------

    @retry_on_conflict()
    def create_course(self, creator_id: UUID, draft: CourseDraft) -> UUID:
        course = Course.draft(creator_id, draft, self._taxonomy())
        self.save(course)
        return course.id

    @retry_on_conflict()
    def publish_course(self, course_id: UUID, actor: UUID) -> None:
        course = self.load(Course, course_id, "course")
        course.check_owner(Caller(actor))
        course.publish()
        self.save(course)

    @retry_on_conflict()
    def retire_course(self, course_id: UUID, caller: Caller, reason: RetireReason) -> None:
        course = self.load(Course, course_id, "course")
        course.check_owner(caller)
        course.retire(reason)
        self.save(course)

    @retry_on_conflict()
    def enrol(self, course_id: UUID, student_id: UUID, funded_by: UUID | None) -> UUID:
        course = self.load(Course, course_id, "course")
        enrolment_id = uuid4()
        course.enrol(enrolment_id, student_id, funded_by, self._standing(course.creator_id))
        self.save(course)
        return enrolment_id

    def course_view(self, course_id: UUID, caller: Caller) -> CourseView:
        """Its creator and staff see it in any state, with answer keys; others a published
        course without them, and not while its creator is suspended."""
        course = self.find(Course, course_id)
        if course is None or not course.shown_to(caller, self._standing(course.creator_id)):
            raise NotFound("no such course")
        return CourseView(course.id, course.creator_id, course.status, course.public(), len(course.enrolled),
                          course.syllabus_for(caller))

    # -- progress ----------------------------------------------------------------------------

    def _progress(self, course: Course, student_id: UUID) -> Enrolment:
        return self.find(Enrolment, course.enrolment_id(student_id)) or course.begin_progress(student_id)

    @retry_on_conflict()
    def attempt_quiz(self, course_id: UUID, student_id: UUID, module: int, answers: tuple[int, ...]) -> AttemptView:
        course = self.load(Course, course_id, "course")
        enrolment = self._progress(course, student_id)
        marked = enrolment.attempt(module, answers, course.answer_keys())
        self.save(enrolment)
        return AttemptView(marked, enrolment.progress())

    @retry_on_conflict()
    def complete_reading(self, course_id: UUID, student_id: UUID, module: int) -> Progress:
        course = self.load(Course, course_id, "course")
        enrolment = self._progress(course, student_id)
        enrolment.complete_reading(module)
        self.save(enrolment)
        return enrolment.progress()

    def progress(self, course_id: UUID, student_id: UUID, caller: Caller) -> Progress:
        course = self.load(Course, course_id, "course")
        course.check_progress_reader(caller, student_id)
        return self._progress(course, student_id).progress()

    # -- reactions to identity -------------------------------------------------------------

    def _erase_personal_data(self, user_id: UUID, standing: TutorStanding) -> None:
        """The tutor's media files go, and their key: every bio, qualification and place
        ever sealed under it — here, on catalog.events, in every consumer — stays sealed for
        good. Both are idempotent (erasure is final), so a redelivery changes nothing."""
        for listing_id in standing.listing_ids:
            listing = self.find(Listing, listing_id)
            for media in (listing.snapshot.get("media", []) if listing else []):
                self.media_files.delete(listing_id, media["sha256"])
        self.sealer.forget(user_id)

    def react_to_identity(self, event: IntegrationEvent, delivery: Delivery) -> list[Aggregate]:
        """What an identity event changes here; the kit saves it with its tracking row (and
        decides again on fresh state when an HTTP command saved the standing meanwhile).

        Suspension is recorded for any user, not only tutors: a suspended creator's courses
        are withheld like a tutor's listings."""
        user_id = getattr(event, "user_id", None)
        if user_id is None:
            return []
        standing = self._standing(user_id) or TutorStanding(tutor_id=user_id)
        withdraw: WithdrawReason | None = None
        if isinstance(event, idc.TutorApproved) or (isinstance(event, idc.RoleGranted) and event.role == "tutor"):
            changed = standing.update(approved=True)
        elif isinstance(event, idc.RoleRevoked) and event.role == "tutor":
            changed, withdraw = standing.update(approved=False), "tutor_role_revoked"
        elif isinstance(event, idc.UserSuspended):
            changed = standing.update(suspended=True)
        elif isinstance(event, idc.UserReinstated):
            changed = standing.update(suspended=False)
        elif isinstance(event, idc.UserErased):
            changed, withdraw = standing.update(erased=True), "tutor_erased"
            self._erase_personal_data(event.user_id, standing)
        else:
            return []
        aggregates: list[Aggregate] = [standing] if changed else []
        if withdraw:
            for listing_id in standing.listing_ids:
                listing = self.load(Listing, listing_id, "listing")
                if listing.status != "withdrawn":
                    listing.withdraw(withdraw)
                    aggregates.append(listing)
        return aggregates
