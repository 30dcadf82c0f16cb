"""The gateway factory: every service's FastAPI app starts here.

It gives each app ``/healthz`` and ``/readyz``, OpenAPI, problem+json errors (validation
errors name the field and the reason; a domain's refusals by their base class in
:mod:`servicekit.errors`; a database that is away or saturated is a 503 with
Retry-After, never a 500), admission control (a bounded number of requests at once, past
it a 503 with Retry-After: :mod:`servicekit.admission`), request and correlation ids, a server span per
request continuing the caller's trace, CORS from configuration, bearer-JWT verification
(see :mod:`servicekit.auth`) and ``Idempotency-Key`` support.

The rules this module enforces, and the tests that guard them, are listed in
``docs/architecture.md`` ("The rules, and where the code enforces them")."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from eventsourcing.persistence import RecordConflictError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from opentelemetry import trace
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit import bodies, context, errors, openapi, telemetry
from servicekit.admission import AdmissionControl
from servicekit.auth import TokenVerifier
from servicekit.blobstore import BlobNotFound, BlobStoreError
from servicekit.database import Database
from servicekit.idempotency import IdempotencyMiddleware, IdempotencyStore
from servicekit.metrics import ServiceMetrics
from servicekit.problems import PROBLEM_JSON, Problem
from servicekit.settings import ServiceSettings

log = logging.getLogger(__name__)

#: Raises when not ready; may return a detail to show instead of "ok" (e.g. who publishes).
ReadinessCheck = Callable[[], Awaitable[str | None]]
Lifespan = Callable[[FastAPI], Any]


def problem_response(request: Request, problem: Problem) -> JSONResponse:
    headers = dict(problem.headers)
    rid = getattr(request.state, "request_id", None)
    if rid:
        headers["X-Request-ID"] = rid
    return JSONResponse(problem.body(instance=request.url.path), status_code=problem.status,
                        media_type=PROBLEM_JSON, headers=headers)


# Pydantic adds the union member it tried to a location ("place.lat.float"): not a field.
_TYPE_TAG = re.compile(r"^(int|float|str|bool|bytes|none|json-or-python\[.*\]|function-\w+\[.*\]|[a-z-]+\[.*\])$")


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if not (isinstance(p, str) and _TYPE_TAG.match(p))]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        where, rest = parts[0], parts[1:]
        if where != "body" and rest:
            return f"{where}.{'.'.join(rest)}"
        parts = rest
    return ".".join(parts) or "body"


def _reason(error: Any) -> str:
    """Pydantic's message, or for a pattern with a registered reason (servicekit.bodies) that
    reason rather than the regular expression."""
    if error.get("type") == "string_pattern_mismatch":
        reason = bodies.PATTERN_REASONS.get(str((error.get("ctx") or {}).get("pattern")))
        if reason:
            return reason
    return str(error.get("msg", "invalid"))


def problem_for(exc: errors.DomainError) -> Problem:
    """A domain refusal as a problem document: status and title from its class, the field
    at fault (if any) in ``errors``, ``Retry-After`` when the refusal says when to retry."""
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    if exc.field:
        return Problem(exc.status, exc.title, f"{exc.field}: {exc.reason}",
                       errors=[{"field": exc.field, "reason": exc.reason}], headers=headers)
    return Problem(exc.status, exc.title, str(exc) or exc.title, headers=headers)


def _unavailable_errors() -> tuple[type[Exception], ...]:
    import psycopg
    import psycopg_pool
    from eventsourcing.persistence import InterfaceError, OperationalError

    return (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout, OperationalError,
            InterfaceError)


#: A database that cannot serve now (down, or every pooled connection busy): 503, not 500.
UNAVAILABLE = _unavailable_errors()


class ContextMiddleware:
    """Request id, correlation id and the server span for one request. Plain ASGI (not
    Starlette's BaseHTTPMiddleware, which runs the rest of the app in a task of its own
    with streams between: ~1 ms a request, measured in-process on GET /healthz)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        rid = headers.get("x-request-id") or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid  # request.state.request_id
        correlation = headers.get("x-correlation-id") or rid
        method, path = scope["method"], scope["path"]
        parent = telemetry.extract(dict(headers.items()))
        tracer = telemetry.tracer("servicekit.gateway")
        with (
            tracer.start_as_current_span(
                f"{method} {path}", context=parent, kind=trace.SpanKind.SERVER,
                attributes={"http.request.method": method, "url.path": path},
            ) as span,
            context.bind(context.WorkContext(request_id=rid, correlation_id=correlation, causation_id=rid)),
        ):
            async def send_with_ids(message: Message) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                    out = MutableHeaders(scope=message)
                    out["X-Request-ID"] = rid
                    out["X-Correlation-ID"] = correlation
                await send(message)

            try:
                await self.app(scope, receive, send_with_ids)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if isinstance(route, str):  # named by the route's template: a span name is never an id
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)


def create_gateway(
    settings: ServiceSettings,
    db: Database,
    *,
    title: str,
    description: str,
    verifier: TokenVerifier | None,
    readiness: dict[str, ReadinessCheck] | None = None,
    lifespan: Lifespan | None = None,
    on_shutdown: list[Callable[[], None]] | None = None,
    version: str = "1.0.0",
    metrics: ServiceMetrics | None = None,
) -> FastAPI:
    checks = dict(readiness or {})

    async def database_ready() -> None:
        await asyncio.to_thread(db.ping)

    checks.setdefault("database", database_ready)

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            # Connection pools are returned to the database, not left to the garbage collector.
            for close in [*(on_shutdown or []), db.close]:
                try:
                    close()
                except Exception:
                    log.warning("error while closing", exc_info=True)

    # FastAPI's own telemetry off: the kit makes the one server span per request (below; a
    # second would be its sibling, and FastAPI's records query strings), the Prometheus
    # metrics and the access log (servicekit.metrics).
    app = FastAPI(title=title, description=description, version=version, lifespan=_lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    openapi.install(app)  # the document also says what the kit answers on every route
    app.state.settings = settings
    app.state.db = db
    app.state.verifier = verifier

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors: list[dict[str, str]] = []
        for e in exc.errors():
            field = _field_of(e.get("loc", ()))
            if all(x["field"] != field for x in errors):  # one reason per field, the first
                errors.append({"field": field, "reason": _reason(e)})
        detail = "; ".join(f"{e['field']}: {e['reason']}" for e in errors)
        return problem_response(request, Problem(422, "Invalid request", detail, errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed"}
        return problem_response(
            request, Problem(exc.status_code, titles.get(exc.status_code, "HTTP error"), str(exc.detail),
                             headers=dict(exc.headers or {}))
        )

    @app.exception_handler(errors.DomainError)
    async def _refused(request: Request, exc: errors.DomainError) -> JSONResponse:
        return problem_response(request, problem_for(exc))

    @app.exception_handler(RecordConflictError)
    async def _conflict(request: Request, exc: RecordConflictError) -> JSONResponse:
        # Someone else changed the same thing between our read and our write, repeatedly.
        return problem_response(request, Problem(409, "Changed concurrently",
                                                 "it changed while your request was applied; try again",
                                                 headers={"Retry-After": "1"}))

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return problem_response(request, Problem(503, "Service unavailable",
                                                 "the database is busy or unreachable; try again shortly",
                                                 headers={"Retry-After": "1"}))

    for unavailable in UNAVAILABLE:
        app.add_exception_handler(unavailable, _unavailable)

    @app.exception_handler(BlobNotFound)
    async def _blob_missing(request: Request, exc: BlobNotFound) -> JSONResponse:
        log.error("a stored file is referenced but missing: %s", exc)
        return problem_response(request, Problem(404, "Not found", "no such file"))

    @app.exception_handler(BlobStoreError)
    async def _blobs_away(request: Request, exc: BlobStoreError) -> JSONResponse:
        log.error("file storage failed: %s", exc)
        return problem_response(request, Problem(503, "Storage unavailable", "files cannot be reached now; try again",
                                                 headers={"Retry-After": "5"}))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem_response(request, Problem(500, "Internal error", "an unexpected error occurred; it was logged"))

    @app.get("/healthz", tags=["health"], summary="Liveness: the process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": settings.service_name}

    @app.get("/readyz", tags=["health"], summary="Readiness: database and broker reachable")
    async def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        ok = True
        for name, check in checks.items():
            try:
                detail = await asyncio.wait_for(check(), timeout=3.0)
                results[name] = detail if isinstance(detail, str) and detail else "ok"
            except Exception as exc:  # report, do not raise: this is the report
                ok = False
                results[name] = f"{type(exc).__name__}: {exc}"[:300]
        body = {"status": "ok" if ok else "unavailable", "checks": results}
        if ok:
            return JSONResponse(body)
        return JSONResponse({**body, "type": "https://alphapeer.dev/problems/not-ready", "title": "Not ready",
                             "status": 503}, status_code=503, media_type=PROBLEM_JSON)

    # Outermost last: CORS → context/tracing → metrics/access log → admission → idempotency → routes.
    app.add_middleware(IdempotencyMiddleware, store=IdempotencyStore(db))
    app.add_middleware(AdmissionControl, limit=settings.http_max_in_flight, wait=settings.http_admission_wait_seconds)
    if metrics is not None:  # GET /metrics; request metrics and the access log, inside the request's context
        metrics.install(app, access_log=settings.access_log, token=settings.metrics_token)
    app.add_middleware(ContextMiddleware)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID", "X-Correlation-ID"],
            expose_headers=["X-Request-ID", "X-Correlation-ID", "Idempotent-Replayed", "Location"],
        )
    return app


def provided(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A FastAPI dependency answering what the assembly provided as ``name``
    (``svc.provide(name=…)``): ``App = Annotated[MyApplication, Depends(provided("mine"))]``.
    Asynchronous, so FastAPI calls it on the loop instead of handing it to a worker thread."""

    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    dependency.__name__ = f"provided_{name}"
    return dependency
