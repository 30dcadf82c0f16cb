"""Centres' use cases. Every change names who asked, and only an admin or the centre's own
staff may make it (a centre-scoped staff role)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from centres.domain.centre import Centre
from centres.domain.commands import Caller, Closure, NewCentre, NewLocation
from servicekit.errors import Forbidden
from servicekit.eventstore import ServiceApplication, retry_on_conflict


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CentresApplication(ServiceApplication):
    name = "centres"

    def __init__(self, env: dict[str, str] | None = None, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.clock = clock
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
