"""Online sessions on LiveKit: the real ``livekit-api`` client against a local server that speaks
LiveKit's Twirp API, and webhooks signed as LiveKit signs them driving attendance."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from livekit import api

from alphapeer_contracts import booking as bkc
from alphapeer_contracts import sessions as ses

START = datetime(2031, 1, 6, 10, 0, tzinfo=UTC)  # conftest.START
Sessions = Any  # conftest.Sessions


def _claims(v: Sessions, token: str) -> api.Claims:
    return api.TokenVerifier(v.livekit.api_key, v.livekit.api_secret).verify(token)


def test_the_room_is_made_ahead_with_its_limits_and_tokens_carry_the_grants_of_each_role(v: Sessions) -> None:
    booking = v.confirmed()
    sid = v.session_id(booking)
    room = f"session-{sid}"
    v.fire(START - timedelta(minutes=61))
    assert room not in v.livekit.rooms
    v.fire(START - timedelta(minutes=60))
    made = v.livekit.rooms[room]
    assert (made.max_participants, made.empty_timeout) == (4, 600)
    assert v.get(sid, booking.tutor_id, "tutor")["room"] == room

    early = v.client.post(f"/v1/sessions/{sid}/join", headers=v.token(booking.student_id))
    assert early.status_code == 409  # joining opens 15 minutes before the start
    v.at(START - timedelta(minutes=15))
    tutor = v.client.post(f"/v1/sessions/{sid}/join", headers=v.token(booking.tutor_id, "tutor")).json()
    student = v.client.post(f"/v1/sessions/{sid}/join", headers=v.token(booking.student_id)).json()
    assert tutor["provider"] == "livekit" and tutor["url"] == v.livekit.url and tutor["room"] == room
    t, s = _claims(v, tutor["token"]), _claims(v, student["token"])
    assert (t.identity, s.identity) == (str(booking.tutor_id), str(booking.student_id))
    assert t.video.room == s.video.room == room and t.video.room_join and s.video.room_join
    assert "screen_share" in t.video.can_publish_sources and t.video.room_record
    assert s.video.can_publish_sources == ["camera", "microphone"] and not s.video.room_record
    assert not t.video.room_create and not s.video.room_admin  # a join token can do nothing else

    # Another booking's student, and a stranger, get no token.
    other = v.confirmed()
    assert v.client.post(f"/v1/sessions/{sid}/join", headers=v.token(other.student_id)).status_code == 404
    assert v.client.post(f"/v1/sessions/{sid}/join", headers=v.token(uuid.uuid4(), "staff")).status_code == 404
    # Staff who join as observers are muted.
    staff = uuid.uuid4()
    assert v.client.post(f"/v1/sessions/{sid}/observers", headers=v.token(staff, "staff")).status_code == 200
    o = _claims(v, v.client.post(f"/v1/sessions/{sid}/join", headers=v.token(staff, "staff")).json()["token"])
    assert not o.video.can_publish and o.video.can_subscribe


def test_signed_webhooks_drive_attendance_and_forged_or_replayed_ones_change_nothing(v: Sessions) -> None:
    booking = v.confirmed()
    sid = v.session_id(booking)
    room = f"session-{sid}"
    v.fire(START - timedelta(minutes=60))
    lk = v.livekit
    joined = lk.event("participant_joined", room, identity=str(booking.tutor_id), at=START - timedelta(minutes=2))
    assert v.webhook(joined).json() == {"handled": "participant_joined"}
    assert v.webhook(joined).json() == {"handled": "ignored: seen before"}  # replayed
    v.webhook(lk.event("participant_joined", room, identity=str(booking.student_id), at=START + timedelta(minutes=5)))
    v.webhook(lk.event("participant_left", room, identity=str(booking.student_id), at=START + timedelta(minutes=20)))
    v.webhook(lk.event("participant_joined", room, identity=str(booking.student_id), at=START + timedelta(minutes=25)))
    v.webhook(lk.event("participant_joined", room, identity=str(uuid.uuid4()), at=START))  # not a participant

    # Forged: signed with another secret; tampered: the body changed after signing.
    forged_kit = type(lk)(api_key=lk.api_key, api_secret="another-secret-another-secret-xx")
    body, headers = forged_kit.signed(lk.event("participant_left", room, identity=str(booking.tutor_id), at=START))
    r = v.client.post("/v1/webhooks/livekit", content=body.encode(), headers=headers)
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    body, headers = lk.signed(lk.event("participant_left", room, identity=str(booking.tutor_id), at=START))
    tampered = body.replace(str(booking.tutor_id), str(booking.student_id))
    assert v.client.post("/v1/webhooks/livekit", content=tampered.encode(), headers=headers).status_code == 401
    assert v.client.post("/v1/webhooks/livekit", content=b"{}").status_code == 401

    presence = v.get(sid, booking.tutor_id, "tutor")["presence"]
    assert set(presence) == {str(booking.tutor_id), str(booking.student_id)}
    assert len(presence[str(booking.student_id)]) == 2 and presence[str(booking.tutor_id)][0][1] is None
    v.fire(START + timedelta(minutes=60))
    [done] = v.outcomes()
    assert isinstance(done, ses.SessionCompleted) and done.minutes_taught == 50  # 15 + 35 of 60
    assert done.started_at == START + timedelta(minutes=5)


def test_recording_needs_everyones_consent_and_a_recording_expires(v: Sessions) -> None:
    booking = v.confirmed()
    sid = v.session_id(booking)
    tutor, student = v.token(booking.tutor_id, "tutor"), v.token(booking.student_id)
    assert v.client.put(f"/v1/sessions/{sid}/consent", json={"consent": True}, headers=tutor).status_code == 200
    v.at(START)
    refused = v.client.post(f"/v1/sessions/{sid}/recordings", headers=tutor)
    assert refused.status_code == 409 and "consent" in refused.json()["detail"]
    late = v.client.put(f"/v1/sessions/{sid}/consent", json={"consent": True}, headers=student)
    assert late.status_code == 409  # consent is given before the start

    other = v.confirmed()
    osid = v.session_id(other)
    v.at(START - timedelta(hours=1))
    for who in (v.token(other.tutor_id, "tutor"), v.token(other.student_id)):
        assert v.client.put(f"/v1/sessions/{osid}/consent", json={"consent": True}, headers=who).status_code == 200
    v.at(START + timedelta(minutes=1))
    otutor = v.token(other.tutor_id, "tutor")
    assert v.client.post(f"/v1/sessions/{osid}/recordings", headers=v.token(other.student_id)).status_code == 403
    started = v.client.post(f"/v1/sessions/{osid}/recordings", headers=otutor)
    assert started.status_code == 201, started.text
    egress_id = started.json()["egress_id"]
    assert v.livekit.egresses[egress_id].room_name == f"session-{osid}"
    assert v.client.post(f"/v1/sessions/{osid}/recordings/stop", headers=otutor).status_code == 204
    assert v.webhook(v.livekit.finish_egress(egress_id, at=START + timedelta(minutes=50))).status_code == 200
    [rec] = v.client.get(f"/v1/sessions/{osid}/recordings", headers=v.token(other.student_id)).json()
    assert rec["status"] == "available" and rec["location"].endswith(".mp4")
    assert rec["expires_at"].startswith("2031-02-05T10:50")
    assert v.client.get(f"/v1/sessions/{osid}/recordings", headers=v.token(uuid.uuid4(), "staff")).status_code == 404
    v.feed(bkc.DisputeOpened(booking_id=other.booking_id, dispute_id=uuid.uuid4(), occurrence=0, opened_by="student",
                             reason_code="quality", occurred_at=v.clock()))
    assert len(v.client.get(f"/v1/sessions/{osid}/recordings", headers=v.token(uuid.uuid4(), "staff")).json()) == 1
    v.fire(START + timedelta(days=30, minutes=50))
    assert v.client.get(f"/v1/sessions/{osid}/recordings", headers=v.token(other.student_id)).json() == []


def test_without_livekit_an_online_session_carries_the_tutors_meeting_link(h: Sessions) -> None:
    booking = h.confirmed()
    sid = h.session_id(booking)
    h.at(START - timedelta(minutes=10))
    none_yet = h.client.post(f"/v1/sessions/{sid}/join", headers=h.token(booking.student_id))
    assert none_yet.status_code == 409 and "meeting link" in none_yet.json()["detail"]
    bad = h.client.put(f"/v1/sessions/{sid}/meeting-link", json={"meeting_link": "http://insecure.example"},
                       headers=h.token(booking.tutor_id, "tutor"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "meeting_link"
    link = "https://meet.example.org/abc-defg-hij"
    assert h.client.put(f"/v1/sessions/{sid}/meeting-link", json={"meeting_link": link},
                        headers=h.token(booking.student_id)).status_code == 403
    assert h.client.put(f"/v1/sessions/{sid}/meeting-link", json={"meeting_link": link},
                        headers=h.token(booking.tutor_id, "tutor")).status_code == 200
    joined = h.client.post(f"/v1/sessions/{sid}/join", headers=h.token(booking.student_id)).json()
    assert joined == {"provider": "link", "meeting_link": link, "url": None, "token": None, "room": None,
                      "role": None, "expires_at": None}
