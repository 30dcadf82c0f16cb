"""What matching refuses: the kit's refusals (servicekit.errors), named for matching."""

from __future__ import annotations

from servicekit.errors import Invalid


class BadCursor(Invalid):
    """A cursor this API did not return, or one from a search in another order."""

    def __init__(self, reason: str) -> None:
        super().__init__("cursor", reason)


__all__ = ["BadCursor", "Invalid"]
