"""The session's chat and files: limits, reports to staff, and erasure of a writer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from alphapeer_contracts import identity as idc
from servicekit.testing import scan_database

Sessions = Any  # conftest.Sessions
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"x" * 64


def test_participants_chat_and_pass_files_within_limits_and_strangers_see_nothing(launch: Any) -> None:
    h: Sessions = launch(sessions_chat_max_chars=30, sessions_file_max_bytes=100)
    b = h.confirmed()
    sid = h.session_id(b)
    student, tutor = h.token(b.student_id), h.token(b.tutor_id, "tutor")
    r = h.client.post(f"/v1/sessions/{sid}/messages", json={"text": "Can we start with 3b?"}, headers=student)
    assert r.status_code == 201 and r.json()["text"] == "Can we start with 3b?"
    long = h.client.post(f"/v1/sessions/{sid}/messages", json={"text": "x" * 31}, headers=student)
    assert long.status_code == 422 and long.json()["errors"][0] == {"field": "text", "reason": "at most 30 characters"}
    sent = h.client.post(f"/v1/sessions/{sid}/files", files={"file": ("notes.pdf", PDF, "application/pdf")},
                         headers=tutor)
    assert sent.status_code == 201 and sent.json()["file"] == {"name": "notes.pdf", "content_type": "application/pdf",
                                                               "size": len(PDF)}
    script = h.client.post(f"/v1/sessions/{sid}/files", files={"file": ("notes.pdf", b"#!/bin/sh\nrm -rf /", "x")},
                           headers=tutor)
    assert script.status_code == 415
    big = h.client.post(f"/v1/sessions/{sid}/files", files={"file": ("p.png", PNG + b"\x00" * 100, "image/png")},
                        headers=tutor)
    assert big.status_code == 413
    got = h.client.get(f"/v1/sessions/{sid}/messages/{sent.json()['message_id']}/file", headers=student)
    assert got.status_code == 200 and got.content == PDF and got.headers["content-type"] == "application/pdf"
    assert [m["text"] for m in h.client.get(f"/v1/sessions/{sid}/messages", headers=tutor).json()["messages"]] == \
        ["Can we start with 3b?", None]
    stranger = h.token(uuid.uuid4())
    assert h.client.get(f"/v1/sessions/{sid}/messages", headers=stranger).status_code == 404
    assert h.client.post(f"/v1/sessions/{sid}/messages", json={"text": "hi"}, headers=stranger).status_code == 404
    # A file shared in the chat can be a material of the plan; a message without one cannot.
    plan = {"objectives": ["Integration by parts"],
            "materials": [{"kind": "file", "title": "Notes", "message_id": sent.json()["message_id"]},
                          {"kind": "link", "title": "Worked examples", "url": "https://example.org/ibp"}]}
    assert h.client.put(f"/v1/sessions/{sid}/plan", json=plan, headers=tutor).status_code == 200
    plan["materials"][0]["message_id"] = r.json()["message_id"]
    wrong = h.client.put(f"/v1/sessions/{sid}/plan", json=plan, headers=tutor)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "materials.message_id"


def test_a_reported_message_reaches_staff_who_hide_it(h: Sessions) -> None:
    b = h.confirmed()
    sid = h.session_id(b)
    rude = h.client.post(f"/v1/sessions/{sid}/messages", json={"text": "something rude"},
                         headers=h.token(b.tutor_id, "tutor")).json()
    mid = rude["message_id"]
    own = h.client.post(f"/v1/sessions/{sid}/messages/{mid}/report", json={"reason_code": "harassment"},
                        headers=h.token(b.tutor_id, "tutor"))
    assert own.status_code == 409
    r = h.client.post(f"/v1/sessions/{sid}/messages/{mid}/report", json={"reason_code": "harassment"},
                      headers=h.token(b.student_id))
    assert r.status_code == 200 and r.json()["status"] == "flagged"
    staff = h.token(uuid.uuid4(), "staff")
    assert h.client.get("/v1/chat-reports", headers=h.token(b.student_id)).status_code == 403
    [report] = h.client.get("/v1/chat-reports", headers=staff).json()["reports"]
    assert (report["message_id"], report["text"], report["reason_codes"]) == (mid, "something rude", ["harassment"])
    assert report["writer"] == str(b.tutor_id) and report["session_id"] == str(sid)
    hidden = h.client.post(f"/v1/sessions/{sid}/messages/{mid}/review", json={"action": "hide"}, headers=staff)
    assert hidden.status_code == 200 and hidden.json()["status"] == "hidden"
    [seen] = h.client.get(f"/v1/sessions/{sid}/messages", headers=h.token(b.student_id)).json()["messages"]
    assert seen["status"] == "hidden" and seen["text"] is None
    assert h.client.get("/v1/chat-reports", headers=staff).json()["reports"] == []


def test_an_erased_writers_words_and_files_are_gone_from_the_chat_the_plan_and_the_store(
        h: Sessions, postgres_url: str) -> None:
    b = h.confirmed()
    sid = h.session_id(b)
    student = h.token(b.student_id)
    h.client.post(f"/v1/sessions/{sid}/messages", json={"text": "my secret essay topic"}, headers=student)
    sent = h.client.post(f"/v1/sessions/{sid}/files", files={"file": ("my-essay.pdf", PDF, "application/pdf")},
                         headers=student).json()
    h.client.put(f"/v1/sessions/{sid}/plan", json={"objectives": ["Fix the thesis of my essay"]}, headers=student)
    assert h.feed(idc.UserErased(user_id=b.student_id, occurred_at=datetime.now(UTC)))
    tutor = h.token(b.tutor_id, "tutor")
    messages = h.client.get(f"/v1/sessions/{sid}/messages", headers=tutor).json()["messages"]
    assert [(m["text"], m["file"] and m["file"]["name"]) for m in messages] == [(None, None), (None, None)]
    assert h.client.get(f"/v1/sessions/{sid}/messages/{sent['message_id']}/file", headers=tutor).status_code == 404
    assert h.get(sid, b.tutor_id, "tutor")["objectives"] == [None]
    assert not list((h.app.files.folder).rglob("*"))  # nothing of theirs left in the store
    # Nor anywhere in the database: the event history holds their words only sealed.
    assert scan_database(postgres_url, ["my secret essay topic", "my-essay.pdf", "Fix the thesis"]) == []


def test_files_in_a_bucket_are_sealed_there_and_unreadable_after_erasure(launch: Any, s3_server: Any) -> None:
    h: Sessions = launch(sessions_files_backend="s3", sessions_s3_endpoint_url=s3_server.endpoint_url,
                         sessions_s3_bucket=s3_server.bucket("sessions-files"),
                         sessions_s3_access_key_id=s3_server.access_key_id,
                         sessions_s3_secret_access_key=s3_server.secret_access_key)
    b = h.confirmed()
    sid = h.session_id(b)
    secret_pdf = PDF + b"my private essay draft"
    sent = h.client.post(f"/v1/sessions/{sid}/files", files={"file": ("draft.pdf", secret_pdf, "application/pdf")},
                         headers=h.token(b.student_id))
    assert sent.status_code == 201, sent.text
    got = h.client.get(f"/v1/sessions/{sid}/messages/{sent.json()['message_id']}/file",
                       headers=h.token(b.tutor_id, "tutor"))
    assert got.status_code == 200 and got.content == secret_pdf
    [obj] = s3_server.admin.list_objects_v2(Bucket="sessions-files", Prefix="sessions-files/")["Contents"]
    stored = s3_server.admin.get_object(Bucket="sessions-files", Key=obj["Key"])["Body"].read()
    assert b"private essay" not in stored  # the bucket holds it sealed
    assert h.feed(idc.UserErased(user_id=b.student_id, occurred_at=datetime.now(UTC)))
    assert h.client.get(f"/v1/sessions/{sid}/messages/{sent.json()['message_id']}/file",
                        headers=h.token(b.tutor_id, "tutor")).status_code == 404
