"""Centres' HTTP gateway. Every route names who may call it; each parses its schema, builds
the command value, calls the application and shapes the answer."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status
from starlette.concurrency import run_in_threadpool

from centres.adapters.views import CentreList
from centres.application import CentresApplication
from centres.domain.centre import Centre
from centres.domain.commands import Caller, Closure, NewCentre, NewLocation
from centres.domain.queue import IN_LINE, Queue
from centres.domain.standing import Standing
from centres.schemas import (
    AccommodationIn,
    CalendarOut,
    CallIn,
    CentreIn,
    CentreOut,
    CentresOut,
    ClosureIn,
    CoursesIn,
    DescriptionIn,
    FinishIn,
    HoursIn,
    JoinIn,
    LocationIn,
    PauseIn,
    QueueOut,
    QueueStateIn,
    ShiftIn,
    StandingOut,
)
from servicekit import wallclock
from servicekit.auth import Principal, current_principal
from servicekit.bodies import Timestamp
from servicekit.errors import Invalid
from servicekit.gateway import provided
from servicekit.streams import Watch, event_stream

AnyUser = Annotated[Principal, Depends(current_principal)]
App = Annotated[CentresApplication, Depends(provided("centres"))]
List = Annotated[CentreList, Depends(provided("centre_list"))]
Watched = Annotated[Watch, Depends(provided("queue_watch"))]
centres = APIRouter(prefix="/v1/centres", tags=["centres"])

MANAGE = ("Only an admin or this centre's staff (a centre-scoped role, named by an admin) may change a "
          "centre (403 otherwise).")


def caller(p: Principal) -> Caller:
    return Caller(p.user_id, admin=p.has_any("admin"))


def document(app: CentresApplication, c: Centre) -> dict[str, Any]:
    now = app.now()
    current = c.open_at(now)
    upcoming = c.next_opening(now)
    return {"centre_id": c.id, "name": c.name, "description": c.description, "time_zone": c.time_zone,
            "weekly": c.weekly, "closures": sorted(c.closures.values(), key=lambda x: x["date"]),
            "locations": list(c.locations.values()), "courses": c.courses, "subjects": c.subjects,
            "roster": c.roster, "staff": c.staff, "open_now": current is not None,
            "closes_at": current.closes_at if current else None,
            "next_opening": upcoming.opens_at if upcoming else None}


@centres.post("", status_code=status.HTTP_201_CREATED, response_model=CentreOut, summary="Open a centre (admin)",
              description="Besides the schema: `time_zone` must be a zone of the IANA database (422).")
def found(body: CentreIn, principal: AnyUser, app: App) -> dict[str, Any]:
    return document(app, app.found(caller(principal), NewCentre(body.name, body.time_zone, body.description)))


@centres.get("", response_model=CentresOut, summary="Every centre (anyone signed in)")
def every(_: AnyUser, centre_list: List, limit: Annotated[int, Query(ge=1, le=500)] = 200) -> dict[str, Any]:
    return {"items": centre_list.all(limit)}


@centres.get("/{centre_id}", response_model=CentreOut,
             summary="A centre: its hours, closures, locations, courses, roster; open now? (anyone signed in)")
def get_centre(centre_id: UUID, _: AnyUser, app: App) -> dict[str, Any]:
    return document(app, app.centre(centre_id))


@centres.patch("/{centre_id}", response_model=CentreOut, summary="Rename or describe a centre (its staff, admin)",
               description=MANAGE)
def describe(centre_id: UUID, body: DescriptionIn, principal: AnyUser, app: App) -> dict[str, Any]:
    return document(app, app.describe(centre_id, caller(principal), body.name, body.description))


@centres.put("/{centre_id}/hours", response_model=CentreOut,
             summary="Set the weekly opening hours, in the centre's own zone (its staff, admin)",
             description=MANAGE + " Besides the schema: each window must end after it starts, and windows of one "
                                  "day may not overlap (422 naming the window).")
def hours(centre_id: UUID, body: HoursIn, principal: AnyUser, app: App) -> dict[str, Any]:
    weekly = [(w.weekday, w.start, w.end) for w in body.weekly]
    return document(app, app.set_hours(centre_id, caller(principal), weekly))


@centres.put("/{centre_id}/closures/{day}", response_model=CentreOut,
             summary="Close the centre on a date: a holiday, an exam week (its staff, admin)",
             description=MANAGE + " A date closed already is a 409.")
def close_on(centre_id: UUID, day: date, body: ClosureIn, principal: AnyUser, app: App) -> dict[str, Any]:
    return document(app, app.close_on(centre_id, caller(principal), Closure(day, body.reason_code)))


@centres.delete("/{centre_id}/closures/{day}", response_model=CentreOut,
                summary="Open on a date closed before (its staff, admin)", description=MANAGE)
def reopen_on(centre_id: UUID, day: date, principal: AnyUser, app: App) -> dict[str, Any]:
    return document(app, app.reopen_on(centre_id, caller(principal), Closure(day, "other")))


@centres.post("/{centre_id}/locations", status_code=status.HTTP_201_CREATED, response_model=CentreOut,
              summary="Add a location: a room, or online (its staff, admin)",
              description=MANAGE + " Names are unique per centre (409).")
def add_location(centre_id: UUID, body: LocationIn, principal: AnyUser, app: App) -> dict[str, Any]:
    return document(app, app.add_location(centre_id, caller(principal), NewLocation(body.name, body.kind, body.where)))


@centres.delete("/{centre_id}/locations/{location_id}", response_model=CentreOut,
                summary="Remove a location (its staff, admin)", description=MANAGE)
def remove_location(centre_id: UUID, location_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return document(app, app.remove_location(centre_id, caller(principal), location_id))


@centres.put("/{centre_id}/courses", response_model=CentreOut,
             summary="The courses and subjects the centre covers (its staff, admin)", description=MANAGE)
def courses(centre_id: UUID, body: CoursesIn, principal: AnyUser, app: App) -> dict[str, Any]:
    return document(app, app.set_courses(centre_id, caller(principal), body.courses, body.subjects))


@centres.put("/{centre_id}/roster/{tutor_id}", response_model=CentreOut,
             summary="Put a tutor on the centre's roster (its staff, admin)", description=MANAGE)
def add_tutor(centre_id: UUID, tutor_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return document(app, app.set_tutor(centre_id, caller(principal), tutor_id, True))


@centres.delete("/{centre_id}/roster/{tutor_id}", response_model=CentreOut,
                summary="Take a tutor off the roster (its staff, admin)", description=MANAGE)
def remove_tutor(centre_id: UUID, tutor_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return document(app, app.set_tutor(centre_id, caller(principal), tutor_id, False))


@centres.put("/{centre_id}/staff/{user_id}", response_model=CentreOut,
             summary="Make someone staff of this centre: they manage it, and only it (admin)")
def add_staff(centre_id: UUID, user_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return document(app, app.set_staff(centre_id, caller(principal), user_id, True))


@centres.delete("/{centre_id}/staff/{user_id}", response_model=CentreOut,
                summary="Take someone off this centre's staff (admin)")
def remove_staff(centre_id: UUID, user_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return document(app, app.set_staff(centre_id, caller(principal), user_id, False))


@centres.get("/{centre_id}/calendar", response_model=CalendarOut,
             summary="When the centre opens in a period, in UTC and its own zone (anyone signed in)",
             description="Openings overlapping [`from`, `to`) (default: the next 7 days), closures left out; "
                         "laid out per local date in the centre's zone, so a daylight-saving change never moves "
                         "an hour of opening. Besides the schema: `to` after `from`, at most 62 days (422).")
def calendar(centre_id: UUID, _: AnyUser, app: App,
             start: Annotated[Timestamp | None, Query(alias="from")] = None,
             end: Annotated[Timestamp | None, Query(alias="to")] = None) -> dict[str, Any]:
    c = app.centre(centre_id)
    start = start or app.now()
    end = end or start + timedelta(days=7)
    if end <= start:
        raise Invalid("query.to", "must be after from")
    if end - start > timedelta(days=62):
        raise Invalid("query.to", "ask for at most 62 days at a time")
    tz = wallclock.zone(c.time_zone)
    return {"centre_id": c.id, "time_zone": c.time_zone,
            "openings": [{"date": o.day, "opens_at": o.opens_at, "closes_at": o.closes_at,
                          "local_opens_at": o.opens_at.astimezone(tz), "local_closes_at": o.closes_at.astimezone(tz)}
                         for o in c.openings(start, end)],
            "closures": sorted(c.closures.values(), key=lambda x: x["date"])}


# -- the drop-in queue -----------------------------------------------------------------------------

def _insider(centre: Centre, principal: Principal) -> bool:
    """Who sees every visit and its reason: the centre's staff, admins, and its roster's tutors."""
    return centre.manages(principal.user_id, principal.has_any("admin")) or str(principal.user_id) in centre.roster


def visit_document(app: CentresApplication, q: Queue, v: dict[str, Any], insider: bool) -> dict[str, Any]:
    position, wait = q.position_of(v["visit_id"])
    return {**{k: v[k] for k in ("visit_id", "student_id", "course", "mode", "status", "joined_at", "called_at",
                                 "started_at", "ended_at", "tutor_id")},
            "position": position, "estimated_wait_minutes": wait,
            "reason": app.opened(v["student_id"], v["reason"]) if insider else None,
            "note": app.opened(v["tutor_id"], v["note"]) if insider else None}


def queue_document(app: CentresApplication, centre: Centre, q: Queue, principal: Principal) -> dict[str, Any]:
    insider = _insider(centre, principal)
    mine = q.current_of(principal.user_id)
    if mine is None:  # the latest visit of theirs today, ended
        mine = next((q.visits[v] for v in reversed(q.order) if q.visits[v]["student_id"] == principal.user_id), None)
    return {"centre_id": centre.id, "day": q.day, "state": q.state,
            "in_line": sum(1 for v in q.visits.values() if v["status"] in IN_LINE),
            "tutors_on_shift": len(q.on_shift), "average_service_minutes": round(q.average_service(), 1),
            "mine": visit_document(app, q, mine, insider) if mine else None,
            "visits": [visit_document(app, q, q.visits[v], True) for v in q.order] if insider else None}


@centres.get("/{centre_id}/queue", response_model=QueueOut,
             summary="Today's drop-in queue: your place and estimated wait; every visit for its staff and tutors")
def get_queue(centre_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    centre, q = app.queue_of(centre_id)
    return queue_document(app, centre, q, principal)


@centres.get("/{centre_id}/queue/stream", response_class=Response,
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "`event: queue` with the same body as GET …/queue, on every change"}},
             summary="Today's queue as it changes (Server-Sent Events; anyone signed in)",
             description="The same view as GET …/queue, sent at once and again within a second of every change, "
                         "with a keep-alive comment every 15 s. Live views are bounded per process: past the "
                         "bound, 503 with Retry-After.")
async def stream_queue(centre_id: UUID, principal: AnyUser, app: App, watch: Watched) -> Response:
    centre, _ = await run_in_threadpool(app.queue_of, centre_id)
    watch.admit()
    key = (centre.id, app.queue_id(centre))
    return event_stream(watch.follow(key), lambda q: queue_document(app, centre, q, principal) if q else None,
                        event="queue")


@centres.put("/{centre_id}/queue/state", response_model=QueueOut,
             summary="Open, pause or close today's queue (its staff, admin)",
             description=MANAGE + " Closing ends every place still in the line (the students are told).")
def queue_state(centre_id: UUID, body: QueueStateIn, principal: AnyUser, app: App) -> dict[str, Any]:
    q = app.set_queue_state(centre_id, caller(principal), body.state)
    return queue_document(app, app.centre(centre_id), q, principal)


@centres.post("/{centre_id}/queue", status_code=status.HTTP_201_CREATED, response_model=QueueOut,
              summary="Join today's queue, in person (at the kiosk, by its QR code) or online (any signed-in user)",
              description="The queue must be open, you not in it already, and `course` one the centre covers "
                          "(409 otherwise).")
def join(centre_id: UUID, body: JoinIn, principal: AnyUser, app: App) -> dict[str, Any]:
    q, _ = app.join(centre_id, principal.user_id, body.course, body.reason or None, body.mode)
    return queue_document(app, app.centre(centre_id), q, principal)


@centres.post("/{centre_id}/queue/{visit_id}/pause", response_model=QueueOut,
              summary="Pause your place, or resume it (the student)")
def pause(centre_id: UUID, visit_id: UUID, body: PauseIn, principal: AnyUser, app: App) -> dict[str, Any]:
    q = app.pause(centre_id, visit_id, principal.user_id, body.paused)
    return queue_document(app, app.centre(centre_id), q, principal)


@centres.post("/{centre_id}/queue/{visit_id}/leave", response_model=QueueOut, summary="Leave the queue (the student)")
def leave(centre_id: UUID, visit_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    q = app.leave(centre_id, visit_id, principal.user_id)
    return queue_document(app, app.centre(centre_id), q, principal)


@centres.put("/{centre_id}/shifts/me", response_model=QueueOut,
             summary="Start your shift at the centre, with the courses you can help with (a tutor on its roster)")
def start_shift(centre_id: UUID, body: ShiftIn, principal: AnyUser, app: App) -> dict[str, Any]:
    q = app.shift(centre_id, principal.user_id, True, body.courses)
    return queue_document(app, app.centre(centre_id), q, principal)


@centres.delete("/{centre_id}/shifts/me", response_model=QueueOut, summary="End your shift (the tutor)")
def end_shift(centre_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    q = app.shift(centre_id, principal.user_id, False, [])
    return queue_document(app, app.centre(centre_id), q, principal)


@centres.post("/{centre_id}/queue/next", response_model=QueueOut,
              summary="Call the next student you can help (a tutor on shift)",
              description="The first waiting student of `course` (default: your shift's courses, or any). 409 when "
                          "nobody you can help is waiting, or you have a visit open.")
def call_next(centre_id: UUID, body: CallIn, principal: AnyUser, app: App) -> dict[str, Any]:
    q, _ = app.call(centre_id, principal.user_id, None, body.course)
    return queue_document(app, app.centre(centre_id), q, principal)


@centres.post("/{centre_id}/queue/{visit_id}/call", response_model=QueueOut,
              summary="Call a specific waiting student (a tutor on shift)")
def call(centre_id: UUID, visit_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    q, _ = app.call(centre_id, principal.user_id, visit_id, None)
    return queue_document(app, app.centre(centre_id), q, principal)


@centres.post("/{centre_id}/queue/{visit_id}/start", response_model=QueueOut,
              summary="The student you called is here: the visit starts (that tutor)")
def begin(centre_id: UUID, visit_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    q = app.begin(centre_id, visit_id, principal.user_id)
    return queue_document(app, app.centre(centre_id), q, principal)


@centres.post("/{centre_id}/queue/{visit_id}/finish", response_model=QueueOut,
              summary="Close the visit with a short note (that tutor)")
def finish(centre_id: UUID, visit_id: UUID, body: FinishIn, principal: AnyUser, app: App) -> dict[str, Any]:
    q = app.finish(centre_id, visit_id, principal.user_id, body.note or None)
    return queue_document(app, app.centre(centre_id), q, principal)


@centres.post("/{centre_id}/queue/{visit_id}/not-there", response_model=QueueOut,
              summary="The student you called did not come: their place is abandoned (that tutor)")
def not_there(centre_id: UUID, visit_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    q = app.not_there(centre_id, visit_id, principal.user_id)
    return queue_document(app, app.centre(centre_id), q, principal)


# -- a student's standing -------------------------------------------------------------------------

def standing_document(app: CentresApplication, s: Standing) -> dict[str, Any]:
    now = app.now()
    return {"centre_id": s.centre_id, "student_id": s.student_id, "no_shows_counted": s.recent(now, app.escalation),
            "warned_at": s.warned_at, "locked_until": s.locked_until if s.locked(now) else None,
            "locked": s.locked(now), "exempt": s.exempt}


@centres.get("/{centre_id}/students/{student_id}/standing", response_model=StandingOut,
             summary="A student's no-shows and any lockout at this centre (the student; its staff)")
def standing(centre_id: UUID, student_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return standing_document(app, app.standing_of(centre_id, student_id, caller(principal)))


@centres.post("/{centre_id}/students/{student_id}/lift-lockout", response_model=StandingOut,
              summary="Lift a student's lockout; earlier no-shows are forgiven (its staff, admin)",
              description=MANAGE + " A student not locked out is a 409.")
def lift(centre_id: UUID, student_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return standing_document(app, app.lift_lockout(centre_id, student_id, caller(principal)))


@centres.put("/{centre_id}/students/{student_id}/accommodations", response_model=StandingOut,
             summary="Exempt a student from named limits, e.g. for disability services (its staff, admin)",
             description=MANAGE)
def accommodations(centre_id: UUID, student_id: UUID, body: AccommodationIn, principal: AnyUser,
                   app: App) -> dict[str, Any]:
    return standing_document(app, app.accommodate(centre_id, student_id, caller(principal), list(body.exempt)))


ROUTERS = [centres]
