"""Per-request / per-message context that must follow a unit of work into logs,
stored events and published messages."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkContext:
    request_id: str | None = None
    #: The id that ties every message of one business flow together.
    correlation_id: str | None = None
    #: The id of the request or message that directly caused this work.
    causation_id: str | None = None


_current: contextvars.ContextVar[WorkContext] = contextvars.ContextVar(
    "alphapeer_work_context", default=WorkContext()  # noqa: B039 - frozen, never mutated
)


def current() -> WorkContext:
    return _current.get()


@contextmanager
def bind(ctx: WorkContext) -> Iterator[WorkContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
