"""What identity refuses, and why. The gateway turns these into problem documents."""

from __future__ import annotations


class IdentityError(Exception):
    field: str | None = None


class ValidationError(IdentityError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotFound(IdentityError):
    pass


class Conflict(IdentityError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class EmailTaken(Conflict):
    def __init__(self) -> None:
        super().__init__("is already registered", field="email")


class InvalidCredentials(IdentityError):
    pass


class AccountSuspended(IdentityError):
    pass


class SelfReview(IdentityError):
    pass
