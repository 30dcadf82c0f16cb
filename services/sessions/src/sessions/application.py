"""Sessions' use cases, its reactions to booking and identity, and its deadlines."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from alphapeer_contracts import booking as bkc
from alphapeer_contracts import identity as idc
from alphapeer_contracts.base import IntegrationEvent
from servicekit.blobstore import BlobNotFound, BlobStore, LocalBlobStore
from servicekit.deadlines import Deadline
from servicekit.errors import Conflict, Forbidden, Invalid, NotFound
from servicekit.eventstore import ServiceApplication, retry_on_conflict
from servicekit.subscriber import Delivery
from servicekit.uploads import check_upload
from servicekit.vault import PersonalDataVault
from sessions.adapters.assistant import Assistant, Extractive
from sessions.adapters.video import NoVideo, Video, Webhook
from sessions.domain.attendance import Limits, Rules
from sessions.domain.chat import Chat
from sessions.domain.commands import Attachment, Caller, Plan, StudentAssessment, TutorAssessment
from sessions.domain.learning import LearningPlan
from sessions.domain.session import Session, session_id_for

_S: Any = Session
ROOM_PREFIX = "session-"
#: Kinds of file passed in a session's chat (recognised by their bytes).
FILE_KINDS = {"document", "image", "audio"}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class BookingSeats(Aggregate):
    """Which session each occurrence of a booking sits in (a group's booking shares its
    group's sessions), so a cancellation, a move or a dispute finds them."""

    @staticmethod
    def create_id(booking_id: UUID) -> UUID:
        return uuid.uuid5(UUID("8a1d5f0e-3c1b-4f7e-9a51-5e55105e0003"), str(booking_id))

    @classmethod
    def make(cls, booking_id: UUID, student_id: UUID, sessions: dict[str, UUID]) -> BookingSeats:
        return cls._create(cls.Made, id=cls.create_id(booking_id), booking_id=booking_id,  # type: ignore[attr-defined]
                           student_id=student_id, sessions=sessions)

    @event("Made")
    def __init__(self, booking_id: UUID, student_id: UUID, sessions: dict[str, UUID]) -> None:
        self.booking_id = booking_id
        self.student_id = student_id
        self.sessions = dict(sessions)


@dataclass(frozen=True)
class CheckInCode:
    code: str
    qr_payload: str
    opens_at: datetime
    closes_at: datetime


class SessionsApplication(ServiceApplication):
    name = "sessions"

    def __init__(self, env: dict[str, str] | None = None, *, rules: Rules, sealer: PersonalDataVault,
                 video: Video | None = None, files: BlobStore, check_in_key: bytes, limits: Limits = Limits(),
                 assistant: Assistant | None = None, clock: Callable[[], datetime] = _utcnow) -> None:
        self.assistant: Assistant = assistant or Extractive()
        self.rules = rules
        self.sealer = sealer
        self.video: Video = video or NoVideo()
        self.files = files
        self.check_in_key = check_in_key
        self.limits = limits
        self.clock = clock
        super().__init__(env)

    def now(self) -> datetime:
        return self.clock().astimezone(UTC)

    def opened(self, writer: UUID | None, sealed: str | None) -> str | None:
        """Words in the clear, or None once their writer is erased."""
        return self.sealer.read(writer, sealed)

    # -- reading -----------------------------------------------------------------------

    def session_for(self, session_id: UUID, caller: Caller) -> tuple[Session, str]:
        session = self.find(Session, session_id)
        if session is None:
            raise NotFound("no such session")
        return session, session.participant(caller.user_id, staff=caller.staff)

    def chat_of(self, session_id: UUID) -> Chat | None:
        return self.find(Chat, Chat.create_id(session_id))

    # -- reactions to booking and identity ------------------------------------------------

    def react(self, event: IntegrationEvent, delivery: Delivery) -> list[Any]:
        if isinstance(event, bkc.BookingConfirmed):
            return self._confirmed(event)
        if isinstance(event, (bkc.BookingCancelled, bkc.BookingRescheduled, bkc.DisputeOpened)):
            return self._about_a_booking(event)
        if isinstance(event, idc.UserErased):
            self.sealer.forget(event.user_id)  # their words in every chat and plan: unreadable for good
            self.forget_files(event.user_id)
        return []

    def forget_files(self, user_id: UUID) -> None:
        """The files they passed: unreadable already (sealed under the key just destroyed);
        in a local folder, deleted too. An S3 store keeps the ciphertext until its lifecycle
        rule removes it (the API cannot list a writer's objects without a listing grant)."""
        if isinstance(self.files, LocalBlobStore):
            shutil.rmtree(self.files.folder / str(user_id), ignore_errors=True)

    def _confirmed(self, e: bkc.BookingConfirmed) -> list[Any]:
        changed: list[Any] = []
        ids = {o.occurrence: session_id_for(e.group_id or e.booking_id, o.occurrence) for o in e.occurrences}
        for o in e.occurrences:
            sid = ids[o.occurrence]
            session = self.find(Session, sid) or Session.schedule(
                sid, tutor_id=e.tutor_id, listing_id=e.listing_id, occurrence=o.occurrence, mode=e.mode, kind=e.kind,
                starts_at=o.starts_at, ends_at=o.ends_at, group_id=e.group_id)
            if not session.has_seat(e.student_id):
                session.seat(e.student_id, e.booking_id)
            changed.append(session)
        if self.find(BookingSeats, BookingSeats.create_id(e.booking_id)) is None:
            changed.append(BookingSeats.make(e.booking_id, e.student_id, {str(k): v for k, v in ids.items()}))
        return changed

    def _about_a_booking(self, e: Any) -> list[Any]:
        seats = self.find(BookingSeats, BookingSeats.create_id(e.booking_id))
        if seats is None:
            return []  # never confirmed: no session was made
        occurrences = e.occurrences if isinstance(e, bkc.BookingCancelled) else [e.occurrence]
        changed = []
        for n in occurrences:
            sid = seats.sessions.get(str(n))
            session = self.find(Session, sid) if sid else None
            if session is None:
                continue
            if isinstance(e, bkc.BookingCancelled):
                done = session.cancel_seat(seats.student_id, e.occurred_at)
            elif isinstance(e, bkc.BookingRescheduled):
                done = len(session.seats) == 1 and session.move(e.starts_at, e.ends_at)
            else:
                done = session.learn_dispute(e.booking_id)
            if done:
                changed.append(session)
        return changed

    # -- deadlines -----------------------------------------------------------------------

    def deadlines_of(self, e: Any) -> Iterable[Deadline]:
        """Every session: its room ahead of time (online, with LiveKit), the no-show grace,
        its end and its closing; every recording: its expiry."""
        s = str(e.originator_id)
        if isinstance(e, (_S.Scheduled, _S.Moved)):
            out = [Deadline(f"grace:{s}", e.starts_at + timedelta(minutes=self.rules.grace_minutes)),
                   Deadline(f"end:{s}", e.ends_at),
                   Deadline(f"close:{s}", e.ends_at + timedelta(hours=self.rules.close_hours))]
            if isinstance(e, _S.Scheduled) and e.mode == "online" and self.video.configured:
                out.append(Deadline(f"room:{s}", e.starts_at - timedelta(minutes=self.limits.room_lead_minutes)))
            return out
        if isinstance(e, _S.RecordingEnded):
            return [Deadline(f"expire:{s}:{e.egress_id}", e.expires_at)]
        return []

    @retry_on_conflict()
    def fire(self, key: str, due_at: datetime) -> None:
        kind, sid, *rest = key.split(":")
        session = self.find(Session, UUID(sid))
        if session is None:
            return
        if kind == "room":  # (LiveKit may have been unconfigured since: then the link serves)
            if session.status == "scheduled" and session.room is None and self.video.configured:
                self._open_room(session)
        elif kind in ("grace", "end", "close"):
            session.settle(self.now(), self.rules, kind)
        elif kind == "expire" and session.recordings.get(rest[0], {}).get("status") == "available":
            session.recording_expired(rest[0])
        self.save(session)

    def _open_room(self, session: Session) -> str:
        room = f"{ROOM_PREFIX}{session.id}"
        self.video.ensure_room(room, max_participants=len(session.seats) + 1 + 2,  # + observers
                               empty_timeout_s=self.limits.empty_room_seconds)
        session.room_opened(room)
        return room

    # -- plan ------------------------------------------------------------------------------

    @retry_on_conflict()
    def plan(self, session_id: UUID, caller: Caller, plan: Plan) -> Session:
        session, role = self.session_for(session_id, caller)
        if role not in ("tutor", "student"):
            raise Forbidden("the tutor and the booked students plan a session")
        chat = self.chat_of(session_id)
        for m in plan.materials:
            if m.kind == "file" and (chat is None or m.message_id is None or
                                     chat.message(m.message_id)["file"] is None):
                raise Invalid("materials.message_id", "names no file shared in this session's chat")
        objectives = [self.sealer.seal(caller.user_id, o) for o in plan.objectives]
        session.plan(objectives, [vars(m) for m in plan.materials], caller.user_id)
        self.save(session)
        return session

    @retry_on_conflict()
    def set_link(self, session_id: UUID, caller: Caller, link: str | None) -> Session:
        session, _ = self.session_for(session_id, caller)
        session.require_tutor(caller.user_id)
        if session.mode != "online":
            raise Conflict("an in-person session has no meeting link")
        session.set_link(self.sealer.seal(caller.user_id, link) if link else None)
        self.save(session)
        return session

    @retry_on_conflict()
    def invite(self, session_id: UUID, staff: Caller) -> Session:
        session = self.load(Session, session_id, "session")
        session.invite(staff.user_id, staff.user_id)
        self.save(session)
        return session

    # -- joining online --------------------------------------------------------------------

    def join(self, session_id: UUID, caller: Caller) -> dict[str, Any]:
        session, role = self.session_for(session_id, caller)
        if role == "staff":
            raise Forbidden("staff join a session once invited as observers")
        if session.mode != "online":
            raise Conflict("an in-person session is joined by checking in")
        session.check_open(self.now(), self.rules)
        if not self.video.configured:
            link = self.opened(session.tutor_id, session.meeting_link)
            if not link:
                raise Conflict("the tutor has not shared a meeting link yet")
            return {"provider": "link", "meeting_link": link}
        if session.room is None:
            self._with_room(session_id)
        join = self.video.join(f"{ROOM_PREFIX}{session.id}", str(caller.user_id), role, role,
                               timedelta(minutes=self.limits.token_minutes))
        return {"provider": "livekit", "url": join.url, "token": join.token, "room": join.room,
                "role": role, "expires_at": join.expires_at}

    @retry_on_conflict()
    def _with_room(self, session_id: UUID) -> None:
        session = self.load(Session, session_id, "session")
        if session.room is None:
            self._open_room(session)
            self.save(session)

    def webhook(self, body: str, authorization: str) -> str:
        """A LiveKit webhook, verified; returns what it did (for the log). A replay, or a
        webhook about a room or a person that is not ours, changes nothing."""
        hook = self.video.webhook(body, authorization)
        if not hook.room.startswith(ROOM_PREFIX):
            return "ignored: not a session room"
        try:
            sid = UUID(hook.room[len(ROOM_PREFIX):])
        except ValueError:
            return "ignored: not a session room"
        return self._apply_webhook(sid, hook)

    @retry_on_conflict()
    def _apply_webhook(self, sid: UUID, hook: Webhook) -> str:
        session = self.find(Session, sid)
        if session is None:
            return "ignored: no such session"
        if hook.id and session.seen(hook.id):
            return "ignored: seen before"
        done = False
        if hook.event in ("participant_joined", "participant_left") and hook.identity:
            try:
                user = UUID(hook.identity)
            except ValueError:
                user = None
            if user is not None and session.role_of(user) is not None:
                if hook.event == "participant_joined":
                    done = session.arrive(user, hook.at, "livekit", hook.id)
                else:
                    done = session.leave(user, hook.at, hook.id)
        elif hook.event == "room_finished":
            for person, spans in list(session.presence.items()):
                if spans and spans[-1][1] is None:
                    session.leave(UUID(person), hook.at)
        elif hook.event == "egress_ended" and hook.egress_id:
            expires = hook.at + timedelta(days=self.limits.retention_days)
            session.recording_ended(hook.egress_id, hook.location, hook.at, expires, hook.failed)
            done = True
        if not done and hook.id:
            session.note_webhook(hook.id)
        self.save(session)
        return hook.event

    # -- in person -------------------------------------------------------------------------

    def _code(self, session_id: UUID) -> str:
        digest = hmac.new(self.check_in_key, str(session_id).encode(), hashlib.sha256).digest()
        return f"{int.from_bytes(digest[:5], 'big') % 1_000_000:06d}"

    def check_in_code(self, session_id: UUID, caller: Caller) -> CheckInCode:
        session, _ = self.session_for(session_id, caller)
        session.require_tutor(caller.user_id)
        if session.mode != "in_person":
            raise Conflict("an online session is joined, not checked into")
        code = self._code(session_id)
        return CheckInCode(code, f"alphapeer:check-in:{session_id}:{code}",
                           session.starts_at - timedelta(minutes=self.rules.early_minutes), session.ends_at)

    @retry_on_conflict()
    def check_in(self, session_id: UUID, caller: Caller, code: str | None) -> Session:
        """The tutor checks in by themselves; a student with the code the tutor shows (the
        six digits, or the QR payload that carries them). A student whose tutor has not
        checked in says they are waiting (no code): if the tutor never comes, that is the
        tutor's no-show, not both sides'."""
        session, role = self.session_for(session_id, caller)
        if session.mode != "in_person":
            raise Conflict("an online session is joined, not checked into")
        now = self.now()
        session.check_open(now, self.rules, "check-in")
        if role == "tutor":
            session.arrive(caller.user_id, now, "self")
        elif role == "student":
            if code is None:
                if session.presence.get(str(session.tutor_id)):
                    raise Invalid("code", "enter the code your tutor shows")
                session.arrive(caller.user_id, now, "waiting")  # the tutor is not here (yet): say so
                self.save(session)
                return session
            if session.locked_out(caller.user_id):
                raise Conflict("too many wrong codes: ask staff to check you in")
            given = (code or "").rsplit(":", 1)[-1].strip()
            if not hmac.compare_digest(given, self._code(session_id)):
                session.code_failed(caller.user_id)
                self.save(session)
                raise Invalid("code", "does not match the code your tutor shows")
            spans = session.presence.get(str(caller.user_id), [])
            if spans and spans[-1][1] is None and session.how.get(str(caller.user_id)) == "waiting":
                session.leave(caller.user_id, now)  # waiting ends: present, now verified by the code
            session.arrive(caller.user_id, now, "code")
        else:
            raise Forbidden("the tutor and the booked students check in")
        self.save(session)
        return session

    # -- recording -------------------------------------------------------------------------

    @retry_on_conflict()
    def consent(self, session_id: UUID, caller: Caller, given: bool) -> Session:
        session, _ = self.session_for(session_id, caller)
        session.consent(caller.user_id, given, self.now())
        self.save(session)
        return session

    @retry_on_conflict()
    def start_recording(self, session_id: UUID, caller: Caller) -> dict[str, Any]:
        session, _ = self.session_for(session_id, caller)
        session.require_tutor(caller.user_id)
        if session.mode != "online" or not self.video.configured:
            raise Conflict("only sessions in a video room are recorded")
        if not session.everyone_consented():
            raise Conflict("every participant must consent before the start")
        now = self.now()
        session.check_open(now, self.rules, "recording")
        if any(r["status"] == "recording" for r in session.recordings.values()):
            raise Conflict("already recording")
        if session.room is None:
            self._open_room(session)
        egress_id = self.video.start_recording(f"{ROOM_PREFIX}{session.id}",
                                               f"sessions/{session.id}/{now:%Y%m%dT%H%M%S}.mp4")
        session.recording_started(egress_id, caller.user_id, now)
        self.save(session)
        return session.recordings[egress_id]

    def stop_recording(self, session_id: UUID, caller: Caller) -> None:
        session, _ = self.session_for(session_id, caller)
        session.require_tutor(caller.user_id)
        running = [r for r in session.recordings.values() if r["status"] == "recording"]
        if not running:
            raise Conflict("nothing is being recorded")
        for r in running:
            self.video.stop_recording(r["egress_id"])  # its egress_ended webhook says where the file is

    def recordings(self, session_id: UUID, caller: Caller) -> list[dict[str, Any]]:
        session, _ = self.session_for(session_id, caller)
        return [r for r in session.recordings.values() if r["status"] in ("recording", "available")]

    # -- the end ---------------------------------------------------------------------------

    @retry_on_conflict()
    def confirm(self, session_id: UUID, caller: Caller) -> Session:
        session, _ = self.session_for(session_id, caller)
        now = self.now()
        session.confirm(caller.user_id, now)
        session.settle(now, self.rules, "confirm")
        self.save(session)
        return session

    @retry_on_conflict()
    def assess(self, session_id: UUID, caller: Caller, a: TutorAssessment | StudentAssessment) -> Session:
        session, _ = self.session_for(session_id, caller)
        if isinstance(a, TutorAssessment):
            session.check_assessable(caller.user_id, a.student_id)
            if a.progress and len(a.progress) != len(session.objectives):
                raise Invalid("progress", f"one score per objective ({len(session.objectives)})")
            fields: dict[str, Any] = {
                "progress": list(a.progress), "goals_covered": [self.sealer.seal(caller.user_id, g)
                                                                for g in a.goals_covered],
                "next_steps": self.sealer.seal(caller.user_id, a.next_steps) if a.next_steps else None}
            session.assess(caller.user_id, "tutor", a.student_id, fields)
            if a.goals:
                plan = self._plan(session.tutor_id, a.student_id)
                plan.score(session.id, dict(a.goals), self.now())
                self.save(session, plan)
                return session
        else:
            session.check_assessable(caller.user_id, caller.user_id)
            session.assess(caller.user_id, "student", caller.user_id,
                           {"helpfulness": a.helpfulness, "confidence": a.confidence})
        self.save(session)
        return session

    # -- chat ------------------------------------------------------------------------------

    @retry_on_conflict()
    def post(self, session_id: UUID, caller: Caller, text: str | None, attachment: Attachment | None) -> dict[str, Any]:
        session, role = self.session_for(session_id, caller)
        if role == "staff":
            raise Forbidden("staff post in a session once invited")
        if session.status == "cancelled":
            raise Conflict("this session was cancelled")
        text = (text or "").strip() or None
        if text is None and attachment is None:
            raise Invalid("text", "write something or attach a file")
        if text is not None and len(text) > self.limits.chat_max_chars:
            raise Invalid("text", f"at most {self.limits.chat_max_chars} characters")
        file = None
        if attachment is not None:
            kind = check_upload(attachment.data, attachment.filename, attachment.declared_type,
                                allowed_kinds=FILE_KINDS, max_bytes=self.limits.file_max_bytes)
            # Kept sealed under the writer's key: erasure makes it unreadable in any store.
            key = f"{caller.user_id}/{hashlib.sha256(attachment.data).hexdigest()}"
            if not self.files.exists(key):
                self.files.put(key, self.sealer.seal_bytes(caller.user_id, attachment.data), "application/octet-stream")
            file = {"key": key, "content_type": kind.content_type, "size": len(attachment.data),
                    "name": self.sealer.seal(caller.user_id, attachment.filename[:200])}
        chat = self.chat_of(session_id) or Chat.open(session_id)
        message_id = uuid.uuid4()
        chat.post(message_id, caller.user_id, self.sealer.seal(caller.user_id, text) if text else None, file,
                  self.now())
        self.save(chat)
        return chat.message(message_id)

    def messages(self, session_id: UUID, caller: Caller) -> tuple[Chat | None, str]:
        _, role = self.session_for(session_id, caller)
        return self.chat_of(session_id), role

    def file(self, session_id: UUID, message_id: UUID, caller: Caller) -> tuple[dict[str, Any], bytes]:
        chat, role = self.messages(session_id, caller)
        if chat is None:
            raise NotFound("no such message")
        m = chat.message(message_id)
        if m["file"] is None or (m["status"] == "hidden" and role != "staff"):
            raise NotFound("no file in this message")
        try:
            data = self.sealer.open_bytes(m["writer"], self.files.get(m["file"]["key"]))
        except BlobNotFound:
            data = None
        if data is None:  # its writer was erased: the file went with them
            raise NotFound("this file is no longer available")
        return m["file"], data

    @retry_on_conflict()
    def report(self, session_id: UUID, message_id: UUID, caller: Caller, reason_code: str) -> dict[str, Any]:
        chat, _ = self.messages(session_id, caller)
        if chat is None:
            raise NotFound("no such message")
        if chat.message(message_id)["writer"] == caller.user_id:
            raise Conflict("you cannot report your own message")
        chat.report(message_id, caller.user_id, reason_code, self.now())
        self.save(chat)
        return chat.message(message_id)

    @retry_on_conflict()
    def review(self, session_id: UUID, message_id: UUID, staff: Caller, action: str) -> dict[str, Any]:
        chat = self.chat_of(session_id)
        if chat is None:
            raise NotFound("no such message")
        chat.review(message_id, staff.user_id, action, self.now())
        self.save(chat)
        return chat.message(message_id)

    # -- learning plans and progress -------------------------------------------------------

    def _plan(self, tutor: UUID, student: UUID) -> LearningPlan:
        return self.find(LearningPlan, LearningPlan.create_id(tutor, student)) or LearningPlan.start(tutor, student)

    def plan_of(self, tutor: UUID, student: UUID, caller: Caller) -> LearningPlan:
        plan = self._plan(tutor, student)
        plan.party(caller.user_id, caller.staff)
        return plan

    @retry_on_conflict()
    def add_goal(self, tutor: UUID, student: UUID, caller: Caller, text: str) -> LearningPlan:
        plan = self._plan(tutor, student)
        plan.add(uuid.uuid4(), caller.user_id, self.sealer.seal(caller.user_id, text), self.now())
        self.save(plan)
        return plan

    @retry_on_conflict()
    def set_goal_status(self, tutor: UUID, student: UUID, goal_id: UUID, caller: Caller, status: str) -> LearningPlan:
        plan = self.find(LearningPlan, LearningPlan.create_id(tutor, student))
        if plan is None:
            raise NotFound("no such learning plan")
        if plan.party(caller.user_id) not in ("tutor", "student"):
            raise Forbidden("the tutor and the student set their goals")
        plan.set_status(goal_id, status, caller.user_id, self.now())
        self.save(plan)
        return plan

    def progress(self, student: UUID, sessions: list[Session]) -> dict[str, Any]:
        """A student's progress over ``sessions`` (theirs, in a period): each session's outcome
        and both sides' assessments, totals, and the goals of their plans with its tutors."""
        rows, plans = [], {}
        totals = {"sessions": 0, "completed": 0, "no_shows": 0, "minutes_taught": 0}
        helpfulness: dict[str, int] = {}
        confidence = []
        for s in sessions:
            seat = s.seats.get(str(student))
            if seat is None:
                continue
            outcome = seat["outcome"] or {}
            totals["sessions"] += 1
            totals["completed"] += seat["status"] == "completed"
            totals["no_shows"] += seat["status"] == "no_show"
            totals["minutes_taught"] += outcome.get("minutes_taught") or 0
            tutor_a = s.assessments.get(f"{s.tutor_id}:{student}")
            student_a = s.assessments.get(f"{student}:{student}")
            if student_a:
                helpfulness[student_a["helpfulness"]] = helpfulness.get(student_a["helpfulness"], 0) + 1
                confidence.append(student_a["confidence"])
            rows.append({
                "session_id": s.id, "tutor_id": s.tutor_id, "starts_at": s.starts_at, "status": seat["status"],
                "absent": outcome.get("absent"), "minutes_taught": outcome.get("minutes_taught"),
                "objectives": [self.opened(s.planner, o) for o in s.objectives],
                "tutor_assessment": None if tutor_a is None else {
                    "progress": tutor_a["progress"],
                    "goals_covered": [self.opened(s.tutor_id, g) for g in tutor_a["goals_covered"]],
                    "next_steps": self.opened(s.tutor_id, tutor_a["next_steps"])},
                "student_assessment": None if student_a is None else {
                    "helpfulness": student_a["helpfulness"], "confidence": student_a["confidence"]}})
            if s.tutor_id not in plans:
                plan = self.find(LearningPlan, LearningPlan.create_id(s.tutor_id, student))
                if plan is not None:
                    plans[s.tutor_id] = plan
        return {"student_id": student, "totals": totals, "sessions": rows,
                "helpfulness": helpfulness,
                "average_confidence": round(sum(confidence) / len(confidence), 2) if confidence else None,
                "goals": [self.goal_document(p, g) for p in plans.values() for g in p.goals.values()]}

    def goal_document(self, plan: LearningPlan, g: dict[str, Any]) -> dict[str, Any]:
        return {"goal_id": g["goal_id"], "tutor_id": plan.tutor_id, "text": self.opened(g["writer"], g["text"]),
                "status": g["status"], "added_at": g["added_at"],
                "level": g["progress"][-1]["level"] if g["progress"] else None, "progress": g["progress"]}

    # -- transcripts, summaries, questions --------------------------------------------------

    @retry_on_conflict()
    def attach_transcript(self, session_id: UUID, caller: Caller, text: str) -> Session:
        session, role = self.session_for(session_id, caller)
        if role not in ("tutor", "student"):
            raise Forbidden("the tutor and the booked students attach a transcript")
        session.attach_transcript(caller.user_id, self.sealer.seal(caller.user_id, text), self.now())
        self.save(session)
        return session

    def summarise(self, session_id: UUID, caller: Caller) -> dict[str, Any]:
        session, _ = self.session_for(session_id, caller)
        if session.transcript is None:
            raise Conflict("attach a transcript first")
        writer = session.transcript["by"]
        text = self.opened(writer, session.transcript["text"])
        if text is None:
            raise Conflict("the transcript is no longer readable (its writer's data was erased)")
        summary = self.assistant.summarise(text)  # outside any transaction: a model may take seconds
        self._keep_summary(session_id, writer, summary)
        return {"summary": summary, "method": self.assistant.method}

    @retry_on_conflict()
    def _keep_summary(self, session_id: UUID, writer: UUID, summary: str) -> None:
        session = self.load(Session, session_id, "session")
        session.summarised(writer, self.sealer.seal(writer, summary), self.assistant.method, self.now())
        self.save(session)

    def ask(self, session_id: UUID, caller: Caller, question: str) -> dict[str, Any]:
        session, role = self.session_for(session_id, caller)
        if role not in ("tutor", "student"):
            raise Forbidden("the session's participants ask for help")
        objectives = [o for o in (self.opened(session.planner, x) for x in session.objectives) if o]
        topic = "; ".join(objectives) or "the subject of their tutoring session"
        return {"answer": self.assistant.answer(topic, question), "method": self.assistant.method}
