"""``Idempotency-Key`` on unsafe requests: a retried request with the same key gets the
first response back instead of doing the work twice; the same key with a different
request is refused (409, naming the header); a key whose first request is still running
answers 409 too, until its lease runs out (the process running it was killed): then the
retry runs it, and :func:`request_id_for` lets a handler find what the first run created.

Keys belong to the authenticated caller (the token's subject), not to the token: a client
that refreshed its access token between two tries of one request is the same caller, and
must not run it twice. Anonymous callers share one scope, where the key and the request's
fingerprint together decide; a token that does not verify gets no idempotency at all (the
route answers 401, and nothing is stored).

The rules this module enforces, and the tests that guard them, are listed in
``docs/architecture.md`` ("The rules, and where the code enforces them")."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import time
from typing import Any
from uuid import UUID, uuid5

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.database import Database
from servicekit.problems import Problem

IDEMPOTENCY_DDL = [
    """CREATE TABLE IF NOT EXISTS idempotency_keys (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        status INTEGER,
        headers TEXT,
        body BYTEA,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (scope, key)
    )""",
]
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
TTL_SECONDS = 24 * 3600
#: A key claimed by a request that never finished (its process was killed mid-request) is
#: free again after this long: the retry runs the request. Longer than any request takes.
LEASE_SECONDS = 30.0
#: Responses that depend on the caller's state at the time rather than on the request.
_NOT_STORED = {401, 403, 409, 429}


_key: contextvars.ContextVar[str | None] = contextvars.ContextVar("alphapeer_idempotency_key", default=None)
_NAMESPACE = UUID("5b0f6c1e-8a43-4d1c-9a55-2f0f3c1d7e21")


def request_id_for(kind: str) -> UUID | None:
    """The id of the ``kind`` of thing this request creates, derived from the caller and
    its ``Idempotency-Key`` (None without a key). A request run again after its process was
    killed between its commit and its answer finds what it created by this id and answers
    with it, instead of creating it twice or refusing the retry."""
    key = _key.get()
    return uuid5(_NAMESPACE, f"{kind}\n{key}") if key is not None else None


def forget_caller(db: Database, user_id: UUID | str) -> None:
    """Deletes the answers kept for a user's keys (their erasure: an answer may quote them)."""
    with db.transaction() as cur:
        cur.execute("DELETE FROM idempotency_keys WHERE scope = %s", (f"user:{user_id}",))


class IdempotencyStore:
    def __init__(self, db: Database, lease: float = LEASE_SECONDS) -> None:
        self.db = db
        self.lease = lease
        db.execute_script(IDEMPOTENCY_DDL)

    def begin(self, scope: str, key: str, fingerprint: str) -> tuple[str, Any]:
        """('new', None) | ('replay', (status, headers, body)) | ('mismatch'|'running', None)."""
        now = time.time()
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM idempotency_keys WHERE created_at < %s", (now - TTL_SECONDS,))
            cur.execute(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, created_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (scope, key, fingerprint, now),
            )
            if cur.rowcount == 1:
                return "new", None
            # Claimed, never finished, and past its lease: the claimant died. Take it over.
            cur.execute(
                "UPDATE idempotency_keys SET created_at = %s WHERE scope = %s AND key = %s AND fingerprint = %s "
                "AND status IS NULL AND created_at < %s",
                (now, scope, key, fingerprint, now - self.lease),
            )
            if cur.rowcount == 1:
                return "new", None
            cur.execute(
                "SELECT fingerprint, status, headers, body FROM idempotency_keys WHERE scope = %s AND key = %s",
                (scope, key),
            )
            row = cur.fetchone()
        if row is None:  # expired between the two statements: treat as new next time
            return "running", None
        if row[0] != fingerprint:
            return "mismatch", None
        if row[1] is None:
            return "running", None
        return "replay", (int(row[1]), json.loads(row[2]), bytes(row[3]))

    def finish(self, scope: str, key: str, status: int, headers: dict[str, str], body: bytes) -> None:
        with self.db.transaction() as cur:
            if status >= 500 or status in _NOT_STORED:
                cur.execute("DELETE FROM idempotency_keys WHERE scope = %s AND key = %s", (scope, key))
            else:
                cur.execute(
                    "UPDATE idempotency_keys SET status = %s, headers = %s, body = %s WHERE scope = %s AND key = %s",
                    (status, json.dumps(headers), body, scope, key),
                )

    def abandon(self, scope: str, key: str) -> None:
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM idempotency_keys WHERE scope = %s AND key = %s", (scope, key))


def _scope_of(request: Request) -> str | None:
    """``user:<id>`` for a verified bearer token, ``anonymous`` without one, None for a
    token that does not verify."""
    header = request.headers.get("authorization")
    if not header:
        return "anonymous"
    verifier = getattr(request.app.state, "verifier", None)
    scheme, _, token = header.partition(" ")
    if verifier is None or scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return f"user:{verifier.verify(token.strip()).user_id}"
    except Problem:
        return None


class IdempotencyMiddleware:
    """Plain ASGI: a request without a key passes straight through (no task, no streams,
    as Starlette's BaseHTTPMiddleware would add to every request); one with a key has its
    body read once, replayed to the route, and its answer kept before it is sent."""

    def __init__(self, app: ASGIApp, store: IdempotencyStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE:
            await self.app(scope, receive, send)
            return
        key = Headers(scope=scope).get("idempotency-key")
        if key is None:
            await self.app(scope, receive, send)
            return
        from servicekit.gateway import problem_response  # cycle: gateway installs this

        request = Request(scope, receive)
        if not 1 <= len(key) <= 255:
            await problem_response(
                request, Problem(400, "Invalid Idempotency-Key", "Idempotency-Key: must be 1 to 255 characters",
                                 errors=[{"field": "Idempotency-Key", "reason": "must be 1 to 255 characters"}])
            )(scope, receive, send)
            return
        caller = await asyncio.to_thread(_scope_of, request)
        if caller is None:
            await self.app(scope, receive, send)
            return
        body = await request.body()
        fingerprint = hashlib.sha256(
            b"\n".join([scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body])
        ).hexdigest()
        if caller == "anonymous":
            # Anyone may pick any key: an anonymous key names a request only together with the
            # request itself, so one client's key never answers (or blocks) another's request.
            caller = f"anonymous:{fingerprint}"
        outcome, stored = await asyncio.to_thread(self.store.begin, caller, key, fingerprint)
        if outcome == "mismatch":
            # 409, not 422: the request itself is valid; the key is already bound to another one.
            await problem_response(
                request, Problem(409, "Idempotency-Key reused",
                                 "Idempotency-Key: this key was used with a different request",
                                 errors=[{"field": "Idempotency-Key", "reason": "used with a different request"}])
            )(scope, receive, send)
            return
        if outcome == "running":
            await problem_response(
                request, Problem(409, "Request in progress",
                                 "a request with this Idempotency-Key is still being processed; retry later",
                                 headers={"Retry-After": "1"})
            )(scope, receive, send)
            return
        if outcome == "replay":
            status, headers, content = stored
            replay = Response(content=content, status_code=status, headers=headers)
            replay.headers["Idempotent-Replayed"] = "true"
            await replay(scope, receive, send)
            return
        await self._first_run(scope, receive, send, body, caller, key)

    async def _first_run(self, scope: Scope, receive: Receive, send: Send, body: bytes, caller: str,
                         key: str) -> None:
        sent_body = False

        async def replay_body() -> Message:
            nonlocal sent_body
            if sent_body:  # the body was read here already: what comes next is the client's disconnect
                return await receive()
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}

        start: Message = {}
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        bound = _key.set(f"{caller}\n{key}")
        try:
            await self.app(scope, replay_body, keep)
        except BaseException:
            await asyncio.to_thread(self.store.abandon, caller, key)
            raise
        finally:
            _key.reset(bound)
        content = b"".join(chunks)
        status = int(start["status"])
        headers = Headers(raw=start.get("headers", []))
        kept = {k: v for k, v in headers.items() if k.lower() in {"content-type", "location"}}
        await asyncio.to_thread(self.store.finish, caller, key, status, kept, content)
        await send(start)
        await send({"type": "http.response.body", "body": content, "more_body": False})
