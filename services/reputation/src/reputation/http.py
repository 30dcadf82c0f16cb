"""Reputation's HTTP gateway. Every route names who may call it; each parses its schema,
builds the command value, calls the application and shapes the answer."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response, status

from reputation.adapters import pdf
from reputation.adapters.views import Views
from reputation.application import ReputationApplication
from reputation.domain.certificate import Certificate
from reputation.domain.commands import Ratings
from reputation.domain.review import Review
from reputation.domain.tutor import TutorRecord
from reputation.schemas import (
    CODE_PATTERN,
    CertificateOut,
    CertificatesOut,
    HoursCertificateIn,
    ModerationIn,
    QueueOut,
    RatingsIn,
    ReputationOut,
    ResolveIn,
    ResponseIn,
    ReviewEditIn,
    ReviewIn,
    ReviewOut,
    ReviewsOut,
)
from servicekit.auth import Principal, current_principal, require_roles
from servicekit.errors import NotFound
from servicekit.gateway import provided

AnyUser = Annotated[Principal, Depends(current_principal)]
Staff = Annotated[Principal, Depends(require_roles("staff", "admin"))]
Tutor = Annotated[Principal, Depends(require_roles("tutor"))]
Code = Annotated[str, Path(min_length=14, max_length=14, pattern=CODE_PATTERN)]


App = Annotated[ReputationApplication, Depends(provided("reputation"))]
Read = Annotated[Views, Depends(provided("views"))]
reviews = APIRouter(prefix="/v1/reviews", tags=["reviews"])
tutors = APIRouter(prefix="/v1/tutors", tags=["reputation"])
staff = APIRouter(prefix="/v1/staff", tags=["moderation"])
certificates = APIRouter(prefix="/v1/certificates", tags=["certificates"])


def ratings(body: RatingsIn) -> Ratings:
    return Ratings(body.on_time, body.explained_clearly, body.helped_understand, body.would_book_again)


def review_document(app: ReputationApplication, r: Review, viewer: Principal | None) -> dict[str, Any]:
    """A review: its words opened (None once their writer is erased); a held or removed review's
    words only for its writer, the tutor and staff."""
    insider = viewer is not None and (viewer.is_staff or viewer.user_id in (r.student_id, r.tutor_id))
    shown = r.status == "published" or insider
    return {"review_id": r.id, "session_id": r.session_id, "tutor_id": r.tutor_id, "student_id": r.student_id,
            "ratings": r.ratings, "overall": r.overall, "status": r.status, "written_at": r.written_at,
            "edited_at": r.edited_at, "text": app.opened(r.student_id, r.text) if shown else None,
            "response": app.opened(r.tutor_id, r.response) if shown else None, "responded_at": r.responded_at}


def reputation_document(app: ReputationApplication, tutor_id: UUID) -> dict[str, Any]:
    record = app.find(TutorRecord, TutorRecord.create_id(tutor_id)) or TutorRecord.open(tutor_id)
    rules = app.rules
    return {"tutor_id": tutor_id, "rating": record.rating(rules), "rating_count": record.rating_count,
            "sessions_completed": record.completed, "sessions_missed": record.missed,
            "cancellations": record.cancellations, "reliability": record.reliability(rules),
            "minutes_taught": record.minutes, "on_probation": record.on_probation(rules), "badges": record.badges,
            "minutes_by_term": record.minutes_by_term}


def certificate_document(app: ReputationApplication, c: Certificate) -> dict[str, Any]:
    return {"certificate_id": c.id, "kind": c.kind, "holder_id": c.holder_id,
            "holder_name": app.holder_name(c.holder_id), "code": c.code, "issued_at": c.issued_at, "details": c.details,
            "verify_url": f"/v1/certificates/verify/{c.code}"}


# -- reviews ------------------------------------------------------------------------------------

@reviews.post("", status_code=status.HTTP_201_CREATED, response_model=ReviewOut,
              summary="Review a session you attended (its student; once)",
              description="Only a student of a session that took place reviews it (403 otherwise); once per "
                          "session (409). Text with abusive words, and reviews that look like gaming "
                          "(peers giving each other full marks, a burst from new accounts), are held for staff "
                          "and count only once staff let them through.")
def write_review(body: ReviewIn, principal: AnyUser, app: App, response: Response) -> dict[str, Any]:
    r = app.review(principal.user_id, body.session_id, ratings(body.ratings), body.text or None)
    response.headers["Location"] = f"/v1/reviews/{r.id}"
    return review_document(app, r, principal)


@reviews.get("/{review_id}", response_model=ReviewOut, summary="A review (anyone signed in; held ones: "
             "its writer, the tutor, staff)")
def get_review(review_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    r = app.load(Review, review_id, "review")
    doc = review_document(app, r, principal)
    if r.status != "published" and doc["text"] is None and not principal.is_staff \
            and principal.user_id not in (r.student_id, r.tutor_id):
        raise NotFound("no such review")
    return doc


@reviews.put("/{review_id}", response_model=ReviewOut, summary="Edit your review (its writer, for 24 hours)")
def edit_review(review_id: UUID, body: ReviewEditIn, principal: AnyUser, app: App) -> dict[str, Any]:
    return review_document(app, app.edit(review_id, principal.user_id, ratings(body.ratings), body.text or None),
                           principal)


@reviews.post("/{review_id}/response", response_model=ReviewOut, summary="Answer a review once (the tutor)")
def respond(review_id: UUID, body: ResponseIn, principal: AnyUser, app: App) -> dict[str, Any]:
    return review_document(app, app.respond(review_id, principal.user_id, body.text), principal)


@reviews.post("/{review_id}/moderation", response_model=ReviewOut,
              summary="Let a held review through, or remove a review (staff)")
def moderate(review_id: UUID, body: ModerationIn, principal: Staff, app: App) -> dict[str, Any]:
    return review_document(app, app.moderate(review_id, principal.user_id, body.action, body.reason_code), principal)


# -- a tutor's standing -------------------------------------------------------------------------

@tutors.get("/{tutor_id}/reputation", response_model=ReputationOut,
            summary="A tutor's rating, reliability, probation and badges (anyone signed in)")
def reputation(tutor_id: UUID, _: AnyUser, app: App) -> dict[str, Any]:
    return reputation_document(app, tutor_id)


@tutors.get("/{tutor_id}/reviews", response_model=ReviewsOut, summary="A tutor's published reviews, newest first "
            "(anyone signed in)")
def tutor_reviews(tutor_id: UUID, principal: AnyUser, app: App, read: Read,
                  offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
                  limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
    read.projection.catch_up()
    ids, total = read.reviews_of(tutor_id, offset, limit)
    found = app.find_many(ids)
    return {"items": [review_document(app, found[i], principal) for i in ids if i in found], "total": total}


# -- staff ----------------------------------------------------------------------------------------

@staff.get("/queue", response_model=QueueOut, summary="Held reviews and tutors' flags awaiting staff (staff)")
def queue(_: Staff, read: Read, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
    read.projection.catch_up()
    return {"items": read.queue(limit)}


@staff.post("/tutors/{tutor_id}/flags/{flag_id}/resolve", response_model=ReputationOut,
            summary="Close a flag on a tutor (staff)")
def resolve(tutor_id: UUID, flag_id: UUID, body: ResolveIn, principal: Staff, app: App) -> dict[str, Any]:
    app.resolve_flag(tutor_id, flag_id, principal.user_id, body.note_code)
    return reputation_document(app, tutor_id)


# -- certificates ---------------------------------------------------------------------------------

@certificates.post("/tutoring-hours", status_code=status.HTTP_201_CREATED, response_model=CertificateOut,
                   summary="A certificate of your tutoring hours in a term (tutor)",
                   description="The term must have tutoring in it (409 otherwise). Asking again for the same "
                               "hours answers the same certificate.")
def hours(body: HoursCertificateIn, principal: Tutor, app: App) -> dict[str, Any]:
    return certificate_document(app, app.hours_certificate(principal.user_id, body.term))


@certificates.get("", response_model=CertificatesOut, summary="Your certificates (any signed-in user)")
def mine(principal: AnyUser, app: App, read: Read) -> dict[str, Any]:
    read.projection.catch_up()
    found = app.find_many(read.certificates_of(principal.user_id))
    return {"items": [certificate_document(app, c) for c in found.values()]}


@certificates.get("/verify/{code}", response_model=CertificateOut,
                  summary="Check a certificate by its code (public)")
def verify(code: Code, app: App) -> dict[str, Any]:
    return certificate_document(app, app.certificate_by_code(code))


KIND_TITLES = {"tutoring_hours": "Certificate of Tutoring Hours", "course_completion": "Certificate of Completion",
               "teaching": "Certificate of Teaching"}


@certificates.get("/verify/{code}/pdf", response_class=Response,
                  responses={200: {"content": {"application/pdf": {}}, "description": "The certificate as a PDF"}},
                  summary="A certificate as a PDF, by its code (public)")
def certificate_pdf(code: Code, app: App) -> Response:
    c = app.certificate_by_code(code)
    d = c.details
    name = app.holder_name(c.holder_id) or "(name withheld)"
    lines = [f"Awarded to {name}"]
    if c.kind == "tutoring_hours":
        lines.append(f"for {d['hours']} hours of peer tutoring in term {d['term']}")
    elif c.kind == "course_completion":
        lines.append(f"for completing {d.get('course_title') or 'a course'} "
                     f"({d['modules_passed']} of {d['modules_total']} modules)")
    else:
        lines.append(f"for teaching {d.get('course_title') or 'a course'} that learners completed")
    lines.append(f"Issued {c.issued_at:%d %B %Y}")
    body = pdf.render(KIND_TITLES[c.kind], lines, f"Verify at /v1/certificates/verify/{c.code} - code {c.code}")
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="certificate-{c.code}.pdf"'})


ROUTERS = [reviews, tutors, staff, certificates]
