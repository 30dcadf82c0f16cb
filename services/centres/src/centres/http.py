"""Centres' HTTP gateway. Every route names who may call it; each parses its schema, builds
the command value, calls the application and shapes the answer."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, status

from centres.adapters.views import CentreList
from centres.application import CentresApplication
from centres.domain.centre import Centre
from centres.domain.commands import Caller, Closure, NewCentre, NewLocation
from centres.schemas import (
    CalendarOut,
    CentreIn,
    CentreOut,
    CentresOut,
    ClosureIn,
    CoursesIn,
    DescriptionIn,
    HoursIn,
    LocationIn,
)
from servicekit import wallclock
from servicekit.auth import Principal, current_principal
from servicekit.bodies import Timestamp
from servicekit.errors import Invalid
from servicekit.gateway import provided

AnyUser = Annotated[Principal, Depends(current_principal)]
App = Annotated[CentresApplication, Depends(provided("centres"))]
List = Annotated[CentreList, Depends(provided("centre_list"))]
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


ROUTERS = [centres]
