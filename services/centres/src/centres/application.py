"""Centres' use cases. Every change names who asked, and only an admin or the centre's own
staff may make it (a centre-scoped staff role)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import servicekit.wallclock as wallclock
from centres.domain.centre import Centre
from centres.domain.commands import Caller, Closure, NewCentre, NewLocation
from centres.domain.queue import Queue
from centres.domain.standing import Escalation, Standing
from servicekit.errors import Conflict, Forbidden
from servicekit.eventstore import ServiceApplication, retry_on_conflict
from servicekit.vault import PersonalDataVault


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CentresApplication(ServiceApplication):
    name = "centres"

    def __init__(self, env: dict[str, str] | None = None, *, sealer: PersonalDataVault | None = None,
                 escalation: Escalation = Escalation(), clock: Callable[[], datetime] = _utcnow) -> None:
        self.clock = clock
        self.escalation = escalation
        self.sealer = sealer
        super().__init__(env)

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def centre(self, centre_id: UUID) -> Centre:
        return self.load(Centre, centre_id, "centre")

    def _managed(self, centre_id: UUID, caller: Caller) -> Centre:
        centre = self.centre(centre_id)
        if not centre.manages(caller.user_id, caller.admin):
            raise Forbidden("only this centre's staff (or an admin) manage it")
        return centre

    def found(self, caller: Caller, command: NewCentre) -> Centre:
        if not caller.admin:
            raise Forbidden("an admin opens a centre")
        centre = Centre.found(command.name, command.time_zone, command.description, caller.user_id)
        self.save(centre)
        return centre

    @retry_on_conflict()
    def describe(self, centre_id: UUID, caller: Caller, name: str, description: str) -> Centre:
        centre = self._managed(centre_id, caller)
        centre.describe(name, description)
        self.save(centre)
        return centre

    @retry_on_conflict()
    def set_staff(self, centre_id: UUID, caller: Caller, user_id: UUID, member: bool) -> Centre:
        if not caller.admin:
            raise Forbidden("an admin names a centre's staff")
        centre = self.centre(centre_id)
        if (str(user_id) in centre.staff) != member:
            centre.set_staff(user_id, member, caller.user_id)
            self.save(centre)
        return centre

    @retry_on_conflict()
    def set_hours(self, centre_id: UUID, caller: Caller, weekly: list[tuple[int, str, str]]) -> Centre:
        centre = self._managed(centre_id, caller)
        centre.set_hours(Centre.check_hours(weekly))
        self.save(centre)
        return centre

    @retry_on_conflict()
    def close_on(self, centre_id: UUID, caller: Caller, closure: Closure) -> Centre:
        centre = self._managed(centre_id, caller)
        centre.add_closure(closure.day, closure.reason_code)
        self.save(centre)
        return centre

    @retry_on_conflict()
    def reopen_on(self, centre_id: UUID, caller: Caller, closure: Closure) -> Centre:
        centre = self._managed(centre_id, caller)
        centre.remove_closure(closure.day)
        self.save(centre)
        return centre

    @retry_on_conflict()
    def add_location(self, centre_id: UUID, caller: Caller, location: NewLocation) -> Centre:
        centre = self._managed(centre_id, caller)
        centre.add_location(location.name, location.kind, location.where)
        self.save(centre)
        return centre

    @retry_on_conflict()
    def remove_location(self, centre_id: UUID, caller: Caller, location_id: UUID) -> Centre:
        centre = self._managed(centre_id, caller)
        centre.remove_location(location_id)
        self.save(centre)
        return centre

    @retry_on_conflict()
    def set_courses(self, centre_id: UUID, caller: Caller, courses: list[str], subjects: list[str]) -> Centre:
        centre = self._managed(centre_id, caller)
        centre.set_courses(sorted(set(courses)), sorted(set(subjects)))
        self.save(centre)
        return centre

    @retry_on_conflict()
    def set_tutor(self, centre_id: UUID, caller: Caller, tutor_id: UUID, on: bool) -> Centre:
        centre = self._managed(centre_id, caller)
        if (str(tutor_id) in centre.roster) != on:
            if on:
                centre.check_roster_room()
            centre.set_tutor(tutor_id, on)
            self.save(centre)
        return centre

    # -- the drop-in queue ------------------------------------------------------------------------
    # One queue per centre and local day, changed in a unit of work: the event store's write lock
    # serialises a rush of joins instead of turning it into conflicts to retry.

    def queue_id(self, centre: Centre) -> UUID:
        return Queue.create_id(centre.id, wallclock.local_day(self.now(), wallclock.zone(centre.time_zone)))

    def queue_of(self, centre_id: UUID) -> tuple[Centre, Queue]:
        centre = self.centre(centre_id)
        queue = self.find(Queue, self.queue_id(centre))
        if queue is None:
            queue = Queue.start(centre.id, wallclock.local_day(self.now(), wallclock.zone(centre.time_zone)))
        return centre, queue

    def _change(self, centre_id: UUID, decide: Callable[[Centre, Queue, Standing | None], Any],
                student: Callable[[Queue], UUID | None] | None = None) -> tuple[Queue, Any]:
        """Decide on today's queue (and, when ``student`` names one, their standing) in one unit."""
        centre = self.centre(centre_id)
        with self.unit_of_work() as unit:
            qid = self.queue_id(centre)
            queue = unit.aggregate(qid)
            if queue is None:
                queue = Queue.start(centre.id, wallclock.local_day(self.now(), wallclock.zone(centre.time_zone)))
            who = student(queue) if student else None
            standing = None
            if who is not None:
                standing = unit.aggregate(Standing.create_id(centre.id, who)) or Standing.start(centre.id, who)
            result = decide(centre, queue, standing)
            unit.save(queue, *([standing] if standing is not None else []))
        return queue, result

    def set_queue_state(self, centre_id: UUID, caller: Caller, state: str) -> Queue:
        self._managed(centre_id, caller)
        queue, _ = self._change(centre_id, lambda c, q, _: q.set_state(state, caller.user_id, self.now()))
        return queue

    def join(self, centre_id: UUID, student: UUID, course: str | None, reason: str | None,
             mode: str) -> tuple[Queue, UUID]:
        def decide(centre: Centre, q: Queue, standing: Standing | None) -> UUID:
            assert standing is not None
            standing.check_may_join(self.now())
            if course and centre.courses and course not in centre.courses:
                raise Conflict(f"this centre does not cover {course}")
            visit_id = uuid.uuid4()
            sealed = self.sealer.seal(student, reason) if reason and self.sealer else None
            q.join(visit_id, student, course, sealed, mode, self.now())
            return visit_id

        return self._change(centre_id, decide, lambda q: student)

    def pause(self, centre_id: UUID, visit_id: UUID, student: UUID, paused: bool) -> Queue:
        return self._change(centre_id, lambda c, q, _: q.pause(visit_id, student, paused))[0]

    def leave(self, centre_id: UUID, visit_id: UUID, student: UUID) -> Queue:
        return self._change(centre_id, lambda c, q, _: q.leave(visit_id, student, self.now()))[0]

    def shift(self, centre_id: UUID, tutor: UUID, on: bool, courses: list[str]) -> Queue:
        def decide(centre: Centre, q: Queue, _: Standing | None) -> None:
            if on and str(tutor) not in centre.roster:
                raise Forbidden("only a tutor on this centre's roster takes shifts here")
            if on or str(tutor) in q.on_shift:
                q.shift(tutor, on, courses, self.now())

        return self._change(centre_id, decide)[0]

    def call(self, centre_id: UUID, tutor: UUID, visit_id: UUID | None, course: str | None) -> tuple[Queue, UUID]:
        def decide(centre: Centre, q: Queue, _: Standing | None) -> UUID:
            chosen = visit_id or q.next_for(tutor, course)["visit_id"]
            q.call(chosen, tutor, self.now())
            return UUID(str(chosen))

        return self._change(centre_id, decide)

    def begin(self, centre_id: UUID, visit_id: UUID, tutor: UUID) -> Queue:
        return self._change(centre_id, lambda c, q, _: q.begin(visit_id, tutor, self.now()))[0]

    def finish(self, centre_id: UUID, visit_id: UUID, tutor: UUID, note: str | None) -> Queue:
        def decide(centre: Centre, q: Queue, _: Standing | None) -> None:
            sealed = self.sealer.seal(tutor, note) if note and self.sealer else None
            q.finish(visit_id, tutor, sealed, self.now())

        return self._change(centre_id, decide)[0]

    def not_there(self, centre_id: UUID, visit_id: UUID, tutor: UUID) -> Queue:
        """The student called did not come: the place is abandoned, and it counts against them
        (a warning, then a lockout, by the centre's escalation)."""
        def decide(centre: Centre, q: Queue, standing: Standing | None) -> None:
            assert standing is not None
            now = self.now()
            q.not_there(visit_id, tutor, now)
            standing.no_show(visit_id, now, self.escalation)

        return self._change(centre_id, decide, lambda q: UUID(str(q.visit(visit_id)["student_id"])))[0]

    # -- a student's standing ----------------------------------------------------------------------

    def standing_of(self, centre_id: UUID, student: UUID, caller: Caller) -> Standing:
        centre = self.centre(centre_id)
        if caller.user_id != student and not centre.manages(caller.user_id, caller.admin):
            raise Forbidden("a student's standing is theirs and their centre's staff's")
        return self.find(Standing, Standing.create_id(centre.id, student)) or Standing.start(centre.id, student)

    @retry_on_conflict()
    def lift_lockout(self, centre_id: UUID, student: UUID, caller: Caller) -> Standing:
        self._managed(centre_id, caller)
        standing = self.find(Standing, Standing.create_id(centre_id, student))
        if standing is None:
            raise Conflict("this student is not locked out")
        standing.lift(caller.user_id, self.now())
        self.save(standing)
        return standing

    @retry_on_conflict()
    def accommodate(self, centre_id: UUID, student: UUID, caller: Caller, exempt: list[str]) -> Standing:
        self._managed(centre_id, caller)
        standing = self.find(Standing, Standing.create_id(centre_id, student)) or Standing.start(centre_id, student)
        standing.accommodate(exempt, caller.user_id)
        self.save(standing)
        return standing

    def opened(self, writer: UUID | None, sealed: str | None) -> str | None:
        return self.sealer.read(writer, sealed) if self.sealer is not None else None

    def queue_version(self, key: tuple[UUID, UUID]) -> int:
        """The version of a day's queue, ``key`` = (centre id, queue id): what a live view polls."""
        return self.version_of(key[1])

    def queue_state(self, key: tuple[UUID, UUID]) -> Queue | None:
        return self.find(Queue, key[1])
