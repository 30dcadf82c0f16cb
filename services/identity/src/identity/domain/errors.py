"""What identity refuses, and why: the kit's refusals (``servicekit.errors``), named for
identity. The gateway answers each by its base class (Invalid 422 naming the field,
Unauthenticated 401, Forbidden 403, NotFound 404, Conflict 409, TooManyRequests 429 and
Unavailable 503 with Retry-After); ``title`` is set where identity's answer says more than
the status."""

from __future__ import annotations

from servicekit.errors import Conflict, Forbidden, Invalid, NotFound, TooManyRequests, Unauthenticated, Unavailable


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


class TooManyAttempts(TooManyRequests):
    """Too many failed sign-ins (for an account or from an address), or too many mails
    asked for: refused until the window ends. Alike for existing and unknown accounts."""

    title = "Too many attempts"


class PasswordHashingBusy(Unavailable):
    """Every password-hashing slot stayed busy past the request's deadline (a sign-in
    storm): refused rather than queued without bound or hashed beyond the memory budget."""

    title = "Too busy"

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__("too many sign-ins at once; try again in a moment", retry_after)


class MailUnavailable(Unavailable):
    """The mail server could not take the message now."""

    title = "Mail unavailable"


class ProviderUnavailable(Unavailable):
    """The background-check provider could not be reached, or failed."""

    title = "Provider unavailable"


class ProviderRefused(Conflict):
    """The background-check provider refused the request (its answer says why)."""

    title = "Provider refused"


class InvalidSignature(Unauthenticated):
    """A provider's webhook whose signature does not match its body: nothing is read from it."""

    title = "Invalid signature"


__all__ = [
    "AccountErased",
    "AccountSuspended",
    "ApplicationPending",
    "Conflict",
    "EmailTaken",
    "Forbidden",
    "Invalid",
    "InvalidCredentials",
    "InvalidSignature",
    "InvalidToken",
    "LastAdmin",
    "MailUnavailable",
    "NotFound",
    "PasswordHashingBusy",
    "ProviderRefused",
    "ProviderUnavailable",
    "SelfReview",
    "TooManyAttempts",
]
