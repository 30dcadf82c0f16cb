"""What a domain refuses, as plain exceptions a domain may raise without importing any
framework. Every service's own refusals subclass one of these; the gateway answers each
by its base class (see ``servicekit.gateway``), so no service writes an error → HTTP map.

==================  ======  ============================================================
base                status  meaning
==================  ======  ============================================================
``Invalid``         422     a value breaks a rule; ``field`` names it, ``reason`` says why
``Unauthenticated`` 401     who the caller is could not be established (bad credentials)
``Forbidden``       403     the caller may not do this, whatever their roles
``NotFound``        404     no such thing (or not visible to this caller)
``Conflict``        409     contradicts the current state (already done, not possible now)
``TooManyRequests`` 429     the caller asked too often; ``retry_after`` seconds until it may
``Unavailable``     503     a resource is saturated or away; ``retry_after`` seconds
==================  ======  ============================================================

A subclass may set ``title`` (the problem document's title) to say more than the status.
A refusal with ``retry_after`` set is answered with that ``Retry-After`` header.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """Base of every refusal. ``field`` is the input at fault, or None."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Rejected"
    #: Seconds after which the same request may succeed (the answer's Retry-After), if known.
    retry_after: int | None = None

    def __init__(self, message: str = "", field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    @property
    def reason(self) -> str:
        return str(self)


class Invalid(DomainError):
    """A value breaks a rule: ``field`` says which, ``reason`` says why."""

    status = 422
    title = "Invalid request"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason, field=field)

    def __str__(self) -> str:
        return f"{self.field}: {self.args[0]}"

    @property
    def reason(self) -> str:
        return str(self.args[0])


class Unauthenticated(DomainError):
    status = 401
    title = "Invalid credentials"


class Forbidden(DomainError):
    status = 403
    title = "Forbidden"


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    status = 409
    title = "Conflict"


class TooManyRequests(DomainError):
    """The caller (an account, an address) asked too often; it may again in ``retry_after`` s."""

    status = 429
    title = "Too many requests"

    def __init__(self, message: str, retry_after: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after = max(1, int(retry_after))


class Unavailable(DomainError):
    """A resource is saturated or away for now (not the caller's fault); retry later."""

    status = 503
    title = "Service unavailable"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))
