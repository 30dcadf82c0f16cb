"""A centre's drop-in queue for one local day: students join with a course and a reason, keep
their place (or pause it, or leave), and a tutor on shift calls the next one they can help,
or a specific one; the visit is timed from the call to its end and closed with a note.

===========  ==========================================  ===========================
status       step                                         who
===========  ==========================================  ===========================
waiting      join                                         a student (queue open)
paused       pause / resume (keeps the place)             the student
called       call next (by course) or call one            a tutor on shift
serving      start                                        the tutor who called
served       finish, with a note                          that tutor
left         leave                                        the student (not yet served)
abandoned    not there when called                        the tutor who called
closed       the queue closed with them still in it       staff
===========  ==========================================  ===========================

Positions count the places ahead that are still in the line (waiting or paused, by join
order); the estimate is the waiting students ahead times the recent average service time,
shared by the tutors on shift."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from servicekit.errors import Conflict, Forbidden, NotFound

_NS = UUID("0c3a1e7e-5d8c-4c1e-9a1f-7c3e6e0a0001")
IN_LINE = ("waiting", "paused")
ACTIVE = (*IN_LINE, "called", "serving")
#: Minutes a visit is assumed to take until the day has served some.
DEFAULT_SERVICE_MINUTES = 15
#: The average service time is taken over this many recent visits.
RECENT = 10
#: Visits a day's queue holds.
MAX_VISITS = 2000


class Queue(Aggregate):
    @staticmethod
    def create_id(centre_id: UUID, day: date) -> UUID:
        return uuid.uuid5(_NS, f"{centre_id}:{day.isoformat()}")

    @classmethod
    def start(cls, centre_id: UUID, day: date) -> Queue:
        return cls._create(cls.Started, id=cls.create_id(centre_id, day),  # type: ignore[attr-defined]
                           centre_id=centre_id, day=day.isoformat())

    @event("Started")
    def __init__(self, centre_id: UUID, day: str) -> None:
        self.centre_id, self.day = centre_id, day
        self.state = "closed"  # open | paused | closed
        self.visits: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []  # visit ids in join order
        self.on_shift: dict[str, dict[str, Any]] = {}
        self.served_minutes: list[float] = []

    # -- the queue itself (staff) -----------------------------------------------------------

    def set_state(self, state: str, by: UUID, at: datetime) -> list[str]:
        """Open, pause or close it; closing ends every place still in it (returned)."""
        if state == self.state:
            return []
        ended = [v for v in self.order if self.visits[v]["status"] in (*IN_LINE, "called")] if state == "closed" else []
        self._state(state, by, at, ended)
        return ended

    @event("StateChanged")
    def _state(self, state: str, by: UUID, at: datetime, ended: list[str]) -> None:
        self.state = state
        for v in ended:
            self.visits[v].update(status="closed", ended_at=at)

    # -- students ----------------------------------------------------------------------------

    def join(self, visit_id: UUID, student: UUID, course: str | None, reason: str | None, mode: str,
             at: datetime) -> None:
        if self.state != "open":
            raise Conflict(f"the queue is {self.state}: join when it is open")
        if self.current_of(student) is not None:
            raise Conflict("you are in this queue already")
        if len(self.visits) >= MAX_VISITS:
            raise Conflict("the queue is full for today")
        self._joined(visit_id, student, course, reason, mode, at)

    @event("Joined")
    def _joined(self, visit_id: UUID, student: UUID, course: str | None, reason: str | None, mode: str,
                at: datetime) -> None:
        self.visits[str(visit_id)] = {"visit_id": visit_id, "student_id": student, "course": course,
                                      "reason": reason, "mode": mode, "status": "waiting", "joined_at": at,
                                      "called_at": None, "started_at": None, "ended_at": None, "tutor_id": None,
                                      "note": None}
        self.order.append(str(visit_id))

    def current_of(self, student: UUID) -> dict[str, Any] | None:
        for v in reversed(self.order):
            visit = self.visits[v]
            if visit["student_id"] == student and visit["status"] in ACTIVE:
                return visit
        return None

    def visit(self, visit_id: UUID) -> dict[str, Any]:
        v = self.visits.get(str(visit_id))
        if v is None:
            raise NotFound("no such visit")
        return v

    def _own(self, visit_id: UUID, student: UUID) -> dict[str, Any]:
        v = self.visit(visit_id)
        if v["student_id"] != student:
            raise NotFound("no such visit")
        return v

    def pause(self, visit_id: UUID, student: UUID, paused: bool) -> None:
        v = self._own(visit_id, student)
        if v["status"] not in IN_LINE:
            raise Conflict("only a place still in the line is paused or resumed")
        if (v["status"] == "paused") != paused:
            self._paused(visit_id, paused)

    @event("Paused")
    def _paused(self, visit_id: UUID, paused: bool) -> None:
        self.visits[str(visit_id)]["status"] = "paused" if paused else "waiting"

    def leave(self, visit_id: UUID, student: UUID, at: datetime) -> None:
        v = self._own(visit_id, student)
        if v["status"] not in (*IN_LINE, "called"):
            raise Conflict("this visit cannot be left now")
        self._ended(visit_id, "left", at)

    @event("Ended")
    def _ended(self, visit_id: UUID, how: str, at: datetime) -> None:
        self.visits[str(visit_id)].update(status=how, ended_at=at)

    # -- tutors ------------------------------------------------------------------------------

    @event("ShiftChanged")
    def shift(self, tutor: UUID, on: bool, courses: list[str], at: datetime) -> None:
        if on:
            self.on_shift[str(tutor)] = {"since": at, "courses": list(courses)}
        else:
            self.on_shift.pop(str(tutor), None)

    def _tutor(self, tutor: UUID) -> dict[str, Any]:
        shift = self.on_shift.get(str(tutor))
        if shift is None:
            raise Forbidden("start your shift at this centre first")
        return shift

    def next_for(self, tutor: UUID, course: str | None) -> dict[str, Any]:
        """The first waiting student this tutor can help (by ``course``, or by their courses)."""
        shift = self._tutor(tutor)
        wanted = {course} if course else set(shift["courses"])
        for v in self.order:
            visit = self.visits[v]
            if visit["status"] == "waiting" and (not wanted or visit["course"] in wanted or visit["course"] is None):
                return visit
        raise Conflict("nobody you can help is waiting")

    def call(self, visit_id: UUID, tutor: UUID, at: datetime) -> None:
        self._tutor(tutor)
        if any(v["tutor_id"] == tutor and v["status"] in ("called", "serving") for v in self.visits.values()):
            raise Conflict("finish your current visit first")
        if self.visit(visit_id)["status"] != "waiting":
            raise Conflict("this student is not waiting")
        self._called(visit_id, tutor, at)

    @event("Called")
    def _called(self, visit_id: UUID, tutor: UUID, at: datetime) -> None:
        self.visits[str(visit_id)].update(status="called", tutor_id=tutor, called_at=at)

    def _called_by(self, visit_id: UUID, tutor: UUID, status: str) -> dict[str, Any]:
        v = self.visit(visit_id)
        if v["tutor_id"] != tutor:
            raise Forbidden("another tutor has this visit")
        if v["status"] != status:
            raise Conflict(f"this visit is {v['status']}")
        return v

    def begin(self, visit_id: UUID, tutor: UUID, at: datetime) -> None:
        self._called_by(visit_id, tutor, "called")
        self._started(visit_id, at)

    @event("VisitStarted")
    def _started(self, visit_id: UUID, at: datetime) -> None:
        self.visits[str(visit_id)].update(status="serving", started_at=at)

    def finish(self, visit_id: UUID, tutor: UUID, sealed_note: str | None, at: datetime) -> float:
        v = self._called_by(visit_id, tutor, "serving")
        minutes = max(0.0, (at - v["started_at"]).total_seconds() / 60)
        self._served(visit_id, sealed_note, at, round(minutes, 2))
        return minutes

    @event("Served")
    def _served(self, visit_id: UUID, note: str | None, at: datetime, minutes: float) -> None:
        self.visits[str(visit_id)].update(status="served", ended_at=at, note=note)
        self.served_minutes = [*self.served_minutes[-(RECENT - 1):], minutes]

    def not_there(self, visit_id: UUID, tutor: UUID, at: datetime) -> None:
        self._called_by(visit_id, tutor, "called")
        self._ended(visit_id, "abandoned", at)

    # -- what a student sees -------------------------------------------------------------------

    def average_service(self) -> float:
        return sum(self.served_minutes) / len(self.served_minutes) if self.served_minutes else DEFAULT_SERVICE_MINUTES

    def position_of(self, visit_id: UUID) -> tuple[int | None, int | None]:
        """(position in the line from 1, estimated minutes to wait), or (None, None) once out of it."""
        key = str(visit_id)
        if self.visits[key]["status"] not in IN_LINE:
            return None, None
        line = [v for v in self.order if self.visits[v]["status"] in IN_LINE]
        ahead = line[:line.index(key)]
        waiting_ahead = sum(1 for v in ahead if self.visits[v]["status"] == "waiting")
        tutors = max(1, len(self.on_shift))
        return len(ahead) + 1, round(waiting_ahead * self.average_service() / tutors)
