"""What catalog refuses, and why: the kit's refusals (servicekit.errors), named for catalog."""

from __future__ import annotations

from servicekit.errors import Conflict, Forbidden, Invalid, NotFound


class NotEligible(Forbidden):
    """The tutor may not publish (not approved, suspended, or gone)."""

    title = "Not eligible to publish"


class NotOwner(Forbidden):
    """The listing or course belongs to someone else."""


__all__ = ["Conflict", "Forbidden", "Invalid", "NotEligible", "NotFound", "NotOwner"]
