"""Sessions' domain events → public contracts (``sessions.events``). Anything not listed is
internal (presence, consent, chat, plans, recordings) and never leaves the service. A
session's tutor, mode and seats' bookings never change, so they are read from the session."""

from __future__ import annotations

from typing import Any, cast

from alphapeer_contracts import sessions as c
from alphapeer_contracts.base import IntegrationEvent
from alphapeer_contracts.vocabulary import Mode
from servicekit.eventstore import ServiceApplication
from sessions.domain.session import Session

_S: Any = Session


class Translator:
    def __init__(self, app: ServiceApplication) -> None:
        self.app = app

    def __call__(self, e: Any) -> IntegrationEvent | None:
        if not isinstance(e, (_S.Seated, _S.Decided, _S.Assessed)):
            return None
        s = self.app.load(Session, e.originator_id, "session")
        at = e.timestamp
        if isinstance(e, _S.Seated):
            return c.SessionScheduled(session_id=s.id, tutor_id=s.tutor_id, booking_id=e.booking_id,
                                      student_id=e.student_id, occurrence=s.occurrence, mode=cast(Mode, s.mode),
                                      starts_at=s.starts_at, ends_at=s.ends_at, occurred_at=at)
        booking_id = s.booking_of(e.student_id)
        if isinstance(e, _S.Assessed):
            f = e.fields
            return c.AssessmentSubmitted(
                session_id=s.id, booking_id=booking_id, tutor_id=s.tutor_id, student_id=e.student_id, by=e.by,
                objectives_covered=sum(1 for p in f.get("progress", []) if p > 0) if e.by == "tutor" else None,
                progress=f.get("progress", []), helpfulness=f.get("helpfulness"), confidence=f.get("confidence"),
                occurred_at=at)
        common = {"booking_id": booking_id, "occurrence": s.occurrence, "session_id": s.id, "tutor_id": s.tutor_id,
                  "student_id": e.student_id, "occurred_at": at}
        if e.outcome == "completed":
            return c.SessionCompleted(started_at=e.started_at, ended_at=e.ended_at, minutes_taught=e.minutes,
                                      decided_by=e.why, **common)
        return c.SessionNoShow(absent=e.absent, **common)
