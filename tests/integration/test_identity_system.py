"""Identity as a real process on PostgreSQL and the real broker protocol."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import pytest

from servicekit import envelope
from servicekit.testing import Broker, ServiceProcess, consume_all, wait_until
from tests.integration.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api, EffectCounter

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n% transcript of records\n1 0 obj <<>> endobj\n%%EOF\n"


def records_of(records: list, ce_type_suffix: str, subject: str | None = None) -> list:
    out = []
    for r in records:
        h = envelope.decode_headers(r.headers)
        if h["ce_type"].endswith(ce_type_suffix) and (subject is None or h["ce_subject"] == subject):
            out.append(r)
    return out


async def test_register_verify_login_apply_and_approval_reaches_kafka_as_a_cloudevent(
    api: Api, kafka: Broker
) -> None:
    ada = api.register("ada@uni.example", "Ada L.")
    api.verify("ada@uni.example")
    ada_token = api.login("ada@uni.example")
    me = api.get("/v1/users/me", ada_token).json()
    assert me["email"] == "ada@uni.example" and me["email_verified"] is True and me["roles"] == ["student"]

    doc = api.post("/v1/users/me/documents", ada_token, files={"file": ("transcript.pdf", PDF, "application/pdf")})
    assert doc.status_code == 201, doc.text
    app = api.post("/v1/tutor-applications", ada_token, json={
        "subjects": ["Algebra I"], "levels": ["introductory"], "qualifications": "A-level maths",
        "statement": "I like teaching", "document_ids": [doc.json()["document_id"]]})
    assert app.status_code == 201, app.text
    app_id = app.json()["application_id"]

    staff_token = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    approved = api.post(f"/v1/tutor-applications/{app_id}/approve", staff_token, json={"note": "checked"},
                        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01",
                                 "X-Correlation-ID": "review-42"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    # The tutor role shows in a fresh token.
    assert "tutor" in api.get("/v1/users/me", api.login("ada@uni.example")).json()["roles"]

    records = await consume_all(kafka.bootstrap, "identity.events", expect=20, timeout=20)
    approvals = records_of(records, "TutorApproved.v1", ada)
    assert len(approvals) == 1
    rec = approvals[0]
    headers = envelope.decode_headers(rec.headers)
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == "alphapeer.identity.TutorApproved.v1"
    assert headers["ce_source"] == "/alphapeer/identity"
    assert headers["ce_subject"] == ada and rec.key == ada.encode()
    assert datetime.fromisoformat(headers["ce_time"]).tzinfo is not None
    # One trace from the HTTP request across the bus, and the caller's correlation id.
    assert headers["traceparent"].split("-")[1] == trace_id and int(headers["ce_sequence"]) > 0
    assert headers["ce_correlationid"] == "review-42"
    body = json.loads(rec.value)
    assert body["user_id"] == ada and body["application_id"] == app_id and body["subjects"] == ["Algebra I"]
    # No personal data on the wire: the email appears in no published event.
    assert all(b"ada@uni.example" not in r.value for r in records)
    # Per-user order: registration before verification before the approval.
    mine = [envelope.decode_headers(r.headers) for r in records if r.key == ada.encode()]
    types = [h["ce_type"].split(".")[2] for h in sorted(mine, key=lambda h: int(h["ce_sequence"]))]
    assert types.index("UserRegistered") < types.index("EmailVerified") < types.index("TutorApproved")


async def test_event_committed_before_a_crash_is_published_once_after_restart(
    identity_proc: ServiceProcess, kafka: Broker, effect_counter: EffectCounter, tmp_path
) -> None:
    # Relay off: the registration commits, nothing is published, then the process dies hard.
    identity_proc.start(ALPHAPEER_RELAY_ENABLED="false")
    api = Api(identity_proc.url, tmp_path / "data" / "mail")
    grace = api.register("grace@uni.example", "Grace H.")
    identity_proc.kill()
    assert not records_of(await consume_all(kafka.bootstrap, "identity.events", expect=1, timeout=2),
                          "UserRegistered.v2", grace)

    identity_proc.start()
    await effect_counter.wait_for("UserRegistered.v2", grace)
    records = await consume_all(kafka.bootstrap, "identity.events", expect=50, timeout=5)
    assert len(records_of(records, "UserRegistered.v2", grace)) == 1
    assert effect_counter.count("UserRegistered.v2", grace) == 1


async def test_crash_after_publish_before_position_record_republishes_but_takes_effect_once(
    identity_proc: ServiceProcess, kafka: Broker, effect_counter: EffectCounter, tmp_path
) -> None:
    identity_proc.start(ALPHAPEER_RELAY_ENABLED="false")
    api = Api(identity_proc.url, tmp_path / "data" / "mail")
    linus = api.register("linus@uni.example", "Linus T.")
    identity_proc.stop()
    # The relay publishes, the broker acks, and the process exits before recording it.
    identity_proc.start(wait=False, ALPHAPEER_RELAY_CRASH_AFTER_PUBLISH="true")
    wait_until(lambda: identity_proc.proc is not None and identity_proc.proc.poll() is not None, timeout=60,
               message="the fault-injected relay to exit")
    assert identity_proc.proc is not None and identity_proc.proc.returncode == 99
    identity_proc.start()
    await effect_counter.wait_for("UserRegistered.v2", linus)
    records = await consume_all(kafka.bootstrap, "identity.events", expect=50, timeout=5)
    on_topic = records_of(records, "UserRegistered.v2", linus)
    assert len(on_topic) == 2  # published twice (at-least-once) …
    assert len({envelope.decode_headers(r.headers)["ce_id"] for r in on_topic}) == 1  # … as the same event
    await asyncio.sleep(1.0)
    assert effect_counter.count("UserRegistered.v2", linus) == 1  # … with one effect


async def test_broker_restarting_empty_gets_the_history_again_and_new_events_still_flow(
    api: Api, identity_proc: ServiceProcess, kafka: Broker, effect_counter: EffectCounter
) -> None:
    before = [api.register(f"user{i}@uni.example", f"User {i}") for i in range(3)]
    for uid in before:
        await effect_counter.wait_for("UserRegistered.v2", uid)

    kafka.restart()  # the embedded broker comes back with nothing
    after = api.register("after@uni.example", "After Restart")

    # The relay republishes the whole history onto the empty broker …
    # admin: registered, verified, two roles; then four registrations
    records = await consume_all(kafka.bootstrap, "identity.events", expect=8, timeout=40)
    for uid in [*before, after]:
        copies = records_of(records, "UserRegistered.v2", uid)
        # The event that revealed the loss may be on the topic twice; always as one event.
        assert copies and len({envelope.decode_headers(r.headers)["ce_id"] for r in copies}) == 1, uid
    # … the new event reaches the subscriber, and nothing took effect twice.
    await effect_counter.wait_for("UserRegistered.v2", after, timeout=60)
    await asyncio.sleep(1.0)
    for _, _, _, n in effect_counter.effects():
        assert n == 1
    assert all(effect_counter.count("UserRegistered.v2", uid) == 1 for uid in [*before, after])


def test_another_gateway_verifies_tokens_through_the_jwks_and_honours_rotation(api: Api) -> None:
    from servicekit.auth import JwksKeySource, TokenVerifier
    from servicekit.problems import Problem

    verifier = TokenVerifier(JwksKeySource(f"{api.base}/.well-known/jwks.json", min_refetch_interval=0),
                             issuer="alphapeer-identity", audience="alphapeer")
    api.register("kim@uni.example", "Kim")
    old = api.login("kim@uni.example")
    assert "student" in verifier.verify(old).roles
    admin = api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    assert api.post("/v1/admin/signing-keys/rotate", admin).status_code == 200
    new = api.login("kim@uni.example")
    # The new key id is unknown to the cache: one refetch, then both tokens verify.
    assert verifier.verify(new).user_id == verifier.verify(old).user_id
    with pytest.raises(Problem) as err:
        verifier.verify(new[:-4] + ("AAAA" if not new.endswith("AAAA") else "BBBB"))
    assert err.value.status == 401
