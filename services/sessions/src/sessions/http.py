"""Sessions' HTTP gateway. Every route names who may call it; each parses its schema,
builds the command value, calls the application and shapes the answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile, status
from starlette.concurrency import run_in_threadpool

from servicekit.auth import Principal, current_principal, require_roles
from servicekit.bodies import Timestamp
from servicekit.errors import Forbidden, Invalid, Unauthenticated
from servicekit.gateway import provided
from servicekit.uploads import capped_body
from sessions.adapters.video import BadWebhook
from sessions.adapters.views import Views
from sessions.application import SessionsApplication
from sessions.domain.chat import Chat
from sessions.domain.commands import Attachment, Caller, Material, Plan, StudentAssessment, TutorAssessment
from sessions.domain.learning import LearningPlan
from sessions.domain.session import Session
from sessions.schemas import (
    AnswerOut,
    CheckInCodeOut,
    CheckInIn,
    ConsentIn,
    GoalIn,
    GoalStatusIn,
    JoinOut,
    LearningPlanOut,
    LinkIn,
    MessageIn,
    MessageOut,
    MessagesOut,
    PlanIn,
    ProgressOut,
    QuestionIn,
    RecordingOut,
    ReportIn,
    ReportsOut,
    ReviewIn,
    SessionOut,
    SessionsOut,
    StudentAssessmentIn,
    SummaryOut,
    TranscriptIn,
    TutorAssessmentIn,
    WebhookOut,
)

AnyUser = Annotated[Principal, Depends(current_principal)]
Staff = Annotated[Principal, Depends(require_roles("staff", "admin"))]


App = Annotated[SessionsApplication, Depends(provided("sessions"))]
Read = Annotated[Views, Depends(provided("views"))]
sessions = APIRouter(prefix="/v1/sessions", tags=["sessions"])
chat = APIRouter(prefix="/v1/sessions", tags=["chat"])
moderation = APIRouter(prefix="/v1/chat-reports", tags=["moderation"])
plans = APIRouter(prefix="/v1/learning-plans", tags=["progress"])
progress = APIRouter(prefix="/v1/students", tags=["progress"])
webhooks = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def caller(p: Principal) -> Caller:
    return Caller(p.user_id, p.is_staff)


def document(app: SessionsApplication, s: Session, role: str) -> dict[str, Any]:
    """The session as its participants see it: words opened (None once their writer is erased)."""
    return {
        "session_id": s.id, "status": s.status, "your_role": role, "tutor_id": s.tutor_id, "listing_id": s.listing_id,
        "occurrence": s.occurrence, "mode": s.mode, "kind": s.kind, "group_id": s.group_id,
        "starts_at": s.starts_at, "ends_at": s.ends_at,
        "seats": [{"student_id": k, **v} for k, v in s.seats.items()],
        "objectives": [app.opened(s.planner, o) for o in s.objectives],
        "materials": s.materials,
        "meeting_link": app.opened(s.tutor_id, s.meeting_link), "video": app.video.configured, "room": s.room,
        "presence": s.presence, "consents": s.consents, "confirmed": s.confirmed,
        "recordings": [r for r in s.recordings.values() if r["status"] != "expired" or role == "staff"],
        "transcript": s.transcript is not None,
        "summary": app.opened(s.summary["by"], s.summary["text"]) if s.summary else None,
    }


def message_document(app: SessionsApplication, m: dict[str, Any], role: str) -> dict[str, Any]:
    hidden = m["status"] == "hidden" and role != "staff"
    f = m["file"]
    return {"message_id": m["message_id"], "writer": m["writer"], "at": m["at"], "status": m["status"],
            "text": None if hidden else app.opened(m["writer"], m["text"]),
            "file": None if hidden or f is None else {"name": app.opened(m["writer"], f["name"]),
                                                      "content_type": f["content_type"], "size": f["size"]}}


# -- sessions ---------------------------------------------------------------------------------

@sessions.get("", response_model=SessionsOut, summary="Your sessions in a period (any signed-in user)",
              description="Sessions you tutor, attend or observe starting in [`from`, `to`) (default: from a "
                          "day ago to four weeks ahead), soonest first.")
def my_sessions(principal: AnyUser, app: App, read: Read,
                start: Annotated[Timestamp | None, Query(alias="from")] = None,
                end: Annotated[Timestamp | None, Query(alias="to")] = None,
                limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
    now = app.now()
    read.projection.catch_up()
    found = read.sessions_of(principal.user_id, start or now - timedelta(days=1), end or now + timedelta(weeks=4),
                             limit)
    out = []
    for sid, _ in found:
        s, role = app.session_for(sid, caller(principal))
        out.append(document(app, s, role))
    return {"sessions": out}


@sessions.get("/{session_id}", response_model=SessionOut,
              summary="A session (its participants; staff when a booking of it is disputed)")
def get_session(session_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    s, role = app.session_for(session_id, caller(principal))
    return document(app, s, role)


@sessions.put("/{session_id}/plan", response_model=SessionOut, summary="Set the objectives and materials "
              "(tutor, booked students)", description="Besides the schema: a `file` material names a message of "
              "this session's chat that carries a file (422 `materials.message_id`).")
def set_plan(session_id: UUID, body: PlanIn, principal: AnyUser, app: App) -> dict[str, Any]:
    plan = Plan(tuple(body.objectives), tuple(Material(m.kind, m.title, m.url, m.course_id, m.message_id)
                                               for m in body.materials))
    s = app.plan(session_id, caller(principal), plan)
    return document(app, s, s.participant(principal.user_id))


@sessions.put("/{session_id}/meeting-link", response_model=SessionOut,
              summary="Share the meeting link of an online session without video rooms (tutor)")
def set_link(session_id: UUID, body: LinkIn, principal: AnyUser, app: App) -> dict[str, Any]:
    return document(app, app.set_link(session_id, caller(principal), body.meeting_link), "tutor")


@sessions.post("/{session_id}/join", response_model=JoinOut, summary="Join an online session (participants)",
               description="With video rooms: a short-lived LiveKit token for this session's room, with the "
                           "grants of your role (tutor: camera, microphone, screen, recording; student: camera "
                           "and microphone; observer: muted). Without: the tutor's meeting link. Opens "
                           "`ALPHAPEER_SESSIONS_EARLY_MINUTES` before the start, closes at the end (409).")
def join(session_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return app.join(session_id, caller(principal))


@sessions.get("/{session_id}/check-in-code", response_model=CheckInCodeOut,
              summary="The code (and QR payload) students enter to check in to an in-person session (tutor)")
def check_in_code(session_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return vars(app.check_in_code(session_id, caller(principal)))


@sessions.post("/{session_id}/check-in", response_model=SessionOut, summary="Check in to an in-person session "
               "(tutor: no code; student: the tutor's code)",
               description="Open from shortly before the start to the end (409 outside). A wrong code is a 422 "
                           "`code`; after five wrong codes a student is checked in by staff only (409). A student "
                           "whose tutor has not checked in yet may check in without a code, as waiting: if the "
                           "tutor never comes, that is the tutor's no-show.")
def check_in(session_id: UUID, body: CheckInIn, principal: AnyUser, app: App) -> dict[str, Any]:
    s = app.check_in(session_id, caller(principal), body.code)
    return document(app, s, s.participant(principal.user_id))


@sessions.put("/{session_id}/consent", response_model=SessionOut,
              summary="Consent to recording, or revoke it, before the start (tutor, booked students)")
def consent(session_id: UUID, body: ConsentIn, principal: AnyUser, app: App) -> dict[str, Any]:
    s = app.consent(session_id, caller(principal), body.consent)
    return document(app, s, s.participant(principal.user_id))


@sessions.post("/{session_id}/recordings", status_code=status.HTTP_201_CREATED, response_model=RecordingOut,
               summary="Start recording (tutor; everyone consented before the start)")
def start_recording(session_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return app.start_recording(session_id, caller(principal))


@sessions.post("/{session_id}/recordings/stop", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Stop recording (tutor)")
def stop_recording(session_id: UUID, principal: AnyUser, app: App) -> Response:
    app.stop_recording(session_id, caller(principal))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@sessions.get("/{session_id}/recordings", response_model=list[RecordingOut],
              summary="Recordings not yet expired (participants; staff when disputed)")
def recordings(session_id: UUID, principal: AnyUser, app: App) -> list[dict[str, Any]]:
    return app.recordings(session_id, caller(principal))


@sessions.post("/{session_id}/confirm", response_model=SessionOut,
               summary="Confirm the session took place (tutor, booked students; after the start)",
               description="When the tutor and a student have both confirmed, that student's seat completes.")
def confirm(session_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    s = app.confirm(session_id, caller(principal))
    return document(app, s, s.participant(principal.user_id))


@sessions.post("/{session_id}/assessments/tutor", response_model=SessionOut,
               summary="The tutor's assessment of a student's completed seat (tutor)",
               description="Besides the schema: one progress score per objective of the plan (422 `progress`); "
                           "`goals` name active goals of the student's learning plan with you (422 `goals`, "
                           "`goal_id`); once per student (409).")
def assess_as_tutor(session_id: UUID, body: TutorAssessmentIn, principal: AnyUser, app: App) -> dict[str, Any]:
    a = TutorAssessment(body.student_id, tuple(body.progress), tuple(body.goals_covered), body.next_steps,
                        tuple((g.goal_id, g.level) for g in body.goals))
    return document(app, app.assess(session_id, caller(principal), a), "tutor")


@sessions.post("/{session_id}/assessments/student", response_model=SessionOut,
               summary="A student's assessment of their completed session (booked student; once)")
def assess_as_student(session_id: UUID, body: StudentAssessmentIn, principal: AnyUser, app: App) -> dict[str, Any]:
    a = StudentAssessment(body.helpfulness, body.confidence)
    return document(app, app.assess(session_id, caller(principal), a), "student")


@sessions.post("/{session_id}/observers", response_model=SessionOut,
               summary="Join a session as an observer: muted, recorded in its history (staff)")
def observe(session_id: UUID, principal: Staff, app: App) -> dict[str, Any]:
    return document(app, app.invite(session_id, caller(principal)), "observer")


@sessions.put("/{session_id}/transcript", response_model=SessionOut,
              summary="Attach the session's transcript (tutor, booked students)",
              description="From a transcription provider or typed up; it replaces an earlier one (and its summary).")
def transcript(session_id: UUID, body: TranscriptIn, principal: AnyUser, app: App) -> dict[str, Any]:
    s = app.attach_transcript(session_id, caller(principal), body.text)
    return document(app, s, s.participant(principal.user_id))


@sessions.post("/{session_id}/summary", response_model=SummaryOut,
               summary="Summarise the transcript (participants)",
               description="By the configured OpenAI-compatible model (`method: model`), else by extracting the "
                           "transcript's most representative sentences (`method: extractive`). 409 without a "
                           "transcript; 503 with Retry-After when the model is away or busy.")
def summary(session_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return app.summarise(session_id, caller(principal))


@sessions.post("/{session_id}/ask", response_model=AnswerOut, summary="Ask for help on the session's topic "
               "(tutor, booked students)",
               description="The session's objectives and the question go to the configured model. Without one: "
                           "409, saying that no assistant is configured here.")
def ask(session_id: UUID, body: QuestionIn, principal: AnyUser, app: App) -> dict[str, Any]:
    return app.ask(session_id, caller(principal), body.question)


# -- learning plans and progress --------------------------------------------------------------

def plan_document(app: SessionsApplication, plan: LearningPlan) -> dict[str, Any]:
    return {"tutor_id": plan.tutor_id, "student_id": plan.student_id,
            "goals": [app.goal_document(plan, g) for g in plan.goals.values()]}


@plans.get("/{tutor_id}/{student_id}", response_model=LearningPlanOut,
           summary="The goals a student works on with a tutor (the two of them; staff)")
def get_plan(tutor_id: UUID, student_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    return plan_document(app, app.plan_of(tutor_id, student_id, caller(principal)))


@plans.post("/{tutor_id}/{student_id}/goals", status_code=status.HTTP_201_CREATED, response_model=LearningPlanOut,
            summary="Add a goal (the tutor or the student)")
def add_goal(tutor_id: UUID, student_id: UUID, body: GoalIn, principal: AnyUser, app: App) -> dict[str, Any]:
    return plan_document(app, app.add_goal(tutor_id, student_id, caller(principal), body.text))


@plans.put("/{tutor_id}/{student_id}/goals/{goal_id}/status", response_model=LearningPlanOut,
           summary="Mark a goal achieved, dropped or active again (the tutor or the student)")
def goal_status(tutor_id: UUID, student_id: UUID, goal_id: UUID, body: GoalStatusIn, principal: AnyUser,
                app: App) -> dict[str, Any]:
    return plan_document(app, app.set_goal_status(tutor_id, student_id, goal_id, caller(principal), body.status))


@progress.get("/{student_id}/progress", response_model=ProgressOut,
              summary="A student's progress over a period (the student; staff)",
              description="Sessions starting in [`from`, `to`) (default: the last 90 days): each outcome, the "
                          "tutor's and the student's assessments, totals, and the goals of the student's learning "
                          "plans. Besides the schema: `to` after `from`, at most 400 days (422). Funders see it "
                          "once sponsorship (with the student's consent) exists.")
def student_progress(student_id: UUID, principal: AnyUser, app: App, read: Read,
                     start: Annotated[Timestamp | None, Query(alias="from")] = None,
                     end: Annotated[Timestamp | None, Query(alias="to")] = None) -> dict[str, Any]:
    if principal.user_id != student_id and not principal.is_staff:
        raise Forbidden("this belongs to another user")
    end = end or app.now()
    start = start or end - timedelta(days=90)
    if end <= start:
        raise Invalid("query.to", "must be after from")
    if end - start > timedelta(days=400):
        raise Invalid("query.to", "ask for at most 400 days at a time")
    read.projection.catch_up()
    found = app.find_many([sid for sid, role in read.sessions_of(student_id, start, end, 1000) if role == "student"])
    sessions_ = sorted((s for s in found.values() if isinstance(s, Session)), key=lambda s: s.starts_at)
    return {"start": start, "end": end, **app.progress(student_id, sessions_)}


# -- chat -------------------------------------------------------------------------------------

@chat.get("/{session_id}/messages", response_model=MessagesOut, summary="The session's chat (participants)")
def messages(session_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    c, role = app.messages(session_id, caller(principal))
    items = sorted(c.messages.values(), key=lambda m: m["at"]) if isinstance(c, Chat) else []
    return {"messages": [message_document(app, m, role) for m in items]}


@chat.post("/{session_id}/messages", status_code=status.HTTP_201_CREATED, response_model=MessageOut,
           summary="Write in the session's chat (participants)",
           description="At most `ALPHAPEER_SESSIONS_CHAT_MAX_CHARS` characters (422 `text`).")
def post_message(session_id: UUID, body: MessageIn, principal: AnyUser, app: App) -> dict[str, Any]:
    return message_document(app, app.post(session_id, caller(principal), body.text, None), "participant")


@chat.post("/{session_id}/files", status_code=status.HTTP_201_CREATED, response_model=MessageOut,
           summary="Pass a file in the session's chat: a PDF, an image or audio (participants)",
           description="Recognised by its bytes, not its name; at most `ALPHAPEER_SESSIONS_FILE_MAX_BYTES` (413).")
def post_file(session_id: UUID, principal: AnyUser, app: App, file: UploadFile = File(...)) -> dict[str, Any]:
    data = file.file.read(app.limits.file_max_bytes + 1)
    attachment = Attachment(file.filename or "file", data, file.content_type)
    return message_document(app, app.post(session_id, caller(principal), None, attachment), "participant")


@chat.get("/{session_id}/messages/{message_id}/file", response_class=Response,
          responses={200: {"content": {"application/octet-stream": {}}, "description": "The file's bytes"}},
          summary="A file passed in the session's chat (participants)")
def get_file(session_id: UUID, message_id: UUID, principal: AnyUser, app: App) -> Response:
    meta, data = app.file(session_id, message_id, caller(principal))
    return Response(data, media_type=meta["content_type"],
                    headers={"Content-Disposition": "attachment", "X-Content-Type-Options": "nosniff"})


@chat.post("/{session_id}/messages/{message_id}/report", response_model=MessageOut,
           summary="Report a message to staff (participants; not your own)")
def report(session_id: UUID, message_id: UUID, body: ReportIn, principal: AnyUser, app: App) -> dict[str, Any]:
    return message_document(app, app.report(session_id, message_id, caller(principal), body.reason_code), "participant")


@chat.post("/{session_id}/messages/{message_id}/review", response_model=MessageOut,
           summary="Hide a reported message, or keep it (staff)")
def review(session_id: UUID, message_id: UUID, body: ReviewIn, principal: Staff, app: App) -> dict[str, Any]:
    return message_document(app, app.review(session_id, message_id, caller(principal), body.action), "staff")


@moderation.get("", response_model=ReportsOut, summary="Reported chat messages, oldest first (staff)")
def reports(_: Staff, app: App, read: Read,
            state: Annotated[str, Query(alias="status", pattern="^(open|hidden|kept)$")] = "open",
            limit: Annotated[int, Query(ge=1, le=200)] = 50) -> dict[str, Any]:
    read.projection.catch_up()
    out = []
    for r in read.reports(state, limit):
        c = app.chat_of(r["session_id"])
        m = c.messages.get(str(r["message_id"])) if c else None
        out.append({**r, "writer": m["writer"] if m else None,
                    "text": app.opened(m["writer"], m["text"]) if m else None})
    return {"reports": out}


# -- LiveKit's webhooks -----------------------------------------------------------------------

#: LiveKit's webhooks are small JSON; anything larger is refused unread.
WEBHOOK_MAX_BYTES = 256 * 1024


@webhooks.post("/livekit", response_model=WebhookOut, summary="LiveKit's webhooks (public: LiveKit signs them)",
               responses={401: {"description": "Not signed by our LiveKit, or changed since"},
                          413: {"description": "The body is too large"}},
               description="Verified as LiveKit signs them: `Authorization` is a JWT signed with the API secret "
                           "whose `sha256` claim is the body's digest (401 otherwise). A replayed webhook "
                           "changes nothing.")
async def livekit_webhook(request: Request, app: App) -> dict[str, Any]:
    body = (await capped_body(request, WEBHOOK_MAX_BYTES)).decode("utf-8", errors="replace")
    auth = request.headers.get("authorization", "")
    try:
        handled = await run_in_threadpool(app.webhook, body, auth)
    except BadWebhook as exc:
        raise Unauthenticated(f"not a webhook from our LiveKit: {exc}") from exc
    return {"handled": handled}


ROUTERS = [sessions, chat, plans, progress, moderation, webhooks]
