"""What identity refuses, and why: the kit's refusals (``servicekit.errors``), named for
identity. The gateway answers each by its base class (Invalid 422 naming the field,
Unauthenticated 401, Forbidden 403, NotFound 404, Conflict 409); ``title`` is set where
identity's answer says more than the status."""

from __future__ import annotations

from servicekit.errors import Conflict, Forbidden, Invalid, NotFound, Unauthenticated


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


class InvalidCredentials(Unauthenticated):
    """Wrong email or password, or an unusable refresh token. One message for all
    causes, so a caller cannot learn which addresses exist."""

    title = "Invalid credentials"


class InvalidToken(Unauthenticated):
    """A well-signed access token whose account no longer exists (or was erased)."""

    title = "Invalid token"


class AccountSuspended(Forbidden):
    """The account is suspended: it cannot sign in or keep a session."""

    title = "Account suspended"

    def __init__(self, message: str = "this account is suspended; contact support") -> None:
        super().__init__(message)


class SelfReview(Forbidden):
    """A reviewer tried to decide their own tutor application."""

    def __init__(self) -> None:
        super().__init__("you cannot review your own application")


__all__ = [
    "AccountErased",
    "AccountSuspended",
    "ApplicationPending",
    "Conflict",
    "EmailTaken",
    "Forbidden",
    "Invalid",
    "InvalidCredentials",
    "InvalidToken",
    "LastAdmin",
    "NotFound",
    "SelfReview",
]
