"""Catalog's HTTP gateway. Every route names who may call it; each parses its schema,
builds the command value, calls the application and shapes the answer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, File, Path, Response, UploadFile, status
from fastapi.responses import StreamingResponse

from catalog.answers import (
    AttemptOut,
    CourseOut,
    EnrolmentOut,
    ListingOut,
    Listings,
    MediaOut,
    ProgressOut,
    PromotionOut,
    Promotions,
    StandingOut,
    SubjectAdded,
    TaxonomyOut,
)
from catalog.application import CatalogApplication, CourseView, ListingView
from catalog.domain.commands import (
    KEEP,
    Caller,
    Completion,
    CourseDraft,
    Keep,
    ListingChanges,
    ListingDetails,
    Material,
    Module,
    NewSubject,
    Place,
    PromotionOffer,
    Question,
    Rate,
    SubjectChoice,
    Trial,
    Upload,
)
from catalog.schemas import (
    SUBJECT_ID_PATTERN,
    AttemptIn,
    CourseIn,
    EnrolIn,
    ListingIn,
    ListingPatch,
    PlaceIn,
    PromotionIn,
    RateIn,
    RetireIn,
    SubjectIn,
    SubjectLevelIn,
    TrialIn,
)
from servicekit.auth import Principal, current_principal, require_roles
from servicekit.gateway import provided

log = logging.getLogger(__name__)
T = TypeVar("T")
U = TypeVar("U")

Staff = Annotated[Principal, Depends(require_roles("staff", "admin"))]
Tutor = Annotated[Principal, Depends(require_roles("tutor"))]
Creator = Annotated[Principal, Depends(require_roles("creator", "tutor"))]
Student = Annotated[Principal, Depends(require_roles("student"))]
AnyUser = Annotated[Principal, Depends(current_principal)]


App = Annotated[CatalogApplication, Depends(provided("catalog"))]


#: A module of a course, by its index (a course has at most 60).
ModuleIndex = Annotated[int, Path(ge=0, le=59, description="The module's index in the syllabus, from 0")]
SubjectIdPath = Annotated[str, Path(min_length=2, max_length=200, pattern=SUBJECT_ID_PATTERN)]

#: What GET /v1/media answers with: the types an upload is recognised as (servicekit.uploads).
MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "audio/mpeg", "audio/ogg", "audio/wav",
               "video/mp4", "video/webm", "application/pdf")
MEDIA_FILE = {
    "description": "The file, as the type it was recognised as",
    "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in MEDIA_TYPES},
    "headers": {"ETag": {"description": "The file's SHA-256, quoted", "schema": {"type": "string"}},
                "Cache-Control": {"schema": {"type": "string"}},
                "X-Content-Type-Options": {"schema": {"type": "string", "enum": ["nosniff"]}}},
}

#: The rules behind a 422 that the schema cannot say, written into the operations that apply them.
SUBJECT_RULES = ("Besides the schema: each `subjects[i].subject_id` must be a subject of the current taxonomy "
                 "(`GET /v1/subjects`, not retired) and each of its `topics` one of that subject's topics; "
                 "otherwise 422 naming the field (e.g. `subjects.0.topics.1`).")


def caller(principal: Principal) -> Caller:
    return Caller(principal.user_id, principal.is_staff)


subjects = APIRouter(prefix="/v1/subjects", tags=["taxonomy"])
listings = APIRouter(prefix="/v1/listings", tags=["listings"])
tutors = APIRouter(prefix="/v1/tutors", tags=["listings"])
media = APIRouter(prefix="/v1/media", tags=["media"])
courses = APIRouter(prefix="/v1/courses", tags=["courses"])


# -- command values from the request schemas ------------------------------------------------------

def _subjects(items: list[SubjectLevelIn]) -> tuple[SubjectChoice, ...]:
    return tuple(SubjectChoice(s.subject_id, s.level, tuple(s.topics)) for s in items)


def _rate(rate: RateIn) -> Rate:
    return Rate(rate.credits_per_hour, rate.amount_minor_per_hour, rate.currency)


def _place(place: PlaceIn | None) -> Place | None:
    return Place(place.campus, place.lat, place.lon, place.travel_radius_km) if place else None


def _trial(trial: TrialIn | None) -> Trial | None:
    return Trial(trial.minutes, trial.free) if trial else None


def listing_details(body: ListingIn) -> ListingDetails:
    return ListingDetails(
        title=body.title, subjects=_subjects(body.subjects), rate=_rate(body.rate),
        session_minutes=tuple(body.session_minutes), modes=tuple(body.modes), languages=tuple(body.languages),
        place=_place(body.place), teaching_styles=tuple(body.teaching_styles),
        communication=tuple(body.communication), bio=body.bio, qualifications=body.qualifications,
        trial=_trial(body.trial))


def _changed(value: T | None, convert: Callable[[T], U]) -> U | Keep:
    """A field left out keeps its value (None: the schema refuses null for these fields)."""
    return KEEP if value is None else convert(value)


def listing_changes(body: ListingPatch) -> ListingChanges:
    given = body.model_fields_set  # place and trial may be sent as null: that removes them
    return ListingChanges(
        title=_changed(body.title, str), subjects=_changed(body.subjects, _subjects),
        rate=_changed(body.rate, _rate), session_minutes=_changed(body.session_minutes, tuple),
        modes=_changed(body.modes, tuple), languages=_changed(body.languages, tuple),
        place=_place(body.place) if "place" in given else KEEP,
        teaching_styles=_changed(body.teaching_styles, tuple), communication=_changed(body.communication, tuple),
        bio=_changed(body.bio, str), qualifications=_changed(body.qualifications, str),
        trial=_trial(body.trial) if "trial" in given else KEEP,
    )


def course_draft(body: CourseIn) -> CourseDraft:
    return CourseDraft(
        title=body.title, description=body.description, subject_id=body.subject_id, level=body.level,
        modules=tuple(
            Module(m.title, m.summary, tuple(Material(x.title, x.url) for x in m.materials),
                   tuple(Question(q.prompt, tuple(q.choices), q.answer) for q in m.quiz))
            for m in body.modules),
        completion=Completion(body.completion.min_quiz_score_pct, body.completion.modules_required),
        levels=tuple(body.levels),
        level_up_after=tuple(body.level_up_after) if body.level_up_after is not None else None,
        price_credits=body.price_credits)


# -- answers ------------------------------------------------------------------------------------

def document(view: ListingView) -> dict[str, Any]:
    return {"listing_id": view.listing_id, "tutor_id": view.tutor_id, "status": view.status, **view.listing,
            "created_at": view.created_at, "updated_at": view.modified_at}


def course_document(view: CourseView) -> dict[str, Any]:
    return {"course_id": view.course_id, "creator_id": view.creator_id, "status": view.status, **view.public,
            "enrolments": view.enrolments, "syllabus": view.syllabus}


# -- taxonomy ---------------------------------------------------------------------------------

@subjects.get("", response_model=TaxonomyOut,
              summary="The subject taxonomy and the options a listing may use (public)")
def taxonomy(app: App) -> dict[str, Any]:
    return asdict(app.taxonomy())


@subjects.post("", status_code=status.HTTP_201_CREATED, response_model=SubjectAdded,
               summary="Add a subject (staff)",
               description="409 if the area already has a subject of that name (or one making the same id).")
def add_subject(body: SubjectIn, _: Staff, app: App) -> dict[str, str]:
    return {"subject_id": app.add_subject(NewSubject(body.area, body.name, tuple(body.topics)))}


@subjects.delete("/{subject_id}", status_code=status.HTTP_204_NO_CONTENT,
                 summary="Retire a subject; existing listings keep it (staff)",
                 description="404 if the taxonomy has no such subject (or it was retired already).")
def retire_subject(subject_id: SubjectIdPath, _: Staff, app: App) -> Response:
    app.retire_subject(subject_id)
    return Response(status_code=204)


# -- listings -----------------------------------------------------------------------------------

@listings.post("", status_code=status.HTTP_201_CREATED, response_model=ListingOut,
               summary="Draft a listing (tutor)", description=SUBJECT_RULES)
def create_listing(body: ListingIn, principal: Tutor, app: App, response: Response) -> dict[str, Any]:
    listing_id = app.create_listing(principal.user_id, listing_details(body))
    response.headers["Location"] = f"/v1/listings/{listing_id}"
    return document(app.listing_for(listing_id, caller(principal)))


@listings.get("/{listing_id}", response_model=ListingOut,
              summary="A listing: published ones to anyone signed in, unless its tutor is "
                      "suspended; any to its tutor and staff")
def get_listing(listing_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return document(app.listing_for(listing_id, caller(principal)))


@listings.patch("/{listing_id}", response_model=ListingOut,
                summary="Change a listing; a published one is updated in place (owner)",
                description="Names at least one field; a field left out keeps its value. "
                            "Besides the schema, the listing as changed must still hold together: in-person "
                            "tutoring needs a place, the stored one counting when `place` is left out (422 "
                            "`place`). Subjects are checked only when `subjects` is named: " + SUBJECT_RULES)
def edit_listing(listing_id: UUID, body: ListingPatch, principal: Tutor, app: App) -> dict[str, Any]:
    app.edit_listing(listing_id, principal.user_id, listing_changes(body))
    return document(app.listing_for(listing_id, caller(principal)))


@listings.post("/{listing_id}/publish", response_model=ListingOut,
               summary="Publish: needs an approved tutor in good standing (owner)")
def publish(listing_id: UUID, principal: Tutor, app: App) -> dict[str, Any]:
    app.publish_listing(listing_id, principal.user_id)
    return document(app.listing_for(listing_id, caller(principal)))


@listings.post("/{listing_id}/pause", response_model=ListingOut,
               summary="Hide a published listing for now (owner)")
def pause(listing_id: UUID, principal: Tutor, app: App) -> dict[str, Any]:
    app.pause_listing(listing_id, principal.user_id)
    return document(app.listing_for(listing_id, caller(principal)))


@listings.post("/{listing_id}/withdraw", response_model=ListingOut,
               summary="Withdraw for good (owner or staff)")
def withdraw(listing_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    app.withdraw_listing(listing_id, caller(principal))
    return document(app.listing_for(listing_id, caller(principal)))


@listings.post("/{listing_id}/media", status_code=status.HTTP_201_CREATED, response_model=MediaOut,
               summary="Add an image, audio, video or PDF sample (owner)")
def add_media(listing_id: UUID, principal: Tutor, app: App, file: UploadFile = File(...)) -> dict[str, Any]:
    # One byte over the largest limit is enough to tell that a file is too large.
    # A refused file and an unreachable store are answered by the gateway (422/413/415, 503).
    upload = Upload(file.filename or "", file.content_type, file.file.read(app.max_upload_bytes + 1))
    return app.add_media(listing_id, principal.user_id, upload).record()


@listings.post("/{listing_id}/promotions", status_code=status.HTTP_201_CREATED, response_model=PromotionOut,
               summary="Offer a discount code on a listing, with an expiry and an optional limit (owner)",
               description="Besides the schema: `expires_at` must be in the future (422 `expires_at`). A code "
                           "already running on this listing is a 409.")
def add_promotion(listing_id: UUID, body: PromotionIn, principal: Tutor, app: App) -> dict[str, Any]:
    offer = PromotionOffer(body.code, body.expires_at, body.percent_off, body.credits_off, body.max_redemptions)
    return asdict(app.add_promotion(listing_id, principal.user_id, offer))


@listings.get("/{listing_id}/promotions", response_model=Promotions,
              summary="A listing's promotions (owner or staff)")
def list_promotions(listing_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return {"items": [asdict(p) for p in app.promotions_of(listing_id, caller(principal))]}


@listings.post("/{listing_id}/promotions/{promotion_id}/end", response_model=Promotions,
               summary="End a promotion early (owner)")
def end_promotion(listing_id: UUID, promotion_id: UUID, principal: Tutor, app: App) -> dict[str, Any]:
    return {"items": [asdict(p) for p in app.end_promotion(listing_id, principal.user_id, promotion_id)]}


@media.get("/{listing_id}/{media_id}", response_class=StreamingResponse,
           summary="A sample file of a published listing, unless its tutor is suspended (public)",
           responses={200: MEDIA_FILE})
def get_media(listing_id: UUID, media_id: UUID, app: App) -> StreamingResponse:
    download = app.open_media(listing_id, media_id)
    item = download.file
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=3600",
               "ETag": f'"{item.sha256}"'}
    if item.size is not None:
        headers["Content-Length"] = str(item.size)
    return StreamingResponse(download.chunks, media_type=item.content_type, headers=headers)


@tutors.get("/{tutor_id}/listings", response_model=Listings,
            summary="A tutor's listings: all to the tutor and staff; to others the "
                    "published ones, none while the tutor is suspended")
def listings_of(tutor_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return {"items": [document(v) for v in app.listings_of(tutor_id, caller(principal))]}


@tutors.get("/{tutor_id}/standing", response_model=StandingOut,
            summary="Whether a tutor may publish, as catalog knows it (the tutor or staff)")
def standing(tutor_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return asdict(app.standing_of(tutor_id, caller(principal)))


# -- courses ------------------------------------------------------------------------------------

@courses.post("", status_code=status.HTTP_201_CREATED, response_model=CourseOut, response_model_exclude_unset=True,
              summary="Draft a course (creator or approved tutor)",
              description="Besides the schema, each a 422 naming the field: `subject_id` must be a subject of "
                          "the current taxonomy (not retired); each question's `answer` must be the index of "
                          "one of its `choices`; `completion.modules_required` at most the number of modules; "
                          "`level_up_after`, when given, one number per level, each more than the one before "
                          "and none more than the number of modules.")
def create_course(body: CourseIn, principal: Creator, app: App, response: Response) -> dict[str, Any]:
    course_id = app.create_course(principal.user_id, course_draft(body))
    response.headers["Location"] = f"/v1/courses/{course_id}"
    return course_document(app.course_view(course_id, Caller(principal.user_id)))


@courses.get("/{course_id}", response_model=CourseOut, response_model_exclude_unset=True,
             summary="A course; answer keys only for its creator and staff; to others only "
                     "published, and not while its creator is suspended")
def get_course(course_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return course_document(app.course_view(course_id, caller(principal)))


@courses.post("/{course_id}/publish", response_model=CourseOut, response_model_exclude_unset=True,
              summary="Open the course for enrolment (its creator)")
def publish_course(course_id: UUID, principal: Creator, app: App) -> dict[str, Any]:
    app.publish_course(course_id, principal.user_id)
    return course_document(app.course_view(course_id, Caller(principal.user_id)))


@courses.post("/{course_id}/retire", response_model=CourseOut, response_model_exclude_unset=True,
              summary="Retire with a reason; no new enrolments (its creator or staff)")
def retire_course(course_id: UUID, body: RetireIn, principal: AnyUser, app: App) -> dict[str, Any]:
    app.retire_course(course_id, caller(principal), body.reason_code)
    return course_document(app.course_view(course_id, caller(principal)))


@courses.post("/{course_id}/enrolments", status_code=status.HTTP_201_CREATED, response_model=EnrolmentOut,
              summary="Enrol the signed-in student, optionally paid by a funder (404 while the creator is "
                      "suspended)",
              description="409 if the course is not open (a draft, retired) or the student is enrolled already; "
                          "403 for the course's own creator.")
def enrol(course_id: UUID, body: EnrolIn, principal: Student, app: App) -> dict[str, Any]:
    enrolment_id = app.enrol(course_id, principal.user_id, body.funded_by)
    return {"enrolment_id": enrolment_id, "course_id": course_id, "student_id": principal.user_id,
            "funded_by": body.funded_by}


@courses.post("/{course_id}/modules/{module}/attempts", response_model=AttemptOut,
              summary="Answer a module's quiz (an enrolled learner)",
              description="404 for a course the caller is not enrolled in, or a module it does not have; 409 "
                          "for a module without a quiz. Besides the schema: one answer per question of the "
                          "module's quiz (422 `answers`).")
def attempt_quiz(course_id: UUID, module: ModuleIndex, body: AttemptIn, principal: AnyUser, app: App
                 ) -> dict[str, Any]:
    """Marked against the private key: which answers were right (never the key), the score,
    and the progress after it — a pass may reach a level or complete the course."""
    result = app.attempt_quiz(course_id, principal.user_id, module, tuple(body.answers))
    return {**asdict(result.marked), "progress": asdict(result.progress)}


@courses.post("/{course_id}/modules/{module}/complete", response_model=ProgressOut,
              summary="Mark a module without a quiz done (the learner)",
              description="404 for a course the caller is not enrolled in, or a module it does not have; 409 "
                          "for a module with a quiz (it is passed by its quiz).")
def complete_module(course_id: UUID, module: ModuleIndex, principal: AnyUser, app: App) -> dict[str, Any]:
    return asdict(app.complete_reading(course_id, principal.user_id, module))


@courses.get("/{course_id}/progress", response_model=ProgressOut,
             summary="My progress in a course")
def my_progress(course_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return asdict(app.progress(course_id, principal.user_id, caller(principal)))


@courses.get("/{course_id}/progress/{student_id}", response_model=ProgressOut,
             summary="A learner's progress (the learner, the creator, "
                     "the funder of that enrolment, staff)")
def learner_progress(course_id: UUID, student_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return asdict(app.progress(course_id, student_id, caller(principal)))


ROUTERS = [subjects, listings, tutors, media, courses]
