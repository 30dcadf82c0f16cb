"""Identity's gateway in-process (FastAPI TestClient) on a real PostgreSQL: authorisation
on every route, problem+json errors, idempotency, key rotation, suspension, erasure."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from identity.main import build
from identity.settings import IdentitySettings

ADMIN = ("admin@alphapeer.test", "admin-password-123")
PASSWORD = "a-long-password-1"
PDF = b"%PDF-1.4\n% transcript\n%%EOF\n"


@pytest.fixture
def client(postgres_url: str, pg_schema: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = IdentitySettings(
        database_url=postgres_url, database_schema=pg_schema, data_dir=tmp_path,
        relay_enabled=False, identity_bootstrap_admin_email=ADMIN[0],
        identity_bootstrap_admin_password=ADMIN[1], kafka_bootstrap_servers="127.0.0.1:1",
    )
    with TestClient(build(settings)) as c:
        c.mail_dir = tmp_path / "mail"  # type: ignore[attr-defined]
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register(c: TestClient, email: str, name: str = "Someone") -> str:
    r = c.post("/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": name})
    assert r.status_code == 201, r.text
    return str(r.json()["user_id"])


def login(c: TestClient, email: str, password: str = PASSWORD) -> str:
    r = c.post("/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def token_from_mail(c: TestClient, email: str) -> str:
    for path in sorted(c.mail_dir.glob("*.eml"), reverse=True):  # type: ignore[attr-defined]
        text = path.read_text()
        if f"To: {email}" in text:
            return next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith("token="))
    raise AssertionError("no mail")


@pytest.fixture
def people(client: TestClient) -> dict[str, Any]:
    alice = register(client, "alice@uni.example", "Alice")
    bob = register(client, "bob@uni.example", "Bob")
    return {
        "alice": alice, "bob": bob,
        "alice_token": login(client, "alice@uni.example"),
        "bob_token": login(client, "bob@uni.example"),
        "admin_token": login(client, *ADMIN),
    }


PUBLIC = {
    ("POST", "/v1/auth/register"), ("POST", "/v1/auth/verify-email"), ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"), ("POST", "/v1/auth/logout"), ("GET", "/.well-known/jwks.json"),
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/openapi.json"), ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc"),
    ("POST", "/v1/auth/password-reset"), ("POST", "/v1/auth/password-reset/confirm"),
    # Public, authenticated by the provider's signature (tests/test_background_checks.py).
    ("POST", "/v1/background-checks/{provider}/webhooks"),
}


def test_every_non_public_route_refuses_an_anonymous_caller(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    routes = [(m.upper(), path) for path, ops in paths.items() for m in ops]
    assert len(routes) > 20
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        url = path.replace("{user_id}", str(uuid.uuid4())).replace("{application_id}", str(uuid.uuid4()))
        url = url.replace("{role}", "tutor").replace("{document_id}", str(uuid.uuid4()))
        r = client.request(method, url)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.headers["content-type"].startswith("application/problem+json")


def test_a_forged_or_expired_token_is_refused(client: TestClient) -> None:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    forged = jwt.encode({"sub": str(uuid.uuid4()), "roles": ["admin"], "iat": 0, "exp": 9999999999,
                         "iss": "alphapeer-identity", "aud": "alphapeer"},
                        rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256",
                        headers={"kid": client.get("/.well-known/jwks.json").json()["keys"][0]["kid"]})
    r = client.get("/v1/users/me", headers=bearer(forged))
    assert r.status_code == 401 and r.json()["title"] == "Invalid token"


STAFF_ONLY = [
    ("POST", "/v1/users/{other}/roles", {"role": "creator"}),
    ("DELETE", "/v1/users/{other}/roles/student", None),
    ("POST", "/v1/users/{other}/suspension", {"reason_code": "conduct", "note": "x"}),
    ("DELETE", "/v1/users/{other}/suspension", None),
    ("PUT", "/v1/users/{other}/background-check", {"status": "clear"}),
    ("POST", "/v1/users/{other}/background-check/requests", None),
    ("POST", "/v1/tutor-applications/{app}/approve", {}),
    ("POST", "/v1/tutor-applications/{app}/reject", {"reason": "no"}),
    ("POST", "/v1/admin/signing-keys/rotate", None),
    ("GET", "/v1/tutor-applications", None),
]


def test_staff_routes_refuse_a_student(client: TestClient, people: dict[str, Any]) -> None:
    app_id = apply(client, people["bob_token"])
    for method, path, body in STAFF_ONLY:
        url = path.format(other=people["bob"], app=app_id)
        r = client.request(method, url, json=body, headers=bearer(people["alice_token"]))
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["status"] == 403


def test_private_data_of_another_user_is_refused(client: TestClient, people: dict[str, Any]) -> None:
    alice, bob = people["alice_token"], people["bob"]
    assert client.get(f"/v1/users/{bob}", headers=bearer(alice)).status_code == 403
    assert client.patch(f"/v1/users/{bob}/private-profile", json={"phone": "+44 20 7946 0000"},
                        headers=bearer(alice)).status_code == 403
    assert client.patch(f"/v1/users/{bob}/profile", json={"headline": "hacked"},
                        headers=bearer(alice)).status_code == 403
    assert client.post(f"/v1/users/{bob}/erasure", headers=bearer(alice)).status_code == 403
    app_id = apply(client, people["bob_token"])
    assert client.get(f"/v1/tutor-applications/{app_id}", headers=bearer(alice)).status_code == 403
    # The public profile is visible, and shows nothing private.
    public = client.get(f"/v1/users/{bob}/profile", headers=bearer(alice)).json()
    assert public["display_name"] == "Bob" and "email" not in public
    # Staff may see it; a staff-only role (staff) cannot be granted by mere staff.
    assert client.get(f"/v1/users/{bob}", headers=bearer(people["admin_token"])).json()["email"] == "bob@uni.example"


def apply(c: TestClient, token: str) -> str:
    r = c.post("/v1/tutor-applications", headers=bearer(token),
               json={"subjects": ["Physics"], "levels": ["advanced"], "qualifications": "BSc"})
    assert r.status_code == 201, r.text
    return str(r.json()["application_id"])


def test_validation_errors_name_the_field_and_store_nothing(client: TestClient) -> None:
    r = client.post("/v1/auth/register", json={"email": "x@uni.example", "password": "short", "display_name": ""})
    assert r.status_code == 422
    body = r.json()
    assert r.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in body["errors"]}
    assert {"password", "display_name"} <= fields
    r = client.post("/v1/auth/register", json={"email": "not-an-email", "password": PASSWORD, "display_name": "A"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "email"
    r = client.post("/v1/auth/register", json={"email": "tz@uni.example", "password": PASSWORD,
                                               "display_name": "A", "time_zone": "Mars/Olympus"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "time_zone"
    # Nothing was stored: the same addresses can still register.
    register(client, "x@uni.example")
    register(client, "tz@uni.example")


def test_duplicate_email_is_a_conflict_on_the_email_field(client: TestClient) -> None:
    register(client, "dup@uni.example")
    r = client.post("/v1/auth/register", json={"email": "DUP@uni.example", "password": PASSWORD,
                                               "display_name": "Again"})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "email"


def test_disguised_and_oversized_uploads_are_refused(client: TestClient, people: dict[str, Any]) -> None:
    t = bearer(people["alice_token"])
    r = client.post("/v1/users/me/documents", headers=t,
                    files={"file": ("cv.pdf", b"#!/bin/sh\nrm -rf /\n", "application/pdf")})
    assert r.status_code == 415 and r.json()["errors"][0]["field"] == "file"
    r = client.post("/v1/users/me/documents", headers=t, files={"file": ("photo.png", PDF, "image/png")})
    assert r.status_code == 415
    big = PDF + b"0" * (10 * 1024 * 1024)
    r = client.post("/v1/users/me/documents", headers=t, files={"file": ("big.pdf", big, "application/pdf")})
    assert r.status_code == 413
    ok = client.post("/v1/users/me/documents", headers=t, files={"file": ("t.pdf", PDF, "application/pdf")})
    assert ok.status_code == 201 and ok.json()["content_type"] == "application/pdf"
    # Another user's document cannot be attached.
    r = client.post("/v1/tutor-applications", headers=bearer(people["bob_token"]),
                    json={"subjects": ["Art"], "levels": ["introductory"],
                          "document_ids": [ok.json()["document_id"]]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "document_ids.0"


def test_idempotency_key_replays_the_first_response_and_refuses_a_different_body(client: TestClient) -> None:
    body = {"email": "idem@uni.example", "password": PASSWORD, "display_name": "Idem"}
    first = client.post("/v1/auth/register", json=body, headers={"Idempotency-Key": "k-1"})
    again = client.post("/v1/auth/register", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers.get("idempotent-replayed") == "true"
    # Anonymous keys are anyone's: with another request the key is simply that request's own
    # (here the address is taken), never an answer meant for someone else.
    other = client.post("/v1/auth/register", json={**body, "display_name": "Other"}, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 409 and other.json()["errors"][0]["field"] == "email"
    assert "idempotent-replayed" not in other.headers


def test_verification_refresh_rotation_and_reuse_detection(client: TestClient) -> None:
    register(client, "eve@uni.example")
    token = token_from_mail(client, "eve@uni.example")
    assert client.post("/v1/auth/verify-email", json={"token": token}).status_code == 200
    assert client.post("/v1/auth/verify-email", json={"token": token}).status_code in (400, 404, 409)
    pair = client.post("/v1/auth/login", json={"email": "eve@uni.example", "password": PASSWORD}).json()
    rotated = client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert rotated.status_code == 200 and rotated.json()["refresh_token"] != pair["refresh_token"]
    # Replaying the old refresh token is theft: refused, and the family is revoked.
    assert client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    assert client.post("/v1/auth/refresh",
                       json={"refresh_token": rotated.json()["refresh_token"]}).status_code == 401


def test_key_rotation_keeps_old_tokens_valid_and_publishes_both_keys(client: TestClient,
                                                                    people: dict[str, Any]) -> None:
    old = people["alice_token"]
    kids_before = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
    rotated = client.post("/v1/admin/signing-keys/rotate", headers=bearer(people["admin_token"]))
    assert rotated.status_code == 200
    kids_after = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
    assert kids_before < kids_after and rotated.json()["kid"] in kids_after
    assert client.get("/v1/users/me", headers=bearer(old)).status_code == 200
    import jwt
    assert jwt.get_unverified_header(login(client, "alice@uni.example"))["kid"] == rotated.json()["kid"]


def test_suspension_blocks_sign_in_and_current_tokens_and_reinstatement_restores(
    client: TestClient, people: dict[str, Any]
) -> None:
    bob, admin = people["bob"], bearer(people["admin_token"])
    refresh = client.post("/v1/auth/login", json={"email": "bob@uni.example", "password": PASSWORD}).json()
    r = client.post(f"/v1/users/{bob}/suspension", headers=admin, json={"reason_code": "conduct", "note": "spam"})
    assert r.status_code == 200, r.text
    # A refresh token issued before the suspension no longer yields tokens.
    again = client.post("/v1/auth/refresh", json={"refresh_token": refresh["refresh_token"]})
    assert again.status_code in (401, 403) and "access_token" not in again.json()
    assert client.get("/v1/users/me", headers=bearer(people["bob_token"])).status_code == 403
    r = client.post("/v1/auth/login", json={"email": "bob@uni.example", "password": PASSWORD})
    assert r.status_code == 403 and r.json()["title"] == "Account suspended"
    assert client.delete(f"/v1/users/{bob}/suspension", headers=admin).status_code == 200
    login(client, "bob@uni.example")


def test_roles_granted_and_revoked_by_staff_with_admin_only_for_staff_role(
    client: TestClient, people: dict[str, Any]
) -> None:
    admin, bob = bearer(people["admin_token"]), people["bob"]
    r = client.post(f"/v1/users/{bob}/roles", headers=admin, json={"role": "staff"})
    assert r.status_code == 200 and "staff" in r.json()["roles"]
    bob_staff = bearer(login(client, "bob@uni.example"))
    # Bob (staff, not admin) may grant creator but not admin.
    alice = people["alice"]
    assert client.post(f"/v1/users/{alice}/roles", headers=bob_staff, json={"role": "creator"}).status_code == 200
    assert client.post(f"/v1/users/{alice}/roles", headers=bob_staff, json={"role": "admin"}).status_code == 403
    assert client.post(f"/v1/users/{alice}/roles", headers=bob_staff, json={"role": "wizard"}).status_code == 422
    r = client.delete(f"/v1/users/{alice}/roles/creator", headers=bob_staff)
    assert r.status_code == 200 and "creator" not in r.json()["roles"]


def test_self_review_is_refused_even_for_staff(client: TestClient, people: dict[str, Any]) -> None:
    app_id = apply(client, people["admin_token"])
    r = client.post(f"/v1/tutor-applications/{app_id}/approve", headers=bearer(people["admin_token"]), json={})
    assert r.status_code == 403


def test_erasure_makes_personal_data_unreadable_and_frees_the_email(client: TestClient,
                                                                    people: dict[str, Any]) -> None:
    alice = people["alice"]
    t = bearer(people["alice_token"])
    client.patch(f"/v1/users/{alice}/private-profile", headers=t, json={"legal_name": "Alice Liddell"})
    assert client.post(f"/v1/users/{alice}/erasure", headers=t).status_code == 200
    view = client.get(f"/v1/users/{alice}", headers=bearer(people["admin_token"])).json()
    assert view["erased"] is True and view["email"] is None
    assert "Alice Liddell" not in str(view)
    assert client.post("/v1/auth/login", json={"email": "alice@uni.example", "password": PASSWORD}).status_code in (
        401, 403)
    register(client, "alice@uni.example", "Alice again")


def test_staff_review_queue_is_oldest_first_with_a_stable_cursor(client: TestClient, people: dict[str, Any]) -> None:
    tokens = [people["alice_token"], people["bob_token"]]
    register(client, "carol@uni.example", "Carol")
    tokens.append(login(client, "carol@uni.example"))
    ids = [apply(client, t) for t in tokens]
    admin = bearer(people["admin_token"])
    page1 = client.get("/v1/tutor-applications?limit=2", headers=admin).json()
    assert [i["application_id"] for i in page1["items"]] == ids[:2]
    assert page1["items"][0]["display_name"] == "Alice" and page1["items"][0]["subjects"] == ["Physics"]
    # A decision meanwhile does not shift the next page.
    client.post(f"/v1/tutor-applications/{ids[0]}/reject", headers=admin, json={"reason": "incomplete"})
    page2 = client.get(f"/v1/tutor-applications?limit=2&cursor={page1['next_cursor']}", headers=admin).json()
    assert [i["application_id"] for i in page2["items"]] == ids[2:] and page2["next_cursor"] is None
    rejected = client.get("/v1/tutor-applications?status=rejected", headers=admin).json()["items"]
    assert [i["application_id"] for i in rejected] == [ids[0]]
    bad = client.get("/v1/tutor-applications?cursor=garbage", headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


def test_background_check_is_started_then_recorded_by_staff(client: TestClient, people: dict[str, Any]) -> None:
    admin, bob = bearer(people["admin_token"]), people["bob"]
    started = client.post(f"/v1/users/{bob}/background-check/requests", headers=admin)
    assert started.status_code == 202 and started.json()["background_check"] == "pending"
    assert client.get(f"/v1/users/{bob}", headers=admin).json()["background_check"] == "pending"
    done = client.put(f"/v1/users/{bob}/background-check", headers=admin, json={"status": "clear"})
    assert done.status_code == 200
    assert client.get(f"/v1/users/{bob}", headers=admin).json()["background_check"] == "clear"
    bad = client.put(f"/v1/users/{bob}/background-check", headers=admin, json={"status": "great"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


def test_the_last_admin_cannot_be_demoted_or_suspended(client: TestClient, people: dict[str, Any]) -> None:
    admin = bearer(people["admin_token"])
    me = client.get("/v1/users/me", headers=admin).json()["user_id"]
    r = client.delete(f"/v1/users/{me}/roles/admin", headers=admin)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "role"
    # Once another admin exists, the first one may step down.
    client.post(f"/v1/users/{people['bob']}/roles", headers=admin, json={"role": "admin"})
    assert client.delete(f"/v1/users/{me}/roles/admin", headers=admin).status_code == 200
