"""Reviews, and what they need: a seat in a completed session (only its student reviews it,
once), and the pair of two peers (reciprocal five stars between people who tutor each other
is a signal for staff).

A review's ``status``: ``published`` (counts), ``held`` (abusive words or a gaming signal:
hidden until staff let it through), ``removed`` (by staff; counts no more)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from servicekit.errors import Conflict, Forbidden

_NS = UUID("5e9a7c1e-8f0b-4c39-9d55-0e9e7a7e0002")
RATINGS = ("on_time", "explained_clearly", "helped_understand", "would_book_again")


class Seat(Aggregate):
    """A student's seat in a session that took place (from sessions' ``SessionCompleted``)."""

    @staticmethod
    def create_id(session_id: UUID, student_id: UUID) -> UUID:
        return uuid.uuid5(_NS, f"seat:{session_id}:{student_id}")

    @classmethod
    def took_place(cls, session_id: UUID, student_id: UUID, **fields: Any) -> Seat:
        return cls._create(cls.TookPlace, id=cls.create_id(session_id, student_id),  # type: ignore[attr-defined]
                           session_id=session_id, student_id=student_id, **fields)

    @event("TookPlace")
    def __init__(self, session_id: UUID, student_id: UUID, tutor_id: UUID, booking_id: UUID,
                 ended_at: datetime, minutes: int) -> None:
        self.session_id, self.student_id, self.tutor_id = session_id, student_id, tutor_id
        self.booking_id, self.ended_at, self.minutes = booking_id, ended_at, minutes


class Review(Aggregate):
    @staticmethod
    def create_id(session_id: UUID, student_id: UUID) -> UUID:
        return uuid.uuid5(_NS, f"review:{session_id}:{student_id}")

    @classmethod
    def write(cls, seat: Seat, ratings: dict[str, int], text: str | None, held: str | None, at: datetime) -> Review:
        return cls._create(cls.Written, id=cls.create_id(seat.session_id, seat.student_id),  # type: ignore[attr-defined]
                           session_id=seat.session_id, tutor_id=seat.tutor_id, student_id=seat.student_id,
                           ratings=ratings, text=text, held=held, at=at)

    @event("Written")
    def __init__(self, session_id: UUID, tutor_id: UUID, student_id: UUID, ratings: dict[str, int],
                 text: str | None, held: str | None, at: datetime) -> None:
        self.session_id, self.tutor_id, self.student_id = session_id, tutor_id, student_id
        self.ratings = dict(ratings)
        self.text = text  # sealed under the student's key
        self.written_at = at
        self.edited_at: datetime | None = None
        self.status = "held" if held else "published"
        self.held_for: list[str] = [held] if held else []
        self.response: str | None = None  # sealed under the tutor's key
        self.responded_at: datetime | None = None

    @property
    def overall(self) -> float:
        return round(sum(self.ratings[k] for k in RATINGS) / len(RATINGS), 3)

    @property
    def counts(self) -> bool:
        return self.status == "published"

    def check_editable(self, by: UUID, now: datetime, hours: int) -> None:
        if by != self.student_id:
            raise Forbidden("only its writer edits a review")
        if self.status == "removed":
            raise Conflict("this review was removed")
        if now > self.written_at + timedelta(hours=hours):
            raise Conflict(f"a review may be edited for {hours} hours after it was written")

    @event("Edited")
    def edit(self, ratings: dict[str, int], text: str | None, held: str | None, at: datetime) -> None:
        self.ratings, self.text, self.edited_at = dict(ratings), text, at
        if held and held not in self.held_for:
            self.held_for.append(held)
        if held and self.status == "published":
            self.status = "held"

    @event("Held")
    def hold(self, reason: str) -> None:
        if reason not in self.held_for:
            self.held_for.append(reason)
        if self.status == "published":
            self.status = "held"

    def respond(self, by: UUID, sealed: str, at: datetime) -> None:
        if by != self.tutor_id:
            raise Forbidden("only the reviewed tutor responds")
        if self.response is not None:
            raise Conflict("the tutor has responded already")
        self._responded(sealed, at)

    @event("Responded")
    def _responded(self, sealed: str, at: datetime) -> None:
        self.response, self.responded_at = sealed, at

    @event("Moderated")
    def moderate(self, action: str, reason_code: str, by: UUID) -> None:
        self.status = "published" if action == "publish" else "removed"


class Pair(Aggregate):
    """Two peers and the ratings each gave the other as a tutor (their latest overall)."""

    @staticmethod
    def create_id(a: UUID, b: UUID) -> UUID:
        lo, hi = sorted((str(a), str(b)))
        return uuid.uuid5(_NS, f"pair:{lo}:{hi}")

    @classmethod
    def of(cls, a: UUID, b: UUID) -> Pair:
        return cls._create(cls.Met, id=cls.create_id(a, b))  # type: ignore[attr-defined]

    @event("Met")
    def __init__(self) -> None:
        self.given: dict[str, dict[str, Any]] = {}  # "reviewer>tutor" → {"overall", "review_id"}

    @event("Rated")
    def rate(self, reviewer: UUID, tutor: UUID, overall: float, review_id: UUID) -> None:
        self.given[f"{reviewer}>{tutor}"] = {"overall": overall, "review_id": review_id}

    def reciprocal_five_stars(self, reviewer: UUID, tutor: UUID) -> UUID | None:
        """The other review when both peers gave each other (nearly) full marks."""
        mine, theirs = self.given.get(f"{reviewer}>{tutor}"), self.given.get(f"{tutor}>{reviewer}")
        if mine and theirs and mine["overall"] >= 4.75 and theirs["overall"] >= 4.75:
            return UUID(str(theirs["review_id"]))
        return None
