"""What booking refuses, and why: the kit's refusals (servicekit.errors), named for booking."""

from __future__ import annotations

from servicekit.errors import Conflict, Forbidden, Invalid, NotFound


class SlotTaken(Conflict):
    """The time asked for is no longer free (another booking, a buffer, a full group)."""

    title = "Slot taken"


class NotParty(Forbidden):
    """The booking belongs to other people."""


class TooLate(Conflict):
    """A deadline of the booking's lifecycle has passed for this step."""

    title = "Too late"


__all__ = ["Conflict", "Forbidden", "Invalid", "NotFound", "NotParty", "SlotTaken", "TooLate"]
