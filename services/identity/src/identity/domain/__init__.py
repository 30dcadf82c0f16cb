"""Identity's domain: aggregates and rules, free of frameworks and of plaintext personal data."""

from identity.domain.errors import (
    AccountSuspended,
    Conflict,
    EmailTaken,
    IdentityError,
    InvalidCredentials,
    NotFound,
    SelfReview,
    ValidationError,
)

__all__ = [
    "AccountSuspended",
    "Conflict",
    "EmailTaken",
    "IdentityError",
    "InvalidCredentials",
    "NotFound",
    "SelfReview",
    "ValidationError",
]
