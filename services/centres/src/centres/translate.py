"""Centres' domain events → public contracts (``centres.events``). Locations, descriptions and
courses stay in centres, behind its API."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal
from uuid import UUID

from alphapeer_contracts import booking as bkc
from alphapeer_contracts import centres as c
from alphapeer_contracts.base import IntegrationEvent
from centres.domain.centre import Centre
from centres.domain.queue import Queue
from centres.domain.standing import Standing
from servicekit.eventstore import ServiceApplication

_C: Any = Centre
_Q: Any = Queue
_S: Any = Standing


class Translator:
    def __init__(self, app: ServiceApplication) -> None:
        self.app = app

    def __call__(self, e: Any) -> IntegrationEvent | None:
        cid, at = e.originator_id, e.timestamp
        if isinstance(e, _C.Founded):
            return c.CentreFounded(centre_id=cid, centre_name=e.name, time_zone=e.time_zone, occurred_at=at)
        if isinstance(e, (_C.HoursSet, _C.Reopened)):  # a closure added is told on its own (below)
            centre = self.app.load(Centre, cid)
            return c.CentreScheduleChanged(
                centre_id=cid, time_zone=centre.time_zone, weekly=[bkc.WeeklyWindow(**w) for w in centre.weekly],
                closures=sorted(v["date"] for v in centre.closures.values()), occurred_at=at)
        if isinstance(e, _C.Closed):
            return c.CentreClosureAdded(centre_id=cid, date=e.day, reason_code=e.reason_code, occurred_at=at)
        if isinstance(e, _C.RosterChanged):
            return c.CentreRosterChanged(centre_id=cid, tutor_id=e.tutor_id, on_roster=e.on, occurred_at=at)
        if isinstance(e, _C.StaffChanged):
            return c.CentreStaffChanged(centre_id=cid, user_id=e.user_id, member=e.member, occurred_at=at)
        if isinstance(e, (_S.Warned, _S.LockedOut, _S.Lifted)):
            s = self.app.load(Standing, e.originator_id)
            change: Literal["warned", "locked_out", "lifted"] = \
                "warned" if isinstance(e, _S.Warned) else "locked_out" if isinstance(e, _S.LockedOut) else "lifted"
            return c.StudentStandingChanged(centre_id=s.centre_id, student_id=s.student_id, change=change,
                                            no_shows=getattr(e, "no_shows", 0),
                                            locked_until=getattr(e, "until", None), occurred_at=at)
        return self._queue(e)

    def _queue(self, e: Any) -> IntegrationEvent | None:
        if not isinstance(e, (_Q.StateChanged, _Q.Joined, _Q.Called, _Q.Served, _Q.Ended)):
            return None
        q = self.app.load(Queue, e.originator_id)
        at = e.timestamp
        if isinstance(e, _Q.StateChanged):
            return c.QueueStateChanged(centre_id=q.centre_id, day=date.fromisoformat(q.day), state=e.state,
                                       closed_visits=[UUID(v) for v in e.ended], occurred_at=at)
        if isinstance(e, _Q.Joined):
            return c.DropInJoined(centre_id=q.centre_id, visit_id=e.visit_id, student_id=e.student, course=e.course,
                                  mode=e.mode, occurred_at=at)
        v = q.visit(e.visit_id)
        if isinstance(e, _Q.Called):
            waited = max(0.0, (e.at - v["joined_at"]).total_seconds() / 60)
            return c.DropInCalled(centre_id=q.centre_id, visit_id=e.visit_id, tutor_id=e.tutor,
                                  waited_minutes=round(waited, 2), occurred_at=at)
        if isinstance(e, _Q.Served):
            return c.DropInServed(centre_id=q.centre_id, visit_id=e.visit_id, student_id=v["student_id"],
                                  tutor_id=v["tutor_id"], course=v["course"], service_minutes=e.minutes,
                                  occurred_at=at)
        return c.DropInEnded(centre_id=q.centre_id, visit_id=e.visit_id, student_id=v["student_id"], how=e.how,
                             occurred_at=at)
