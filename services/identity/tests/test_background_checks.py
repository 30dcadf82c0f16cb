"""The Checkr adapter, for real, against a small Checkr of our own: an HTTP server on a
loopback port that speaks Checkr's API as its documentation shows it (basic auth with the
API key as the user name; ``POST /v1/candidates``, ``POST /v1/invitations``; errors as
``{"error": ...}``) and signs its webhooks as Checkr does (``X-Checkr-Signature``: the
HMAC-SHA256 hex digest of the raw body under the API key). Identity runs in-process on
PostgreSQL with ``ALPHAPEER_IDENTITY_BACKGROUND_CHECK_PROVIDER=checkr``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from identity_gateway import Identity, bearer

from identity.domain.user import User

API_KEY = "test_checkr_key_83a1c"
PACKAGE = "tasker_standard"


@dataclass
class FakeCheckr:
    """Checkr's API as far as identity uses it, keeping what it was sent."""

    url: str = ""
    candidates: dict[str, dict[str, Any]] = field(default_factory=dict)
    invitations: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (path, auth user, body)
    #: The next answers' status and body instead of the real one (a Checkr that is down or refuses).
    fail_with: tuple[int, dict[str, Any]] | None = None

    def answer(self, path: str, auth_user: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.requests.append((path, auth_user, body))
        if self.fail_with is not None:
            return self.fail_with
        if auth_user != API_KEY:
            return 401, {"error": "Bad authentication error"}
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        if path == "/v1/candidates":
            if "@" not in str(body.get("email", "")):
                return 400, {"error": "Email is invalid"}
            cid = secrets.token_hex(12)
            self.candidates[cid] = {"id": cid, "object": "candidate", "uri": f"/v1/candidates/{cid}",
                                    "created_at": now, "email": body["email"], "custom_id": body.get("custom_id"),
                                    "report_ids": [], "geo_ids": [], "adjudication": None, "metadata": {}}
            return 201, self.candidates[cid]
        if path == "/v1/invitations":
            if body.get("candidate_id") not in self.candidates:
                return 404, {"error": "Candidate not found"}
            if body.get("package") != PACKAGE:
                return 400, {"error": "Package not found"}
            iid = secrets.token_hex(12)
            self.invitations[iid] = {
                "id": iid, "object": "invitation", "uri": f"/v1/invitations/{iid}", "status": "pending",
                "invitation_url": f"https://apply.checkr.example/invite/{iid}", "created_at": now,
                "expires_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(), "completed_at": None,
                "deleted_at": None, "package": body["package"], "candidate_id": body["candidate_id"],
                "report_id": None, "tags": body.get("tags", []), "work_locations": body.get("work_locations", [])}
            return 201, self.invitations[iid]
        return 404, {"error": "Not found"}

    def event(self, kind: str, obj: dict[str, Any], event_id: str | None = None,
              created: datetime | None = None) -> tuple[bytes, dict[str, str]]:
        """A webhook as Checkr posts it: the body and its headers, signed."""
        body = json.dumps({
            "id": event_id or secrets.token_hex(12), "object": "event", "type": kind,
            "created_at": (created or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
            "webhook_url": "https://identity.uni.example/v1/background-checks/checkr/webhooks",
            "data": {"object": obj}, "account_id": "acct_0a1b2c"}).encode()
        signature = hmac.new(API_KEY.encode(), body, hashlib.sha256).hexdigest()
        return body, {"Content-Type": "application/json", "X-Checkr-Signature": signature,
                      "User-Agent": "Checkr-Webhook/1.0"}

    @staticmethod
    def report(candidate_id: str, status: str = "complete", result: str | None = "clear") -> dict[str, Any]:
        return {"id": secrets.token_hex(12), "object": "report", "uri": "/v1/reports/x", "status": status,
                "result": result, "adjudication": None, "package": PACKAGE, "candidate_id": candidate_id,
                "created_at": "2026-11-24T12:00:00Z", "completed_at": "2026-11-25T09:30:00Z"}


@pytest.fixture
def checkr() -> Iterator[FakeCheckr]:
    fake = FakeCheckr()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            auth = self.headers.get("Authorization", "")
            user = base64.b64decode(auth[6:]).decode().split(":", 1)[0] if auth.startswith("Basic ") else ""
            try:
                body = json.loads(raw) if self.headers.get("Content-Type", "").startswith("application/json") else {}
            except ValueError:
                body = {}
            status, answer = fake.answer(self.path, user, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def idp(identity: Callable[..., Identity], checkr: FakeCheckr) -> Identity:
    return identity(identity_background_check_provider="checkr", identity_checkr_api_key=API_KEY,
                    identity_checkr_api_url=checkr.url, identity_checkr_package=PACKAGE,
                    identity_checkr_work_state="CA", identity_checkr_timeout=5)


WEBHOOK = "/v1/background-checks/checkr/webhooks"


def start(idp: Identity, user: str) -> Any:
    return idp.http.post(f"/v1/users/{user}/background-check/requests", headers=idp.admin())


def status_of(idp: Identity, user: str) -> str:
    return str(idp.http.get(f"/v1/users/{user}", headers=idp.admin()).json()["background_check"])


def updates_of(idp: Identity, user: str) -> list[tuple[str, str]]:
    notes = idp.app.recorder.select_notifications(start=1, limit=10_000)
    events = [idp.app.mapper.to_domain_event(n) for n in notes]
    return [(e.status, e.provider) for e in events
            if isinstance(e, User.BackgroundCheckUpdated) and str(e.originator_id) == user]


def test_starting_a_check_creates_a_candidate_and_an_invitation_at_checkr(idp: Identity, checkr: FakeCheckr) -> None:
    ada = idp.register("ada@uni.example", "Ada")
    r = start(idp, ada)
    assert r.status_code == 202, r.text
    [candidate] = checkr.candidates.values()
    assert r.json() == {"user_id": ada, "background_check": "pending", "provider": "checkr",
                        "reference": candidate["id"]}
    assert candidate["email"] == "ada@uni.example" and candidate["custom_id"] == ada
    [invitation] = checkr.invitations.values()
    assert invitation["candidate_id"] == candidate["id"] and invitation["package"] == PACKAGE
    assert invitation["work_locations"] == [{"country": "US", "state": "CA"}]
    assert [(path, user) for path, user, _ in checkr.requests] == [("/v1/candidates", API_KEY),
                                                                  ("/v1/invitations", API_KEY)]
    assert set(checkr.requests[0][2]) == {"email", "custom_id"}  # nothing more than the hosted flow needs
    assert status_of(idp, ada) == "pending" and updates_of(idp, ada) == [("pending", "checkr")]


def test_a_signed_report_updates_the_check_once_and_forgeries_and_replays_change_nothing(
    idp: Identity, checkr: FakeCheckr
) -> None:
    ada = idp.register("ada@uni.example", "Ada")
    candidate = start(idp, ada).json()["reference"]
    body, headers = checkr.event("report.completed", checkr.report(candidate, result="clear"), event_id="evt_1")

    forged = idp.http.post(WEBHOOK, content=body, headers={**headers, "X-Checkr-Signature": "0" * 64})
    assert forged.status_code == 401 and forged.json()["title"] == "Invalid signature"
    tampered = body.replace(b'"clear"', b'"consider"')
    assert idp.http.post(WEBHOOK, content=tampered, headers=headers).status_code == 401
    unsigned = {k: v for k, v in headers.items() if k != "X-Checkr-Signature"}
    assert idp.http.post(WEBHOOK, content=body, headers=unsigned).status_code == 401
    assert status_of(idp, ada) == "pending"

    applied = idp.http.post(WEBHOOK, content=body, headers=headers)
    assert applied.status_code == 200 and applied.json() == {"result": "applied"}
    assert status_of(idp, ada) == "clear"
    replayed = idp.http.post(WEBHOOK, content=body, headers=headers)
    assert replayed.status_code == 200 and replayed.json() == {"result": "duplicate"}
    assert updates_of(idp, ada) == [("pending", "checkr"), ("clear", "checkr")]

    # A report that was still running, sent earlier but delivered late, does not undo the result.
    late, late_headers = checkr.event("report.created", checkr.report(candidate, "pending", None),
                                      created=datetime.now(UTC) - timedelta(days=1))
    assert idp.http.post(WEBHOOK, content=late, headers=late_headers).json() == {"result": "superseded"}
    assert status_of(idp, ada) == "clear"
    # Events that report no status are acknowledged and ignored.
    other, other_headers = checkr.event("candidate.updated", {"id": candidate, "object": "candidate"})
    assert idp.http.post(WEBHOOK, content=other, headers=other_headers).json() == {"result": "ignored"}


@pytest.mark.parametrize(("kind", "report", "expected"), [
    ("report.completed", {"status": "complete", "result": "consider"}, "consider"),
    ("report.completed", {"status": "clear", "result": None}, "clear"),  # the older shape: status is the result
    ("report.post_adverse_action", {"status": "complete", "result": "consider"}, "failed"),
    ("report.suspended", {"status": "suspended", "result": None}, "pending"),
    ("invitation.expired", {"status": "expired"}, "not_started"),
])
def test_checkrs_events_map_onto_the_platforms_statuses(idp: Identity, checkr: FakeCheckr, kind: str,
                                                        report: dict[str, Any], expected: str) -> None:
    ada = idp.register("ada@uni.example", "Ada")
    candidate = start(idp, ada).json()["reference"]
    body, headers = checkr.event(kind, {**checkr.report(candidate), **report})
    assert idp.http.post(WEBHOOK, content=body, headers=headers).json() == {"result": "applied"}
    assert status_of(idp, ada) == expected


def test_a_report_for_a_candidate_never_ordered_here_is_refused_clearly(idp: Identity, checkr: FakeCheckr) -> None:
    body, headers = checkr.event("report.completed", checkr.report("0f0f0f0f0f0f0f0f0f0f0f0f"))
    r = idp.http.post(WEBHOOK, content=body, headers=headers)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"] == [{"field": "data.object.candidate_id",
                                   "reason": "'0f0f0f0f0f0f0f0f0f0f0f0f' names no background check ordered here"}]
    # Malformed bodies, signed or not, and other providers' paths.
    for bad in (b"not json", b"[1, 2]", json.dumps({"id": "e", "type": "report.completed"}).encode()):
        signed = {"X-Checkr-Signature": hmac.new(API_KEY.encode(), bad, hashlib.sha256).hexdigest()}
        assert idp.http.post(WEBHOOK, content=bad, headers=signed).status_code == 422
    assert idp.http.post("/v1/background-checks/manual/webhooks", content=body, headers=headers).status_code == 404
    huge = b"{" + b" " * (300 * 1024) + b"}"
    assert idp.http.post(WEBHOOK, content=huge, headers=headers).status_code == 413


def test_checkr_away_or_refusing_is_an_answer_not_a_crash(idp: Identity, checkr: FakeCheckr) -> None:
    ada = idp.register("ada@uni.example", "Ada")
    checkr.fail_with = (502, {"error": "Bad gateway"})
    away = start(idp, ada)
    assert away.status_code == 503 and away.headers["retry-after"] == "30"
    checkr.fail_with = (429, {"error": "Too many requests"})
    assert start(idp, ada).status_code == 503
    checkr.fail_with = (400, {"error": "Package not found"})
    refused = start(idp, ada)
    assert refused.status_code == 409 and "Package not found" in refused.json()["detail"]
    checkr.fail_with = None
    assert status_of(idp, ada) == "not_started"  # nothing was recorded for the failed starts
    assert start(idp, ada).status_code == 202


def test_staff_only_start_checks_and_the_manual_provider_takes_no_webhooks(
    identity: Callable[..., Identity], checkr: FakeCheckr
) -> None:
    idp = identity()
    ada = idp.register("ada@uni.example", "Ada")
    student = bearer(idp.login("ada@uni.example"))
    assert idp.http.post(f"/v1/users/{ada}/background-check/requests", headers=student).status_code == 403
    body, headers = checkr.event("report.completed", checkr.report("abc"))
    assert idp.http.post(WEBHOOK, content=body, headers=headers).status_code == 404
