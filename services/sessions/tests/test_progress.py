"""Assessments, learning plans carried across sessions, a student's progress report, and help
with a session's words: transcripts summarised by a model (a local server speaking OpenAI's
chat-completions format) or by extraction, and questions answered or clearly not."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from alphapeer_contracts import identity as idc
from alphapeer_contracts import sessions as ses
from servicekit.devstack import ThreadedServer

START = datetime(2031, 1, 6, 10, 0, tzinfo=UTC)  # conftest.START
Sessions = Any  # conftest.Sessions

TRANSCRIPT = (
    "Today we looked at integration by parts. The student first tried to integrate x times e to the x. "
    "We chose u equal to x because its derivative is simpler. Then dv is e to the x, so v is e to the x. "
    "The integral becomes x e to the x minus the integral of e to the x. "
    "We talked about the weather for a minute. "
    "Next we practised integration by parts twice in a row on x squared times sine x. "
    "The student should practise three more integration by parts problems before Tuesday. "
    "We also agreed the next session covers substitution.")


def _completed(h: Sessions, starts: datetime = START, **kw: Any) -> Any:
    booking = h.confirmed(mode="in_person", starts=starts, **kw)
    sid = h.session_id(booking)
    h.client.put(f"/v1/sessions/{sid}/plan", json={"objectives": ["Integration by parts", "Substitution"]},
                 headers=h.token(booking.tutor_id, "tutor"))
    h.at(starts + timedelta(minutes=20))
    h.client.post(f"/v1/sessions/{sid}/confirm", headers=h.token(booking.tutor_id, "tutor"))
    h.client.post(f"/v1/sessions/{sid}/confirm", headers=h.token(booking.student_id))
    return booking, sid


def test_assessments_goals_across_sessions_and_the_progress_report(h: Sessions) -> None:
    tutor, student = uuid.uuid4(), uuid.uuid4()
    plan = f"/v1/learning-plans/{tutor}/{student}"
    assert h.client.get(plan, headers=h.token(uuid.uuid4())).status_code == 404
    r = h.client.post(f"{plan}/goals", json={"text": "Pass the calculus midterm"}, headers=h.token(student))
    assert r.status_code == 201
    goal = r.json()["goals"][0]["goal_id"]
    _, sid = _completed(h, tutor=tutor, student=student)
    early = h.client.post(f"/v1/sessions/{sid}/assessments/student", json={"helpfulness": "helped", "confidence": 4},
                          headers=h.token(uuid.uuid4()))
    assert early.status_code == 404
    body = {"student_id": str(student), "progress": [3, 1], "goals_covered": ["Integration by parts"],
            "next_steps": "Three more problems", "goals": [{"goal_id": goal, "level": 2}]}
    wrong = h.client.post(f"/v1/sessions/{sid}/assessments/tutor", json={**body, "progress": [3]},
                          headers=h.token(tutor, "tutor"))
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "progress"
    assert h.client.post(f"/v1/sessions/{sid}/assessments/tutor", json=body,
                         headers=h.token(tutor, "tutor")).status_code == 200
    assert h.client.post(f"/v1/sessions/{sid}/assessments/tutor", json=body,
                         headers=h.token(tutor, "tutor")).status_code == 409
    assert h.client.post(f"/v1/sessions/{sid}/assessments/student", json={"helpfulness": "helped", "confidence": 4},
                         headers=h.token(student)).status_code == 200
    [submitted, *_] = [e for e in h.public_events() if isinstance(e, ses.AssessmentSubmitted)]
    assert (submitted.by, submitted.progress, submitted.objectives_covered) == ("tutor", [3, 1], 2)

    # A second session with the same tutor a week later; the goal moves on.
    h.at(START + timedelta(days=6))
    _, sid2 = _completed(h, tutor=tutor, student=student, starts=START + timedelta(days=7))
    again = h.client.post(f"/v1/sessions/{sid2}/assessments/tutor",
                          json={**body, "goals": [{"goal_id": goal, "level": 4}]}, headers=h.token(tutor, "tutor"))
    assert again.status_code == 200, again.text
    assert h.client.put(f"{plan}/goals/{goal}/status", json={"status": "achieved"},
                        headers=h.token(tutor, "tutor")).status_code == 200
    got = h.client.get(plan, headers=h.token(tutor, "tutor")).json()["goals"][0]
    assert (got["status"], got["level"], [p["level"] for p in got["progress"]]) == ("achieved", 4, [2, 4])

    report = h.client.get(f"/v1/students/{student}/progress", headers=h.token(student),
                          params={"from": (START - timedelta(days=1)).isoformat(),
                                  "to": (START + timedelta(days=10)).isoformat()})
    assert report.status_code == 200, report.text
    rep = report.json()
    assert rep["totals"] == {"sessions": 2, "completed": 2, "no_shows": 0, "minutes_taught": 40}
    assert rep["sessions"][0]["tutor_assessment"]["next_steps"] == "Three more problems"
    assert rep["sessions"][0]["objectives"] == ["Integration by parts", "Substitution"]
    assert rep["helpfulness"] == {"helped": 1} and rep["average_confidence"] == 4.0
    assert [g["text"] for g in rep["goals"]] == ["Pass the calculus midterm"]
    assert h.client.get(f"/v1/students/{student}/progress", headers=h.token(tutor, "tutor")).status_code == 403
    assert h.client.get(f"/v1/students/{student}/progress", headers=h.token(uuid.uuid4(), "staff")).status_code == 200
    bad = h.client.get(f"/v1/students/{student}/progress", headers=h.token(student),
                       params={"from": START.isoformat(), "to": (START - timedelta(days=1)).isoformat()})
    assert bad.status_code == 422
    # The student is erased: their goal's words are gone from the plan.
    h.feed(idc.UserErased(user_id=student, occurred_at=h.clock()))
    assert h.client.get(plan, headers=h.token(tutor, "tutor")).json()["goals"][0]["text"] is None


class Model:
    """A local server speaking OpenAI's chat completions: answers with a canned reply naming
    what it was sent, or fails as told."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail = 0
        self.server = ThreadedServer(Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])]))

    async def chat(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append({"auth": request.headers.get("authorization"), **body})
        if self.fail:
            return JSONResponse({"error": {"message": "overloaded", "type": "server_error"}}, status_code=self.fail)
        user = body["messages"][-1]["content"]
        return JSONResponse({"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
                             "choices": [{"index": 0, "finish_reason": "stop", "message": {
                                 "role": "assistant", "content": f"Reply about: {user[:30]}"}}],
                             "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})


@pytest.fixture
def model() -> Iterator[Model]:
    m = Model()
    m.server.start()
    yield m
    m.server.stop()


def test_without_a_model_summaries_are_extracted_and_asking_says_so(h: Sessions) -> None:
    booking, sid = _completed(h)
    student = h.token(booking.student_id)
    assert h.client.post(f"/v1/sessions/{sid}/summary", headers=student).status_code == 409  # no transcript yet
    assert h.client.put(f"/v1/sessions/{sid}/transcript", json={"text": TRANSCRIPT}, headers=student).status_code == 200
    s = h.client.post(f"/v1/sessions/{sid}/summary", headers=student).json()
    assert s["method"] == "extractive" and "weather" not in s["summary"]
    assert "integration by parts" in s["summary"] and len(s["summary"]) < len(TRANSCRIPT)
    assert h.get(sid, booking.tutor_id, "tutor")["summary"] == s["summary"]
    asked = h.client.post(f"/v1/sessions/{sid}/ask", json={"question": "Why u = x?"}, headers=student)
    assert asked.status_code == 409 and "no assistant is configured" in asked.json()["detail"]


def test_with_a_model_it_summarises_and_answers_and_a_failing_model_is_a_503(launch: Any, model: Model) -> None:
    h = launch(sessions_ai_base_url=f"{model.server.url}/v1", sessions_ai_api_key="sk-test", sessions_ai_model="m-1")
    booking, sid = _completed(h)
    student = h.token(booking.student_id)
    h.client.put(f"/v1/sessions/{sid}/transcript", json={"text": TRANSCRIPT}, headers=student)
    s = h.client.post(f"/v1/sessions/{sid}/summary", headers=student).json()
    assert s == {"summary": "Reply about: Today we looked at integration", "method": "model"}
    answer = h.client.post(f"/v1/sessions/{sid}/ask", json={"question": "Why u = x?"}, headers=student).json()
    assert answer == {"answer": "Reply about: Why u = x?", "method": "model"}
    sent = model.requests[-1]
    assert sent["auth"] == "Bearer sk-test" and sent["model"] == "m-1"
    assert "Integration by parts; Substitution" in sent["messages"][0]["content"]  # the session's topic
    model.fail = 500
    r = h.client.post(f"/v1/sessions/{sid}/ask", json={"question": "And now?"}, headers=student)
    assert r.status_code == 503 and int(r.headers["retry-after"]) > 0
