"""Every gateway's OpenAPI document tells the truth about what the kit adds to each route.

FastAPI documents a route's own success response and the shape of its request; the kit
answers more than that on every route, so the document says so:

- ``application/problem+json`` (RFC 9457) for every error, with one ``Problem`` schema;
- 422 for any route that takes input (the request did not validate, or a rule refused it);
- 401 and 403 on every route that needs a bearer token (the ``bearerAuth`` scheme); none on
  public routes, so a generated client can tell them apart;
- 404 where the path names something;
- 400 everywhere: a request too malformed to reach the app (answered by the server,
  ``runtime.ProblemH11Protocol``), or a malformed ``Idempotency-Key``;
- on unsafe methods: the optional ``Idempotency-Key`` header (1 to 255 characters), 409 for
  a conflict (changed concurrently, a key still in progress, a state that forbids it);
- 413 and 415 on uploads;
- 503 with ``Retry-After`` everywhere (database away or saturated, an overloaded resource).

A route declares anything else it can answer (e.g. 429) with FastAPI's ``responses=``.

Bounds pydantic could not push into a type (a bound on a type with a before-validator, such as
``servicekit.bodies.WholeNumber`` in an alias or a union) come out under pydantic's own names
(``ge``, ``le``…), which JSON Schema ignores; the document gets them as ``minimum``, ``maximum``….
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from servicekit.problems import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An error, as RFC 9457 problem details. `errors` names each field at fault and why.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "A URI naming the kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "The request path"},
        "errors": {
            "type": "array",
            "items": {"type": "object", "required": ["field", "reason"],
                      "properties": {"field": {"type": "string"}, "reason": {"type": "string"}}},
        },
    },
    "additionalProperties": True,
}

UNSAFE = {"post", "put", "patch", "delete"}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Retrying with the same key (by the same caller) replays the first answer instead of "
                   "doing the work twice; the same key with another request is refused.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
DESCRIPTIONS = {
    "400": "Malformed request: an invalid header (e.g. Idempotency-Key, Content-Length)",
    "401": "No valid bearer token (missing, malformed, expired, or its account erased)",
    "403": "Not allowed for the caller (role, owner, or account suspended)",
    "404": "Not found (or not visible to the caller)",
    "409": "Conflicts with the current state, or changed concurrently (retry later)",
    "413": "The upload is too large",
    "415": "The upload is not an accepted type, or not what it claims to be",
    "422": "The request is invalid: `errors` names each field and the reason",
    "503": "Temporarily unavailable (database busy or away, or overloaded): retry after `Retry-After` seconds",
}


def _problem(status: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS.get(status, "Error"),
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status in ("503", "429"):
        response["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying",
                                               "schema": {"type": "integer", "minimum": 0}}}
    return response


def _takes_input(operation: dict[str, Any]) -> bool:
    return bool(operation.get("parameters") or operation.get("requestBody"))


#: Pydantic names a bound by its own keyword when it cannot push it into the type (a bound on a
#: type with a before-validator, e.g. ``Annotated[WholeNumber, Field(ge=0)]``); JSON Schema ignores those.
_BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum",
           "multiple_of": "multipleOf"}


def _json_schema_bounds(node: Any) -> None:
    """Renames pydantic's bound keywords to JSON Schema's, in every schema of the document."""
    if isinstance(node, dict):
        if node.get("type") in ("integer", "number"):
            for theirs, ours in _BOUNDS.items():
                if isinstance(node.get(theirs), int | float) and not isinstance(node[theirs], bool):
                    node[ours] = node.pop(theirs)
        for value in node.values():
            _json_schema_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _json_schema_bounds(value)


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Adds what the kit answers to every operation of a FastAPI-generated document."""
    _json_schema_bounds(document)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)  # FastAPI's own 422 shape, which the kit never sends
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "put", "post", "delete", "patch", "head", "options", "trace"}:
                continue
            responses = operation.setdefault("responses", {})
            statuses = {"400", "503"}  # 400: malformed HTTP, answered by the server (runtime.ProblemH11Protocol)
            if _takes_input(operation) or method in UNSAFE:
                statuses.add("422")
            if operation.get("security"):
                statuses |= {"401", "403"}
            if "{" in path:
                statuses.add("404")
            if method in UNSAFE:
                statuses.add("409")
                params = operation.setdefault("parameters", [])
                if not any(p.get("name", "").lower() == "idempotency-key" for p in params):
                    params.append(dict(IDEMPOTENCY_KEY))
            content = operation.get("requestBody", {}).get("content", {})
            if "multipart/form-data" in content:
                statuses |= {"413", "415"}
            for status in sorted(statuses):
                existing = responses.get(status)
                if existing is None or "application/json" in existing.get("content", {}):
                    responses[status] = {**_problem(status), **({"description": existing["description"]}
                                                                if existing and status != "422" else {})}
            for status, response in responses.items():
                # Anything a route declares as an error is a problem document too.
                if status[0] in "45" and PROBLEM_JSON not in response.get("content", {}):
                    response["content"] = _problem(status)["content"]
    return document


def install(app: FastAPI) -> None:
    """Replaces ``app.openapi`` with the completed document (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes,
                tags=app.openapi_tags, servers=app.servers))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
