"""What reputation's use cases are asked to do, as values (http.py builds them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ratings:
    """A learner's four ratings of a session, each 1 to 5."""

    on_time: int
    explained_clearly: int
    helped_understand: int
    would_book_again: int

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))
