"""A session: one occurrence of a confirmed booking, or a group's shared occurrence (every
student booked into it has a *seat*). It holds what happens around the tutoring itself:
who may join, who was present and when, consent to record and the recordings, the plan
(objectives and materials), each side's confirmation and assessment, and each seat's
outcome, told to booking once.

=========================  ===========================================  =========================
step                       who / what                                    when
=========================  ===========================================  =========================
scheduled, seated          booking confirmed (booking.events)            —
seat cancelled / moved     booking cancelled / rescheduled               before it is decided
room opened                the room deadline (LiveKit configured)        start - room lead
arrived / left             LiveKit webhooks; in person: check-in         start - early .. end
consent given / revoked    each participant                              before the start
recording started / ended  tutor (everyone consented); egress webhooks   during
confirmed                  each participant: "it took place"             after the start
seat decided               grace (one side never came), end (attendance),
                           both confirmed, close deadline                 once per seat
=========================  ===========================================  =========================

A seat is decided once: completed (with the minutes the tutor and that student were present
together) or a no-show naming the absent side. The session is ``over`` when every seat
is decided or cancelled."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from servicekit.errors import Conflict, Forbidden, NotFound
from sessions.domain import attendance
from sessions.domain.attendance import Rules

_NS = UUID("8a1d5f0e-3c1b-4f7e-9a51-5e55105e0001")
#: Wrong check-in codes a student may enter before check-in is closed to them.
MAX_CODE_FAILURES = 5
#: Webhook ids remembered per session, so a replayed webhook changes nothing.
MAX_WEBHOOKS = 1000


def session_id_for(booking_or_group_id: UUID, occurrence: int) -> UUID:
    """One session per booking occurrence (per group occurrence for a group): derived, so a
    redelivered confirmation finds the session it made."""
    return uuid.uuid5(_NS, f"{booking_or_group_id}:{occurrence}")


class Session(Aggregate):
    @classmethod
    def schedule(cls, session_id: UUID, **fields: Any) -> Session:
        return cls._create(cls.Scheduled, id=session_id, **fields)  # type: ignore[attr-defined]  # by @event

    @event("Scheduled")
    def __init__(self, tutor_id: UUID, listing_id: UUID, occurrence: int, mode: str, kind: str,
                 starts_at: datetime, ends_at: datetime, group_id: UUID | None) -> None:
        self.tutor_id = tutor_id
        self.listing_id = listing_id
        self.occurrence = occurrence
        self.mode = mode
        self.kind = kind
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.group_id = group_id
        self.status = "scheduled"  # scheduled | cancelled | over
        #: student id → {"booking_id", "status": booked|cancelled|completed|no_show, "outcome": {...}}
        self.seats: dict[str, dict[str, Any]] = {}
        self.presence: dict[str, list[list[datetime | None]]] = {}
        self.how: dict[str, str] = {}  # how each person's presence is known: livekit | code | self
        self.webhooks: list[str] = []
        self.consents: dict[str, bool] = {}
        self.confirmed: list[str] = []
        self.observers: list[str] = []
        self.objectives: list[str] = []  # sealed under the planner's key
        self.materials: list[dict[str, Any]] = []
        self.planner: UUID | None = None
        self.meeting_link: str | None = None  # sealed under the tutor's key
        self.room: str | None = None
        self.recordings: dict[str, dict[str, Any]] = {}
        self.disputed: list[str] = []
        self.code_failures: dict[str, int] = {}
        self.assessments: dict[str, dict[str, Any]] = {}
        self.transcript: dict[str, Any] | None = None  # {"by", "text" sealed under "by", "at"}
        self.summary: dict[str, Any] | None = None  # {"by", "text" sealed under "by", "method", "at"}

    # -- what booking tells ----------------------------------------------------------------

    def has_seat(self, student_id: UUID) -> bool:
        return str(student_id) in self.seats

    @event("Seated")
    def seat(self, student_id: UUID, booking_id: UUID) -> None:
        self.seats[str(student_id)] = {"booking_id": booking_id, "status": "booked", "outcome": None}
        if self.status == "cancelled":
            self.status = "scheduled"

    def cancel_seat(self, student_id: UUID, at: datetime) -> bool:
        seat = self.seats.get(str(student_id))
        if seat is None or seat["status"] != "booked":
            return False
        self._seat_cancelled(student_id, at)
        return True

    @event("SeatCancelled")
    def _seat_cancelled(self, student_id: UUID, at: datetime) -> None:
        self.seats[str(student_id)]["status"] = "cancelled"
        if not self.booked():
            self.status = "cancelled" if not self.decided() else "over"

    def move(self, starts_at: datetime, ends_at: datetime) -> bool:
        if self.status != "scheduled" or (starts_at, ends_at) == (self.starts_at, self.ends_at):
            return False
        self._moved(starts_at, ends_at)
        return True

    @event("Moved")
    def _moved(self, starts_at: datetime, ends_at: datetime) -> None:
        self.starts_at, self.ends_at = starts_at, ends_at

    def learn_dispute(self, booking_id: UUID) -> bool:
        if str(booking_id) in self.disputed:
            return False
        self._disputed(booking_id)
        return True

    @event("Disputed")
    def _disputed(self, booking_id: UUID) -> None:
        self.disputed.append(str(booking_id))

    # -- who is who ------------------------------------------------------------------------

    def booked(self) -> list[str]:
        return [s for s, seat in self.seats.items() if seat["status"] == "booked"]

    def decided(self) -> list[str]:
        return [s for s, seat in self.seats.items() if seat["status"] in ("completed", "no_show")]

    def role_of(self, user_id: UUID) -> str | None:
        """tutor, student (a seat not cancelled), observer (invited staff), or None."""
        u = str(user_id)
        if user_id == self.tutor_id:
            return "tutor"
        if u in self.seats and self.seats[u]["status"] != "cancelled":
            return "student"
        if u in self.observers:
            return "observer"
        return None

    def participant(self, user_id: UUID, *, staff: bool = False) -> str:
        """The caller's role here, or refused: a session is seen by its participants only
        (staff too when invited, or when one of its bookings is disputed)."""
        role = self.role_of(user_id)
        if role is not None:
            return role
        if staff and self.disputed:
            return "staff"
        raise NotFound("no such session", field=None)

    def booking_of(self, student_id: UUID) -> UUID:
        return UUID(str(self.seats[str(student_id)]["booking_id"]))

    @event("ObserverInvited")
    def invite(self, staff_id: UUID, by: UUID) -> None:
        if str(staff_id) not in self.observers:
            self.observers.append(str(staff_id))

    # -- plan ----------------------------------------------------------------------------

    @event("Planned")
    def plan(self, objectives: list[str], materials: list[dict[str, Any]], by: UUID) -> None:
        self.objectives, self.materials, self.planner = list(objectives), list(materials), by

    @event("LinkSet")
    def set_link(self, link: str | None) -> None:
        self.meeting_link = link

    # -- joining ---------------------------------------------------------------------------

    def check_open(self, now: datetime, rules: Rules, what: str = "joining") -> None:
        if self.status == "cancelled":
            raise Conflict("this session was cancelled")
        if now < self.starts_at - timedelta(minutes=rules.early_minutes):
            raise Conflict(f"{what} opens {rules.early_minutes} minutes before the start")
        if now > self.ends_at or self.status == "over":
            raise Conflict(f"{what} closed when the session ended")

    @event("RoomOpened")
    def room_opened(self, room: str) -> None:
        self.room = room

    def arrive(self, user_id: UUID, at: datetime, how: str, webhook_id: str | None = None) -> bool:
        spans = self.presence.get(str(user_id), [])
        if spans and spans[-1][1] is None:
            return False  # already here (a second tab, a reconnect before the leave arrived)
        self._arrived(user_id, at, how, webhook_id)
        return True

    @event("Arrived")
    def _arrived(self, user_id: UUID, at: datetime, how: str, webhook_id: str | None) -> None:
        self.presence.setdefault(str(user_id), []).append([at, None])
        self.how[str(user_id)] = how
        self._seen(webhook_id)

    def leave(self, user_id: UUID, at: datetime, webhook_id: str | None = None) -> bool:
        spans = self.presence.get(str(user_id), [])
        if not spans or spans[-1][1] is not None:
            return False
        since = spans[-1][0]
        assert since is not None
        self._left(user_id, max(at, since), webhook_id)
        return True

    @event("Left")
    def _left(self, user_id: UUID, at: datetime, webhook_id: str | None) -> None:
        self.presence[str(user_id)][-1][1] = at
        self._seen(webhook_id)

    def seen(self, webhook_id: str) -> bool:
        return webhook_id in self.webhooks

    @event("WebhookSeen")
    def note_webhook(self, webhook_id: str) -> None:
        self._seen(webhook_id)

    def _seen(self, webhook_id: str | None) -> None:
        if webhook_id:
            self.webhooks = [*self.webhooks[-(MAX_WEBHOOKS - 1):], webhook_id]

    @event("CheckInFailed")
    def code_failed(self, user_id: UUID) -> None:
        self.code_failures[str(user_id)] = self.code_failures.get(str(user_id), 0) + 1

    def locked_out(self, user_id: UUID) -> bool:
        return self.code_failures.get(str(user_id), 0) >= MAX_CODE_FAILURES

    # -- recording -----------------------------------------------------------------------

    def consent(self, user_id: UUID, given: bool, now: datetime) -> None:
        if self.role_of(user_id) not in ("tutor", "student"):
            raise Forbidden("only the tutor and the booked students consent to recording")
        if now >= self.starts_at:
            raise Conflict("consent is given or revoked before the start")
        if self.consents.get(str(user_id)) is not given:
            self._consented(user_id, given)

    @event("ConsentChanged")
    def _consented(self, user_id: UUID, given: bool) -> None:
        self.consents[str(user_id)] = given

    def everyone_consented(self) -> bool:
        people = [str(self.tutor_id), *self.booked()]
        return all(self.consents.get(p) is True for p in people)

    @event("RecordingStarted")
    def recording_started(self, egress_id: str, by: UUID, at: datetime) -> None:
        self.recordings[egress_id] = {"egress_id": egress_id, "started_at": at, "by": by, "status": "recording",
                                      "location": None, "ended_at": None, "expires_at": None}

    @event("RecordingEnded")
    def recording_ended(self, egress_id: str, location: str | None, at: datetime, expires_at: datetime,
                        failed: bool) -> None:
        r = self.recordings.setdefault(egress_id, {"egress_id": egress_id, "started_at": at, "by": None})
        r.update(status="failed" if failed else "available", location=location, ended_at=at, expires_at=expires_at)

    @event("RecordingExpired")
    def recording_expired(self, egress_id: str) -> None:
        self.recordings[egress_id].update(status="expired", location=None)

    # -- confirmation, assessment ------------------------------------------------------------

    def confirm(self, user_id: UUID, now: datetime) -> None:
        if self.role_of(user_id) not in ("tutor", "student"):
            raise Forbidden("only the tutor and the booked students confirm a session")
        if now < self.starts_at:
            raise Conflict("a session is confirmed once it has started")
        if str(user_id) not in self.confirmed:
            self._confirmed(user_id)

    @event("Confirmed")
    def _confirmed(self, user_id: UUID) -> None:
        self.confirmed.append(str(user_id))

    @event("Assessed")
    def assess(self, user_id: UUID, by: str, student_id: UUID, fields: dict[str, Any]) -> None:
        self.assessments[f"{user_id}:{student_id}"] = {"by": by, "student_id": student_id, **fields}

    @event("TranscriptAttached")
    def attach_transcript(self, by: UUID, sealed_text: str, at: datetime) -> None:
        self.transcript = {"by": by, "text": sealed_text, "at": at}
        self.summary = None  # it summarised another transcript

    @event("Summarised")
    def summarised(self, by: UUID, sealed_text: str, method: str, at: datetime) -> None:
        self.summary = {"by": by, "text": sealed_text, "method": method, "at": at}

    # -- outcomes --------------------------------------------------------------------------

    def settle(self, now: datetime, rules: Rules, moment: str) -> list[str]:
        """Decide every booked seat the ``moment`` can decide (grace | end | close | confirm);
        returns the students decided. Decisions follow from recorded facts only, so firing a
        deadline twice, or late, decides the same."""
        if self.status != "scheduled":
            return []
        tutor = self.presence.get(str(self.tutor_id), [])
        tutor_came = attendance.appeared(tutor, self.starts_at, self.ends_at)
        decided = []
        for student in self.booked():
            mine = self.presence.get(student, [])
            student_came = attendance.appeared(mine, self.starts_at, self.ends_at)
            both = attendance.together(tutor, mine, self.starts_at, self.ends_at, now)
            absent = attendance.absent_side(tutor_came, student_came)
            if moment == "confirm":
                if not {str(self.tutor_id), student} <= set(self.confirmed):
                    continue
                minutes = both.minutes or attendance.scheduled_minutes(self.starts_at, min(now, self.ends_at))
                self._decide_completed(student, both, minutes, now, "confirmed")
            elif moment == "grace":
                if absent in ("tutor", "student"):
                    self._decided(UUID(student), "no_show", absent, None, None, None, None)
                else:
                    continue
            elif moment == "end" and absent is None and attendance.enough(both.minutes, self.starts_at,
                                                                           self.ends_at, rules):
                self._decide_completed(student, both, both.minutes, now, "attendance")
            elif moment == "end" and absent is not None:
                self._decided(UUID(student), "no_show", absent, None, None, None, None)
            elif moment == "close":
                if absent is None:
                    self._decide_completed(student, both, both.minutes, now, "deadline")
                else:
                    self._decided(UUID(student), "no_show", absent, None, None, None, None)
            else:
                continue
            decided.append(student)
        return decided

    def _decide_completed(self, student: str, both: attendance.Together, minutes: int, now: datetime,
                          why: str) -> None:
        started = both.first or self.starts_at
        ended = both.last or min(now, self.ends_at)
        self._decided(UUID(student), "completed", None, minutes, started, max(ended, started), why)

    @event("Decided")
    def _decided(self, student_id: UUID, outcome: str, absent: str | None, minutes: int | None,
                 started_at: datetime | None, ended_at: datetime | None, why: str | None) -> None:
        seat = self.seats[str(student_id)]
        seat["status"] = outcome
        seat["outcome"] = {"outcome": outcome, "absent": absent, "minutes_taught": minutes,
                           "started_at": started_at, "ended_at": ended_at, "decided_by": why}
        if not self.booked():
            self.status = "over"

    def check_assessable(self, user_id: UUID, student_id: UUID) -> str:
        role = self.role_of(user_id)
        if role not in ("tutor", "student"):
            raise Forbidden("only the tutor and the booked students assess a session")
        if role == "student" and user_id != student_id:
            raise Forbidden("a student assesses their own seat")
        seat = self.seats.get(str(student_id))
        if seat is None or seat["status"] != "completed":
            raise Conflict("a session is assessed once it took place")
        if f"{user_id}:{student_id}" in self.assessments:
            raise Conflict("already assessed")
        return role

    def require_tutor(self, user_id: UUID) -> None:
        if user_id != self.tutor_id:
            raise Forbidden("only the session's tutor may do this")
