"""Centres' domain events → public contracts (``centres.events``). Locations, descriptions and
courses stay in centres, behind its API."""

from __future__ import annotations

from typing import Any

from alphapeer_contracts import booking as bkc
from alphapeer_contracts import centres as c
from alphapeer_contracts.base import IntegrationEvent
from centres.domain.centre import Centre
from servicekit.eventstore import ServiceApplication

_C: Any = Centre


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
        return None
