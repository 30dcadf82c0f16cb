"""The gateway factory on its own: health, readiness, problem+json, request ids, CORS,
role checks and idempotency, on an app with one route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from servicekit import errors
from servicekit.auth import Principal, require_roles
from servicekit.database import Database
from servicekit.gateway import create_gateway
from servicekit.idempotency import LEASE_SECONDS, request_id_for
from servicekit.problems import Problem
from servicekit.settings import ServiceSettings
from servicekit.testing import close_later


class Item(BaseModel):
    name: str = Field(min_length=1)
    qty: int = Field(ge=1)


class StaticVerifier:
    """Tokens by name; "staff" and "staff-refreshed" are two tokens of one user (as after a
    refresh), "student" another user."""

    def verify(self, token: str) -> Principal:
        import uuid

        if token in ("staff", "staff-refreshed"):
            return Principal(user_id=uuid.UUID(int=1), roles=frozenset({"staff"}))
        if token == "student":
            return Principal(user_id=uuid.UUID(int=2), roles=frozenset({"student"}))
        raise Problem(401, "Invalid token", "unknown")


class NoSuchThing(errors.NotFound):
    pass


class Late(errors.Conflict):
    title = "Too late"


@pytest.fixture
def client(tmp_path: Path, postgres_url: str, pg_schema: str) -> TestClient:
    settings = ServiceSettings(service_name="demo", data_dir=tmp_path, cors_origins="https://app.example",
                               database_url=postgres_url, database_schema=pg_schema)
    db = Database(settings)
    close_later(db)
    calls: list[Any] = []

    async def broker_down() -> None:
        if calls:  # fails once the test asks it to
            raise ConnectionError("broker unreachable")

    app = create_gateway(settings, db, title="demo", description="demo", verifier=StaticVerifier(),  # type: ignore[arg-type]
                         readiness={"broker": broker_down})
    app.state.calls = calls
    app.state.test_db = db

    @app.post("/items", status_code=201)
    def create(item: Item, who: Principal = Depends(require_roles("staff"))) -> dict[str, Any]:
        calls.append(item)
        return {"n": len(calls), "name": item.name}

    @app.post("/orders", status_code=201)
    def order(item: Item, who: Principal = Depends(require_roles("staff"))) -> dict[str, Any]:
        calls.append(item)
        return {"order_id": str(request_id_for("order"))}

    @app.post("/signups")
    def signup(item: Item) -> dict[str, Any]:  # a public route: no token
        calls.append(item)
        return {"n": len(calls), "name": item.name}

    @app.post("/refusals/{kind}")
    def refuse(kind: str, who: Principal = Depends(require_roles("staff"))) -> None:
        raise {"invalid": errors.Invalid("quantity", "must be at least 1"), "missing": NoSuchThing("no such item"),
               "late": Late("the session already started", field="starts_at"),
               "forbidden": errors.Forbidden("only the owner may")}[kind]

    @app.post("/database-away")
    def database_away(who: Principal = Depends(require_roles("staff"))) -> None:
        from psycopg_pool import PoolTimeout

        raise PoolTimeout("couldn't get a connection after 30.00 sec")

    @app.post("/contended")
    def contended(who: Principal = Depends(require_roles("staff"))) -> None:
        from eventsourcing.persistence import IntegrityError

        raise IntegrityError("another writer saved version 7 first")

    return TestClient(app)


def test_health_and_readiness_report_each_check(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "service": "demo"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    client.app.state.calls.append("x")  # type: ignore[attr-defined]
    down = client.get("/readyz")
    assert down.status_code == 503 and "broker unreachable" in down.json()["checks"]["broker"]
    assert down.headers["content-type"].startswith("application/problem+json")


def test_errors_are_problem_json_with_field_and_reason(client: TestClient) -> None:
    r = client.post("/items", json={"name": "", "qty": 0}, headers={"Authorization": "Bearer staff"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in r.json()["errors"]} == {"name", "qty"}
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.json()["title"] == "Not found"


def test_roles_are_checked_and_anonymous_callers_challenged(client: TestClient) -> None:
    anon = client.post("/items", json={"name": "a", "qty": 1})
    assert anon.status_code == 401 and anon.headers["www-authenticate"].startswith("Bearer")
    student = client.post("/items", json={"name": "a", "qty": 1}, headers={"Authorization": "Bearer student"})
    assert student.status_code == 403


def test_request_and_correlation_ids_are_echoed(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "req-1", "X-Correlation-ID": "flow-9"})
    assert r.headers["x-request-id"] == "req-1" and r.headers["x-correlation-id"] == "flow-9"
    assert len(client.get("/healthz").headers["x-request-id"]) == 32


def test_cors_allows_only_configured_origins(client: TestClient) -> None:
    pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "Idempotency-Key"}
    ok = client.options("/items", headers={"Origin": "https://app.example", **pre})
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    bad = client.options("/items", headers={"Origin": "https://evil.example", **pre})
    assert "access-control-allow-origin" not in bad.headers


def test_idempotency_key_runs_the_work_once(client: TestClient) -> None:
    h = {"Authorization": "Bearer staff", "Idempotency-Key": "abc"}
    first = client.post("/items", json={"name": "a", "qty": 1}, headers=h)
    second = client.post("/items", json={"name": "a", "qty": 1}, headers=h)
    assert first.json() == second.json() == {"n": 1, "name": "a"}
    assert len(client.app.state.calls) == 1  # type: ignore[attr-defined]
    # Keys are scoped to the caller: another caller's identical key is a new request.
    other = client.post("/items", json={"name": "a", "qty": 1},
                        headers={"Authorization": "Bearer student", "Idempotency-Key": "abc"})
    assert other.status_code == 403
    too_long = client.post("/items", json={"name": "a", "qty": 1}, headers={**h, "Idempotency-Key": "k" * 300})
    assert too_long.status_code == 400


def test_an_idempotency_key_belongs_to_the_caller_not_to_the_token(client: TestClient) -> None:
    body = {"name": "a", "qty": 1}
    first = client.post("/items", json=body, headers={"Authorization": "Bearer staff", "Idempotency-Key": "k1"})
    # The client refreshed its access token, then retried: the same caller, the same request.
    retry = client.post("/items", json=body,
                        headers={"Authorization": "Bearer staff-refreshed", "Idempotency-Key": "k1"})
    assert retry.json() == first.json() and retry.headers["idempotent-replayed"] == "true"
    assert len(client.app.state.calls) == 1  # type: ignore[attr-defined]
    # A token that does not verify gets no replay of anyone's response: a 401, nothing stored.
    forged = client.post("/items", json=body, headers={"Authorization": "Bearer forged", "Idempotency-Key": "k1"})
    assert forged.status_code == 401 and "idempotent-replayed" not in forged.headers


def test_a_key_left_claimed_by_a_killed_process_is_free_after_its_lease(client: TestClient) -> None:
    """A process killed mid-request never finishes its key: the retry is refused while the
    request might still be running, then runs it, and finds what the first run created by
    the id derived from the key (the same order, not a second one)."""
    h = {"Authorization": "Bearer staff", "Idempotency-Key": "k-dead"}
    body = {"name": "a", "qty": 1}
    first = client.post("/orders", json=body, headers=h)
    assert first.status_code == 201
    again = client.post("/orders", json=body, headers={**h, "Idempotency-Key": "k-other"})
    assert again.json()["order_id"] != first.json()["order_id"]  # another key: another order
    db: Database = client.app.state.test_db  # type: ignore[attr-defined]

    def claimed(seconds_ago: float) -> None:  # as the killed process left it: claimed, no answer
        with db.transaction() as cur:
            cur.execute("UPDATE idempotency_keys SET status = NULL, headers = NULL, body = NULL, "
                        "created_at = extract(epoch FROM now()) - %s WHERE key = 'k-dead'", (seconds_ago,))

    claimed(1)
    running = client.post("/orders", json=body, headers=h)
    assert running.status_code == 409 and running.json()["title"] == "Request in progress"
    assert running.headers["retry-after"] == "1"  # a client retries; the answer, or the lease, comes
    claimed(LEASE_SECONDS + 1)
    retried = client.post("/orders", json=body, headers=h)
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    assert retried.json()["order_id"] == first.json()["order_id"]
    assert len(client.app.state.calls) == 3  # type: ignore[attr-defined]
    # Another request under the claimed key is still refused, lease or not.
    claimed(LEASE_SECONDS + 1)
    other = client.post("/orders", json={"name": "b", "qty": 2}, headers=h)
    assert other.status_code == 409 and other.json()["title"] == "Idempotency-Key reused"


def test_anonymous_keys_are_matched_with_the_request_itself(client: TestClient) -> None:
    """Anyone may pick any key: an anonymous key replays only the very same request, and
    never answers or blocks another anonymous client's different request."""
    key = {"Idempotency-Key": "1"}
    first = client.post("/signups", json={"name": "a", "qty": 1}, headers=key)
    retry = client.post("/signups", json={"name": "a", "qty": 1}, headers=key)
    assert first.json() == retry.json() == {"n": 1, "name": "a"} and retry.headers["idempotent-replayed"] == "true"
    someone_else = client.post("/signups", json={"name": "b", "qty": 1}, headers=key)
    assert someone_else.status_code == 200 and someone_else.json() == {"n": 2, "name": "b"}
    # A protected route without a token is a 401 whatever the key: nothing is stored for it.
    for _ in range(2):
        refused = client.post("/items", json={"name": "a", "qty": 1}, headers=key)
        assert refused.status_code == 401 and "idempotent-replayed" not in refused.headers


@pytest.mark.parametrize(("kind", "status", "title", "field"), [
    ("invalid", 422, "Invalid request", "quantity"), ("missing", 404, "Not found", None),
    ("late", 409, "Too late", "starts_at"), ("forbidden", 403, "Forbidden", None)])
def test_domain_refusals_are_answered_by_their_base_class(client: TestClient, kind: str, status: int, title: str,
                                                          field: str | None) -> None:
    r = client.post(f"/refusals/{kind}", headers={"Authorization": "Bearer staff"})
    assert r.status_code == status and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["title"] == title
    assert [e["field"] for e in r.json().get("errors", [])] == ([field] if field else [])


def test_a_saturated_database_is_a_503_with_retry_after_never_a_500(client: TestClient) -> None:
    r = client.post("/database-away", headers={"Authorization": "Bearer staff"})
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert r.headers["content-type"].startswith("application/problem+json")


def test_a_conflict_that_outlasted_its_retries_is_a_409_to_try_again(client: TestClient) -> None:
    r = client.post("/contended", headers={"Authorization": "Bearer staff"})
    assert r.status_code == 409 and r.headers["retry-after"] == "1"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["title"] == "Changed concurrently"


def test_commands_are_decided_again_after_a_conflict() -> None:
    from eventsourcing.persistence import IntegrityError

    from servicekit.eventstore import retry_on_conflict

    calls: list[int] = []

    @retry_on_conflict(attempts=3)
    def twice_beaten(x: int) -> int:
        calls.append(x)
        if len(calls) < 3:
            raise IntegrityError("version taken")
        return x * 2

    assert twice_beaten(21) == 42 and calls == [21, 21, 21]

    @retry_on_conflict(attempts=2)
    def always_beaten() -> None:
        calls.append(0)
        raise IntegrityError("version taken")

    calls.clear()
    with pytest.raises(IntegrityError):
        always_beaten()
    assert calls == [0, 0]

    @retry_on_conflict()
    def invalid() -> None:
        calls.append(1)
        raise ValueError("not a conflict")

    calls.clear()
    with pytest.raises(ValueError, match="not a conflict"):
        invalid()
    assert calls == [1]  # other errors are not retried


async def test_past_its_places_a_gateway_answers_503_with_retry_after_and_probes_still_pass(
        tmp_path: Path, postgres_url: str, pg_schema: str) -> None:
    """Admission control: two places, four waiting per place for 1 s. Of 14 requests at
    once, 2 are served, 8 wait (and are served as places free up, or time out with a 503),
    the 4 past the queue are answered 503 at once; nothing is a 500, and the probe answers
    while every place is taken."""
    import asyncio

    import httpx

    settings = ServiceSettings(service_name="demo", data_dir=tmp_path, database_url=postgres_url,
                               database_schema=pg_schema, http_max_in_flight=2, http_admission_wait_seconds=1.0)
    db = Database(settings)
    close_later(db)
    app = create_gateway(settings, db, title="demo", description="demo", verifier=StaticVerifier())  # type: ignore[arg-type]
    release = asyncio.Event()

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        await release.wait()
        return {"ok": "yes"}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://demo") as http:
        calls = [asyncio.create_task(http.get("/slow")) for _ in range(14)]
        for _ in range(50):  # until the ones past the queue are answered (well within the wait)
            await asyncio.sleep(0.01)
            if sum(c.done() for c in calls) >= 4:
                break
        assert (await http.get("/healthz")).status_code == 200  # every place taken, the probe passes
        early = [c for c in calls if c.done()]
        assert len(early) == 4  # past the queue: refused at once
        for c in early:
            r = c.result()
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["title"] == "Overloaded"
        await asyncio.sleep(1.1)  # the 8 waiting time out
        release.set()
        answers = [(await c).status_code for c in calls]
        assert sorted(answers) == [200, 200] + [503] * 12

        release.clear()  # a place that frees within the wait serves who waited for it
        calls = [asyncio.create_task(http.get("/slow")) for _ in range(4)]
        await asyncio.sleep(0.1)
        release.set()
        assert [(await c).status_code for c in calls] == [200] * 4


def test_a_request_too_malformed_to_reach_the_app_is_a_problem_document_too() -> None:
    import json
    import socket

    from starlette.applications import Starlette

    from servicekit.devstack import ThreadedServer
    from servicekit.runtime import ProblemH11Protocol

    server = ThreadedServer(Starlette(), http=ProblemH11Protocol).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(b"DELETE /v1/things/1 HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
            raw = b""
            while chunk := s.recv(4096):
                raw += chunk
    finally:
        server.stop()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"content-type: application/problem+json" in head.lower()
    problem = json.loads(body)
    assert problem["status"] == 400 and problem["title"] == "Bad Request" and problem["detail"]
