"""What catalog refuses, and why."""

from __future__ import annotations


class CatalogError(Exception):
    field: str | None = None


class ValidationError(CatalogError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotFound(CatalogError):
    pass


class Conflict(CatalogError):
    pass


class NotEligible(CatalogError):
    """The tutor may not publish (not approved, suspended, or gone)."""


class NotOwner(CatalogError):
    pass
