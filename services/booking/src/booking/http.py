"""Booking's HTTP gateway. Every route names who may call it; each parses its schema,
builds the command value, calls the application and shapes the answer."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from booking.adapters import calendar
from booking.adapters.disputes import DisputeQueue
from booking.answers import (
    AvailabilityOut,
    BookingOut,
    BookingsOut,
    DisputeOpenedOut,
    DisputeQueueOut,
    FeedOut,
    QuoteOut,
    ReliabilityOut,
    SlotsOut,
)
from booking.application import BookingApplication
from booking.domain.availability import Availability
from booking.domain.booking import Booking
from booking.domain.commands import (
    AvailabilityRules,
    BookingRequest,
    Caller,
    Cancellation,
    DatedException,
    DayWindow,
    Decline,
    DisputeClaim,
    DisputeDecision,
    RecordedOutcome,
    WeeklyWindow,
)
from booking.domain.errors import Forbidden, Invalid
from booking.schemas import (
    BOOKING_RULES,
    CURSOR_PATTERN,
    WINDOW_RULES,
    ZONE_PATTERN,
    AvailabilityIn,
    BookingIn,
    CancelIn,
    DecisionIn,
    DeclineIn,
    DisputeIn,
    MoveIn,
    OutcomeIn,
)
from servicekit import wallclock
from servicekit.auth import Principal, current_principal, require_roles
from servicekit.bodies import Timestamp
from servicekit.gateway import provided
from servicekit.idempotency import request_id_for

Staff = Annotated[Principal, Depends(require_roles("staff", "admin"))]
Tutor = Annotated[Principal, Depends(require_roles("tutor"))]
Student = Annotated[Principal, Depends(require_roles("student"))]
AnyUser = Annotated[Principal, Depends(current_principal)]
Occurrence = Annotated[int, Path(ge=0, le=51, description="The session's index in the booking, from 0")]


App = Annotated[BookingApplication, Depends(provided("booking"))]
Queue = Annotated[DisputeQueue, Depends(provided("disputes"))]

tutors = APIRouter(prefix="/v1/tutors", tags=["availability"])
quotes = APIRouter(prefix="/v1/quotes", tags=["bookings"])
bookings = APIRouter(prefix="/v1/bookings", tags=["bookings"])
disputes = APIRouter(prefix="/v1/disputes", tags=["disputes"])
feeds = APIRouter(tags=["calendar"])


def caller(principal: Principal) -> Caller:
    return Caller(principal.user_id, principal.is_staff)


# -- command values -------------------------------------------------------------------------------

def availability_rules(body: AvailabilityIn) -> AvailabilityRules:
    return AvailabilityRules(
        time_zone=body.time_zone, weekly=tuple(WeeklyWindow(w.weekday, w.start, w.end) for w in body.weekly),
        exceptions=tuple(DatedException(x.date, tuple(DayWindow(w.start, w.end) for w in x.windows))
                         for x in body.exceptions),
        buffer_minutes=body.buffer_minutes, min_notice_minutes=body.min_notice_minutes,
        horizon_days=body.horizon_days, slot_step_minutes=body.slot_step_minutes, instant_book=body.instant_book,
        group_capacity=body.group_capacity, place=body.place)


def booking_request(body: BookingIn) -> BookingRequest:
    return BookingRequest(listing_id=body.listing_id, kind=body.kind, minutes=body.minutes,
                          starts_at=tuple(body.starts_at), mode=body.mode, currency=body.currency, weeks=body.weeks,
                          promotion_code=body.promotion_code, note=body.note or None)


# -- answers ------------------------------------------------------------------------------------

def availability_document(app: BookingApplication, a: Availability) -> dict[str, Any]:
    return {"tutor_id": a.tutor_id, **a.rules, "place": app.place_of(a.tutor_id, a.place)}


def booking_document(app: BookingApplication, b: Booking, viewer: Caller) -> dict[str, Any]:
    """The booking as its parties and staff see it: reasons and statements in words opened
    (unreadable once their writer is erased)."""
    return {
        "booking_id": b.id, "status": b.status, "kind": b.kind, "mode": b.mode, "tutor_id": b.tutor_id,
        "student_id": b.student_id, "payer_id": b.payer_id, "listing_id": b.listing_id, "title": b.title,
        "currency": b.currency, "total": b.total, "discount": b.discount, "promotion_id": b.promotion_id,
        "instant_book": b.instant, "respond_by": b.respond_by, "hold_until": b.hold_until, "group_id": b.group_id,
        "place": app.place_of(b.tutor_id, b.place), "policy": b.policy, "note": app.opened(b.student_id, b.note),
        "occurrences": [{**{k: o[k] for k in ("occurrence", "starts_at", "ends_at", "price", "status", "absent",
                                              "money", "proposal")},
                         "settlement": o["settled"]} for o in b.occurrences],
        "disputes": [{**{k: d[k] for k in ("dispute_id", "occurrence", "opened_by", "reason_code", "evidence",
                                           "opened_at", "decide_by", "status", "decided_by", "refund",
                                           "decided_at")},
                      "statement": app.opened(d["writer"], d["statement"]),
                      "decision": app.opened(d.get("decider"), d["decision"])}
                     for d in b.disputes.values()],
        "notes": [{"at": n["at"], "by": n["by"], "text": app.opened(n["writer"], n["text"])} for n in b.notes],
        "timeline": [{"at": s["at"], "what": s["what"], "by": s["by"],
                      "detail": {k: v for k, v in s.items() if k not in ("at", "what", "by")}} for s in b.timeline],
    }


# -- availability and slots -----------------------------------------------------------------------

@tutors.put("/me/availability", response_model=AvailabilityOut,
            summary="Set your whole availability, in your own time zone (tutor)", description=WINDOW_RULES)
def set_availability(body: AvailabilityIn, principal: Tutor, app: App) -> dict[str, Any]:
    return availability_document(app, app.set_availability(principal.user_id, availability_rules(body)))


@tutors.get("/{tutor_id}/availability", response_model=AvailabilityOut,
            summary="A tutor's availability (anyone signed in)")
def get_availability(tutor_id: UUID, _: AnyUser, app: App) -> dict[str, Any]:
    return availability_document(app, app.availability_of(tutor_id))


SLOT_RULES = ("Free slots of `minutes` starting in [`from`, `to`) (default: the next 7 days), within the tutor's "
              "notice and horizon, laid out in the tutor's zone and shown in `time_zone` (default UTC) too: a "
              "daylight-saving change never moves, drops or repeats a slot. With `listing_id`, the price of one "
              "session in each currency the listing takes; with `group=true` (and `listing_id`), seats in group "
              "sessions. Besides the schema: `to` must be after `from` and at most 31 days later, and `time_zone` "
              "a zone of the IANA database (422 naming the field). The cancellation policy is in the answer.")


@tutors.get("/{tutor_id}/slots", response_model=SlotsOut, summary="A tutor's free slots (anyone signed in)",
            description=SLOT_RULES)
def get_slots(tutor_id: UUID, _: AnyUser, app: App,
              minutes: Annotated[int, Query(ge=5, le=480)],
              start: Annotated[Timestamp | None, Query(alias="from")] = None,
              end: Annotated[Timestamp | None, Query(alias="to")] = None,
              time_zone: Annotated[str, Query(min_length=1, max_length=64, pattern=ZONE_PATTERN)] = "UTC",
              listing_id: UUID | None = None, group: bool = False) -> dict[str, Any]:
    viewer = wallclock.zone(time_zone, "query.time_zone")
    if start is not None and end is not None and end <= start:
        raise Invalid("query.to", "must be after from")
    if start is not None and end is not None and end - start > timedelta(days=31):
        raise Invalid("query.to", "ask for at most 31 days at a time")
    view = app.slots(tutor_id, minutes, start, end, group=group, listing_id=listing_id)
    tutor_zone = wallclock.zone(view.tutor_time_zone)
    prices: dict[str, int] = {}
    if listing_id is not None:
        terms = app.terms_of(listing_id)
        for currency in ("XAP", terms.rate.get("currency")):
            if currency:
                with contextlib.suppress(Invalid):
                    prices[currency] = terms.price(minutes, currency, trial=False)
    return {"tutor_id": tutor_id, "tutor_time_zone": view.tutor_time_zone, "time_zone": time_zone,
            "minutes": minutes, "instant_book": view.instant_book,
            "respond_hours": None if view.instant_book else app.rules.respond_hours,
            "policy": app.rules.policy.record(), "prices": prices,
            "slots": [{"starts_at": s.starts_at, "ends_at": s.ends_at,
                       "local_starts_at": s.starts_at.astimezone(viewer), "local_ends_at": s.ends_at.astimezone(viewer),
                       "tutor_local_starts_at": s.starts_at.astimezone(tutor_zone), "seats_left": s.seats_left}
                      for s in view.slots]}


@tutors.get("/{tutor_id}/reliability", response_model=ReliabilityOut,
            summary="How often a tutor cancelled confirmed bookings (the tutor, staff)")
def reliability(tutor_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    if principal.user_id != tutor_id and not principal.is_staff:
        raise Forbidden("this belongs to another user")
    return {"tutor_id": tutor_id, "tutor_cancellations": app.reliability(tutor_id)}


# -- quotes and bookings --------------------------------------------------------------------------

@quotes.post("", response_model=QuoteOut, summary="What a booking would cost, and the policy it would carry "
                                                  "(learner); nothing is booked", description=BOOKING_RULES)
def quote(body: BookingIn, principal: Student, app: App) -> dict[str, Any]:
    plan = app.plan(principal.user_id, booking_request(body))
    return {"listing_id": plan.terms.listing_id, "tutor_id": plan.terms.tutor_id, "kind": body.kind,
            "minutes": body.minutes, "currency": body.currency,
            "occurrences": [{"occurrence": n, "starts_at": s, "ends_at": e, "price": p}
                            for (n, s, e), p in zip(plan.slots, plan.prices, strict=True)],
            "gross": plan.gross, "discount": plan.discount, "total": plan.total,
            "promotion_id": plan.promotion["promotion_id"] if plan.promotion else None,
            "instant_book": plan.availability.instant_book, "respond_by": plan.respond_by,
            "hold_until": plan.hold_until, "policy": app.rules.policy.record()}


@bookings.post("", status_code=status.HTTP_201_CREATED, response_model=BookingOut,
               summary="Book a tutor's time (learner): the credits are then held by the ledger",
               description=BOOKING_RULES)
def create_booking(body: BookingIn, principal: Student, app: App, response: Response) -> dict[str, Any]:
    booking_id = app.request_booking(principal.user_id, booking_request(body), request_id_for("booking"))
    response.headers["Location"] = f"/v1/bookings/{booking_id}"
    return booking_document(app, app.booking_for(booking_id, caller(principal)), caller(principal))


@bookings.get("", response_model=BookingsOut, summary="Your bookings, newest first (anyone signed in)")
def my_bookings(principal: AnyUser, app: App,
                role: Annotated[str | None, Query(pattern=r"^(student|tutor)$")] = None,
                offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
                limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
    items, more = app.bookings_of(principal.user_id, role, offset, limit)
    return {"items": [booking_document(app, b, caller(principal)) for b in items],
            "next_offset": offset + limit if more else None}


@bookings.get("/{booking_id}", response_model=BookingOut,
              summary="A booking with its timeline (its learner, its tutor, staff)")
def get_booking(booking_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return booking_document(app, app.booking_for(booking_id, caller(principal)), caller(principal))


@bookings.post("/{booking_id}/accept", response_model=BookingOut,
               summary="Accept a request before respond_by (its tutor)")
def accept(booking_id: UUID, principal: Tutor, app: App) -> dict[str, Any]:
    return booking_document(app, app.accept(booking_id, caller(principal)), caller(principal))


@bookings.post("/{booking_id}/decline", response_model=BookingOut,
               summary="Decline a request before respond_by; the credits go back (its tutor)")
def decline(booking_id: UUID, body: DeclineIn, principal: Tutor, app: App) -> dict[str, Any]:
    b = app.decline(booking_id, caller(principal), Decline(body.reason_code, body.note))
    return booking_document(app, b, caller(principal))


@bookings.post("/{booking_id}/cancel", response_model=BookingOut,
               summary="Cancel what is still to come (its learner, its tutor, staff)",
               description="A learner gets back what the booking's policy gives for each session by how long before "
                           "its start; a tutor's cancellation refunds in full and counts against the tutor's "
                           "reliability; staff's refunds in full. A request not yet confirmed is withdrawn whole. "
                           "Besides the schema: each of `occurrences` must be a session of the booking (422 "
                           "`occurrences.<i>`); one that started or ended is a 409.")
def cancel(booking_id: UUID, body: CancelIn, principal: AnyUser, app: App) -> dict[str, Any]:
    c = Cancellation(body.reason_code, body.note, tuple(body.occurrences) if body.occurrences else None)
    return booking_document(app, app.cancel(booking_id, caller(principal), c), caller(principal))


MOVE_RULES = ("Besides the schema: `starts_at` must be one of the tutor's free slots, within notice and horizon "
              "(422 `starts_at`); a move is agreed at least the institution's notice before the original start.")


@bookings.post("/{booking_id}/occurrences/{occurrence}/move", response_model=BookingOut,
               summary="Propose moving a session; the other side agrees (its learner or tutor)",
               description=MOVE_RULES)
def propose_move(booking_id: UUID, occurrence: Occurrence, body: MoveIn, principal: AnyUser,
                 app: App) -> dict[str, Any]:
    b = app.propose_move(booking_id, caller(principal), occurrence, body.starts_at)
    return booking_document(app, b, caller(principal))


@bookings.post("/{booking_id}/occurrences/{occurrence}/move/accept", response_model=BookingOut,
               summary="Agree to a proposed move (the other side)")
def accept_move(booking_id: UUID, occurrence: Occurrence, principal: AnyUser, app: App) -> dict[str, Any]:
    return booking_document(app, app.answer_move(booking_id, caller(principal), occurrence, True), caller(principal))


@bookings.post("/{booking_id}/occurrences/{occurrence}/move/decline", response_model=BookingOut,
               summary="Refuse a proposed move; the session stays (the other side)")
def decline_move(booking_id: UUID, occurrence: Occurrence, principal: AnyUser, app: App) -> dict[str, Any]:
    return booking_document(app, app.answer_move(booking_id, caller(principal), occurrence, False),
                            caller(principal))


@bookings.post("/{booking_id}/occurrences/{occurrence}/outcome", response_model=BookingOut,
               summary="Record what happened to a session, as the sessions service would (staff)")
def record_outcome(booking_id: UUID, occurrence: Occurrence, body: OutcomeIn, principal: Staff,
                   app: App) -> dict[str, Any]:
    b = app.record_outcome(booking_id, RecordedOutcome(occurrence, body.outcome, body.absent))
    return booking_document(app, b, caller(principal))


@bookings.post("/{booking_id}/disputes", status_code=status.HTTP_201_CREATED, response_model=DisputeOpenedOut,
               summary="Dispute a session within the dispute window after its end (its learner or tutor)",
               description="Its money waits until the dispute is decided: by a rule when attendance confirms "
                           "the claim (a tutor's no-show: everything back), else by staff. Besides the schema: "
                           "`occurrence` must be a session of the booking (404 otherwise).")
def open_dispute(booking_id: UUID, body: DisputeIn, principal: AnyUser, app: App) -> dict[str, Any]:
    claim = DisputeClaim(body.occurrence, body.reason_code, body.statement, tuple(body.evidence))
    dispute_id = app.open_dispute(booking_id, caller(principal), claim)
    b = app.booking_for(booking_id, caller(principal))
    return {"dispute_id": dispute_id, "booking": booking_document(app, b, caller(principal))}


@bookings.post("/{booking_id}/disputes/{dispute_id}/decision", response_model=BookingOut,
               summary="Decide a dispute: how much of the session's price goes back (staff)")
def decide_dispute(booking_id: UUID, dispute_id: UUID, body: DecisionIn, principal: Staff,
                   app: App) -> dict[str, Any]:
    b = app.decide_dispute(booking_id, dispute_id, principal.user_id, DisputeDecision(body.refund, body.note))
    return booking_document(app, b, caller(principal))


@disputes.get("", response_model=DisputeQueueOut, summary="Open disputes, oldest first (staff)",
              description="Besides the schema: `cursor` must be a `next_cursor` this API returned (422).")
def dispute_queue_page(_: Staff, queue: Queue,
                       cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
                       limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
    items, next_cursor = queue.page(cursor, limit)
    return {"items": [vars(i) for i in items], "next_cursor": next_cursor}


# -- the calendar feed ------------------------------------------------------------------------------

def _feed_url(request: Request, app: BookingApplication, user_id: UUID, secret: str) -> str:
    base = request.app.state.settings.booking_public_url.rstrip("/")
    return f"{base}/v1/calendars/{user_id}/{secret}.ics"


@feeds.get("/v1/users/me/calendar-feed", response_model=FeedOut,
           summary="The secret address of your bookings' calendar feed (anyone signed in)")
def feed_url(request: Request, principal: AnyUser, app: App) -> dict[str, str]:
    return {"url": _feed_url(request, app, principal.user_id, app.feed_secret(principal.user_id))}


@feeds.post("/v1/users/me/calendar-feed/rotate", response_model=FeedOut,
            summary="A new secret address for your calendar feed; the old one stops working (anyone signed in)")
def rotate_feed(request: Request, principal: AnyUser, app: App) -> dict[str, str]:
    return {"url": _feed_url(request, app, principal.user_id, app.rotate_feed(principal.user_id))}


ICS = {"description": "The calendar (RFC 5545)", "content": {"text/calendar": {"schema": {"type": "string"}}}}


@feeds.get("/v1/calendars/{user_id}/{secret}.ics", response_class=Response, responses={200: ICS},
           summary="A user's bookings as an iCalendar feed (public: whoever has the secret address)")
def calendar_feed(user_id: UUID, secret: Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{43}$")], app: App) -> Response:
    body = calendar.feed(user_id, app.feed_bookings(user_id, secret), app.now(), app.place_of)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"})


ROUTERS = [tutors, quotes, bookings, disputes, feeds]
