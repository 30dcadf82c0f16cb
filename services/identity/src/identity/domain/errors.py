"""What identity refuses, and why. Every refusal is an ``IdentityError``; ``field`` names
the input at fault when there is one, so an HTTP gateway can point at it."""

from __future__ import annotations


class IdentityError(Exception):
    """Base of every refusal. ``field`` is the input at fault, or None."""

    field: str | None = None

    def __init__(self, message: str = "", field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ValidationError(IdentityError):
    """A value breaks a rule: ``field`` says which, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}", field=field)
        self.reason = reason


class NotFound(IdentityError):
    """No such user, application or session."""


class Conflict(IdentityError):
    """The request contradicts the current state (already done, or not possible now)."""


class EmailTaken(Conflict):
    """The address belongs to another account."""

    def __init__(self) -> None:
        super().__init__("is already registered", field="email")


class AccountErased(Conflict):
    """The account was erased; it accepts no further commands."""

    def __init__(self) -> None:
        super().__init__("this account was erased")


class ApplicationPending(Conflict):
    """The user already has a tutor application under review."""

    def __init__(self) -> None:
        super().__init__("you already have a tutor application under review", field="application")


class LastAdmin(Conflict):
    """The last admin cannot lose the role, be suspended or be erased."""

    def __init__(self) -> None:
        super().__init__("this is the last admin account; make another admin first", field="role")


class ConcurrentUpdate(Conflict):
    """Someone else changed the same record at the same moment; retrying may succeed."""

    def __init__(self) -> None:
        super().__init__("the record was changed at the same moment; try again")


class InvalidCredentials(IdentityError):
    """Wrong email or password, or an unusable refresh token. One message for all
    causes, so a caller cannot learn which addresses exist."""


class Forbidden(IdentityError):
    """The actor may not do this, whatever their roles."""


class AccountSuspended(Forbidden):
    """The account is suspended: it cannot sign in or keep a session."""

    def __init__(self, message: str = "this account is suspended") -> None:
        super().__init__(message)


class SelfReview(Forbidden):
    """A reviewer tried to decide their own tutor application."""

    def __init__(self) -> None:
        super().__init__("you cannot review your own application")
