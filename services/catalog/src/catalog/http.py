"""Catalog's HTTP gateway. Every route names who may call it."""

from __future__ import annotations

import logging
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, File, Request, Response, UploadFile, status
from fastapi.responses import StreamingResponse

from catalog.application import CatalogApplication, ListingView
from catalog.domain.errors import CatalogError, Conflict, NotEligible, NotFound, NotOwner, ValidationError
from catalog.domain.listing import COMMUNICATION, SESSION_MINUTES, TEACHING_STYLES
from catalog.domain.taxonomy import LEVELS
from catalog.media import MediaStore
from catalog.schemas import AttemptIn, CourseIn, EnrolIn, ListingIn, PromotionIn, RetireIn, SubjectIn
from servicekit.auth import Principal, current_principal, require_roles
from servicekit.blobstore import BlobNotFound, BlobStoreError
from servicekit.gateway import problem_response
from servicekit.problems import Problem, field_error
from servicekit.uploads import UploadRejected

log = logging.getLogger(__name__)

Staff = Annotated[Principal, Depends(require_roles("staff", "admin"))]
Tutor = Annotated[Principal, Depends(require_roles("tutor"))]
AnyUser = Annotated[Principal, Depends(current_principal)]


def app_of(request: Request) -> CatalogApplication:
    app: CatalogApplication = request.app.state.catalog
    return app


App = Annotated[CatalogApplication, Depends(app_of)]


def to_problem(exc: CatalogError) -> Problem:
    if isinstance(exc, ValidationError):
        return field_error(exc.field or "body", exc.reason)
    if isinstance(exc, NotFound):
        return Problem(404, "Not found", str(exc))
    if isinstance(exc, NotOwner):
        return Problem(403, "Forbidden", str(exc))
    if isinstance(exc, NotEligible):
        return Problem(403, "Not eligible to publish", str(exc))
    if isinstance(exc, Conflict):
        return Problem(409, "Conflict", str(exc))
    return Problem(400, "Rejected", str(exc))


def install_error_translation(app: FastAPI) -> None:
    @app.exception_handler(CatalogError)
    async def _domain_error(request: Request, exc: CatalogError) -> Any:
        return problem_response(request, to_problem(exc))


subjects = APIRouter(prefix="/v1/subjects", tags=["taxonomy"])
listings = APIRouter(prefix="/v1/listings", tags=["listings"])
tutors = APIRouter(prefix="/v1/tutors", tags=["listings"])
media = APIRouter(prefix="/v1/media", tags=["media"])


def document(view: ListingView) -> dict[str, Any]:
    return {"listing_id": view.listing_id, "tutor_id": view.tutor_id, "status": view.status, **view.listing,
            "created_at": view.created_at, "updated_at": view.modified_at}


# -- taxonomy ---------------------------------------------------------------------------

@subjects.get("", summary="The subject taxonomy and the options a listing may use (public)")
def taxonomy(app: App) -> dict[str, Any]:
    return {"areas": app.taxonomy().tree(), "levels": list(LEVELS), "session_minutes": list(SESSION_MINUTES),
            "teaching_styles": list(TEACHING_STYLES), "communication": list(COMMUNICATION)}


@subjects.post("", status_code=status.HTTP_201_CREATED, summary="Add a subject (staff)")
def add_subject(body: SubjectIn, _: Staff, app: App) -> dict[str, str]:
    return {"subject_id": app.add_subject(body.area, body.name, body.topics)}


@subjects.delete("/{subject_id}", status_code=status.HTTP_204_NO_CONTENT,
                 summary="Retire a subject; existing listings keep it (staff)")
def retire_subject(subject_id: str, _: Staff, app: App) -> Response:
    app.retire_subject(subject_id)
    return Response(status_code=204)


# -- listings -----------------------------------------------------------------------------

@listings.post("", status_code=status.HTTP_201_CREATED, summary="Draft a listing (tutor)")
def create_listing(body: ListingIn, principal: Tutor, app: App, response: Response) -> dict[str, Any]:
    listing_id = app.create_listing(principal.user_id, body.model_dump(exclude_unset=True))
    response.headers["Location"] = f"/v1/listings/{listing_id}"
    return document(app.get_listing(listing_id))


@listings.get("/{listing_id}", summary="A listing: published ones to anyone signed in; others to owner and staff")
def get_listing(listing_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    view = app.get_listing(listing_id)
    if view.status != "published" and view.tutor_id != principal.user_id and not principal.is_staff:
        raise Problem(404, "Not found", "no such listing")
    return document(view)


@listings.patch("/{listing_id}", summary="Change a listing; a published one is updated in place (owner)")
def edit_listing(listing_id: UUID, body: ListingIn, principal: Tutor, app: App) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise field_error("body", "names no field to change")
    app.edit_listing(listing_id, principal.user_id, changes)
    return document(app.get_listing(listing_id))


@listings.post("/{listing_id}/publish", summary="Publish: needs an approved tutor in good standing (owner)")
def publish(listing_id: UUID, principal: Tutor, app: App) -> dict[str, Any]:
    app.publish_listing(listing_id, principal.user_id)
    return document(app.get_listing(listing_id))


@listings.post("/{listing_id}/pause", summary="Hide a published listing for now (owner)")
def pause(listing_id: UUID, principal: Tutor, app: App) -> dict[str, Any]:
    app.pause_listing(listing_id, principal.user_id)
    return document(app.get_listing(listing_id))


@listings.post("/{listing_id}/withdraw", summary="Withdraw for good (owner or staff)")
def withdraw(listing_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    app.withdraw_listing(listing_id, principal.user_id, staff=principal.is_staff)
    return document(app.get_listing(listing_id))


@listings.post("/{listing_id}/media", status_code=status.HTTP_201_CREATED,
               summary="Add an image, audio, video or PDF sample (owner)")
def add_media(listing_id: UUID, principal: Tutor, app: App, request: Request,
              file: UploadFile = File(...)) -> dict[str, Any]:
    store: MediaStore = request.app.state.media
    view = app.get_listing(listing_id)
    if view.tutor_id != principal.user_id:
        raise Problem(403, "Forbidden", "this listing belongs to another tutor")
    limit = max(store.limits.values())
    data = file.file.read(limit + 1)
    try:
        item = store.put(listing_id, file.filename or "", file.content_type, data)
    except UploadRejected as exc:
        raise field_error(exc.field, exc.reason, status=exc.status, title="Upload rejected") from exc
    except BlobStoreError as exc:
        log.error("media store failed: %s", exc)
        raise Problem(503, "Media storage unavailable", "the file could not be stored; try again later") from exc
    app.add_media(listing_id, principal.user_id, item)
    return item


@listings.post("/{listing_id}/promotions", status_code=status.HTTP_201_CREATED,
               summary="Offer a discount code on a listing, with an expiry and an optional limit (owner)")
def add_promotion(listing_id: UUID, body: PromotionIn, principal: Tutor, app: App) -> dict[str, Any]:
    promotion_id = app.add_promotion(listing_id, principal.user_id, body.code, body.percent_off, body.credits_off,
                                     body.max_redemptions, body.expires_at)
    return next(p for p in app.promotions_of(listing_id, principal.user_id, False)
                if p["promotion_id"] == str(promotion_id))


@listings.get("/{listing_id}/promotions", summary="A listing's promotions (owner or staff)")
def list_promotions(listing_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return {"items": app.promotions_of(listing_id, principal.user_id, principal.is_staff)}


@listings.post("/{listing_id}/promotions/{promotion_id}/end", summary="End a promotion early (owner)")
def end_promotion(listing_id: UUID, promotion_id: UUID, principal: Tutor, app: App) -> dict[str, Any]:
    app.end_promotion(listing_id, principal.user_id, promotion_id)
    return {"items": app.promotions_of(listing_id, principal.user_id, False)}


@media.get("/{listing_id}/{media_id}", summary="A sample file of a published listing (public)",
           response_class=StreamingResponse)
def get_media(listing_id: UUID, media_id: UUID, app: App, request: Request) -> StreamingResponse:
    view = app.get_listing(listing_id)
    item = next((m for m in view.listing.get("media", []) if m["media_id"] == str(media_id)), None)
    if view.status != "published" or item is None:
        raise Problem(404, "Not found", "no such media")
    store: MediaStore = request.app.state.media
    try:
        chunks = store.open(listing_id, item["sha256"])
    except BlobNotFound as exc:
        log.error("media %s of listing %s is listed but not in the store", media_id, listing_id)
        raise Problem(404, "Not found", "no such media") from exc
    except BlobStoreError as exc:
        log.error("media store failed: %s", exc)
        raise Problem(503, "Media storage unavailable", "try again later") from exc
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=3600",
               "ETag": f'"{item["sha256"]}"'}
    if isinstance(item.get("size"), int):
        headers["Content-Length"] = str(item["size"])
    return StreamingResponse(chunks, media_type=item["content_type"], headers=headers)


@tutors.get("/{tutor_id}/listings", summary="A tutor's listings: all to the tutor and staff, published to others")
def listings_of(tutor_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    views = app.listings_of(tutor_id)
    if tutor_id != principal.user_id and not principal.is_staff:
        views = [v for v in views if v.status == "published"]
    return {"items": [document(v) for v in views]}


@tutors.get("/{tutor_id}/standing", summary="Whether a tutor may publish, as catalog knows it (the tutor or staff)")
def standing(tutor_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    if tutor_id != principal.user_id and not principal.is_staff:
        raise Problem(403, "Forbidden", "this belongs to another user")
    return {"tutor_id": tutor_id, **app.standing_of(tutor_id)}


courses = APIRouter(prefix="/v1/courses", tags=["courses"])
Creator = Annotated[Principal, Depends(require_roles("creator", "tutor"))]


@courses.post("", status_code=status.HTTP_201_CREATED, summary="Draft a course (creator or approved tutor)")
def create_course(body: CourseIn, principal: Creator, app: App, response: Response) -> dict[str, Any]:
    raw = body.model_dump()
    raw["completion"] = {k: v for k, v in raw["completion"].items() if v is not None}
    course_id = app.create_course(principal.user_id, raw)
    response.headers["Location"] = f"/v1/courses/{course_id}"
    return app.course_view(course_id, principal.user_id, staff=False)


@courses.get("/{course_id}", summary="A course; answer keys only for its creator and staff")
def get_course(course_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return app.course_view(course_id, principal.user_id, principal.is_staff)


@courses.post("/{course_id}/publish", summary="Open the course for enrolment (its creator)")
def publish_course(course_id: UUID, principal: Creator, app: App) -> dict[str, Any]:
    app.publish_course(course_id, principal.user_id)
    return app.course_view(course_id, principal.user_id, staff=False)


@courses.post("/{course_id}/retire", summary="Retire with a reason; no new enrolments (its creator or staff)")
def retire_course(course_id: UUID, body: RetireIn, principal: AnyUser, app: App) -> dict[str, Any]:
    app.retire_course(course_id, principal.user_id, body.reason_code, staff=principal.is_staff)
    return app.course_view(course_id, principal.user_id, principal.is_staff)


@courses.post("/{course_id}/enrolments", status_code=status.HTTP_201_CREATED,
              summary="Enrol the signed-in student, optionally paid by a funder")
def enrol(course_id: UUID, body: EnrolIn, principal: Annotated[Principal, Depends(require_roles("student"))],
          app: App) -> dict[str, Any]:
    enrolment_id = app.enrol(course_id, principal.user_id, body.funded_by)
    return {"enrolment_id": enrolment_id, "course_id": course_id, "student_id": principal.user_id,
            "funded_by": body.funded_by}


@courses.post("/{course_id}/modules/{module}/attempts", summary="Answer a module's quiz (an enrolled learner)")
def attempt_quiz(course_id: UUID, module: int, body: AttemptIn, principal: AnyUser, app: App) -> dict[str, Any]:
    """Marked against the private key: which answers were right (never the key), the score,
    and the progress after it — a pass may reach a level or complete the course."""
    return app.attempt_quiz(course_id, principal.user_id, module, body.answers)


@courses.post("/{course_id}/modules/{module}/complete", summary="Mark a module without a quiz done (the learner)")
def complete_module(course_id: UUID, module: int, principal: AnyUser, app: App) -> dict[str, Any]:
    return app.complete_reading(course_id, principal.user_id, module)


@courses.get("/{course_id}/progress", summary="My progress in a course")
def my_progress(course_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return app.progress(course_id, principal.user_id, principal.user_id, principal.is_staff)


@courses.get("/{course_id}/progress/{student_id}", summary="A learner's progress (the learner, the creator, staff)")
def learner_progress(course_id: UUID, student_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return app.progress(course_id, student_id, principal.user_id, principal.is_staff)


ROUTERS = [subjects, listings, tutors, media, courses]
