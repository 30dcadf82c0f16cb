"""A user's diary: the time they have promised, as tutor *and* as student, and what else
booking must know of them (suspended or erased, trials taken, the tutor's cancellations,
the calendar feed's generation).

No double booking: a booking is saved together with the diaries of both people, each
checked first. Two requests racing for the same hours both read the diary at one version;
the store accepts one save of that version and refuses the other (optimistic concurrency),
whose request is then decided again on the fresh diary and finds the time taken. This holds
across threads, processes and replicas, since the arbiter is the event store's unique
(aggregate, version) key. A tutor's sessions as a student are in the same diary, so they
block the tutor's time too."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from booking.domain.errors import Forbidden, Invalid, SlotTaken
from servicekit.wallclock import overlaps

NAMESPACE = UUID("5f0e3d2c-1b0a-4c9d-8e7f-6a5b4c3d2e1f")
#: Promised time is kept this long after it ended (then pruned from the state).
KEEP_PAST = timedelta(days=2)


class Diary(Aggregate):
    @staticmethod
    def create_id(user_id: UUID) -> UUID:  # type: ignore[override]
        return uuid5(NAMESPACE, f"diary:{user_id}")

    @event("Opened")
    def __init__(self, id: UUID, user_id: UUID) -> None:
        self.user_id = user_id
        #: Promised time: {booking_id, occurrence, starts_at, ends_at, role, group_id, capacity}.
        self.busy: list[dict[str, Any]] = []
        #: Every booking this user is a party to, oldest first: [booking_id, role].
        self.bookings: list[list[Any]] = []
        self.trials: list[UUID] = []  # tutors this user has had a trial with
        self.suspended = False
        self.erased = False
        self.tutor_cancellations = 0
        self.feed_generation = 0

    @classmethod
    def open(cls, user_id: UUID) -> Diary:
        return cls(id=cls.create_id(user_id), user_id=user_id)

    # -- standing --------------------------------------------------------------------------

    def check_in_good_standing(self, field: str, who: str) -> None:
        if self.erased:
            raise Invalid(field, f"the {who} no longer has an account")
        if self.suspended:
            raise Forbidden(f"the {who}'s account is suspended: they cannot book or be booked", field=field)

    def set_standing(self, *, suspended: bool | None = None, erased: bool | None = None) -> bool:
        new = (self.suspended if suspended is None else suspended, self.erased if erased is None else erased)
        if new == (self.suspended, self.erased):
            return False
        self._standing(*new)
        return True

    @event("Standing")
    def _standing(self, suspended: bool, erased: bool) -> None:
        self.suspended, self.erased = suspended, erased

    # -- promised time -------------------------------------------------------------------

    def clashes(self, starts_at: datetime, ends_at: datetime, buffer: timedelta, *,
                group_id: UUID | None = None, capacity: int = 1, ignore: tuple[UUID, int] | None = None) -> str | None:
        """Why [starts_at, ends_at) cannot be promised (None: it can). A seat in a group
        session fits beside the group's other seats while seats are left."""
        seats = 0
        for b in self.busy:
            if ignore is not None and (b["booking_id"], b["occurrence"]) == ignore:
                continue
            same_group = group_id is not None and b.get("group_id") == group_id
            if same_group and (b["starts_at"], b["ends_at"]) == (starts_at, ends_at):
                seats += 1
                continue
            if overlaps(starts_at, ends_at, b["starts_at"], b["ends_at"], buffer):
                return "that time is already booked"
        if group_id is not None and seats >= capacity:
            return "the group session is full"
        return None

    def seats_taken(self, group_id: UUID) -> int:
        return sum(1 for b in self.busy if b.get("group_id") == group_id)

    def check_free(self, slots: list[tuple[int, datetime, datetime]], buffer: timedelta, field: str, *,
                   group_id: UUID | None = None, capacity: int = 1) -> None:
        for i, (_, starts_at, ends_at) in enumerate(slots):
            why = self.clashes(starts_at, ends_at, buffer, group_id=group_id, capacity=capacity)
            if why:
                raise SlotTaken(f"{why} ({starts_at.isoformat()})", field=f"{field}.{i}" if len(slots) > 1 else field)

    def reserve(self, booking_id: UUID, role: str, slots: list[tuple[int, datetime, datetime]], now: datetime, *,
                group_id: UUID | None = None, trial_with: UUID | None = None) -> None:
        self._reserved(booking_id, role, [{"occurrence": n, "starts_at": s, "ends_at": e} for n, s, e in slots],
                       group_id, trial_with, now)

    @event("Reserved")
    def _reserved(self, booking_id: UUID, role: str, slots: list[dict[str, Any]], group_id: UUID | None,
                  trial_with: UUID | None, now: datetime) -> None:
        self.busy = [b for b in self.busy if b["ends_at"] + KEEP_PAST > now]
        for s in slots:
            self.busy.append({"booking_id": booking_id, "occurrence": s["occurrence"], "starts_at": s["starts_at"],
                              "ends_at": s["ends_at"], "role": role, "group_id": group_id})
        if not any(b[0] == booking_id for b in self.bookings):
            self.bookings.append([booking_id, role])
        if trial_with is not None and trial_with not in self.trials:
            self.trials.append(trial_with)

    def release(self, booking_id: UUID, occurrences: list[int] | None = None, *,
                trial_with: UUID | None = None) -> bool:
        held = [b for b in self.busy if b["booking_id"] == booking_id
                and (occurrences is None or b["occurrence"] in occurrences)]
        returning_trial = trial_with is not None and trial_with in self.trials
        if not held and not returning_trial:
            return False
        self._released(booking_id, occurrences, trial_with if returning_trial else None)
        return True

    @event("Released")
    def _released(self, booking_id: UUID, occurrences: list[int] | None, trial_with: UUID | None) -> None:
        self.busy = [b for b in self.busy if not (b["booking_id"] == booking_id
                                                  and (occurrences is None or b["occurrence"] in occurrences))]
        if trial_with is not None and trial_with in self.trials:
            self.trials.remove(trial_with)

    def move(self, booking_id: UUID, occurrence: int, starts_at: datetime, ends_at: datetime) -> None:
        self._moved(booking_id, occurrence, starts_at, ends_at)

    @event("Moved")
    def _moved(self, booking_id: UUID, occurrence: int, starts_at: datetime, ends_at: datetime) -> None:
        for b in self.busy:
            if b["booking_id"] == booking_id and b["occurrence"] == occurrence:
                b["starts_at"], b["ends_at"] = starts_at, ends_at

    # -- the rest ------------------------------------------------------------------------

    def had_trial_with(self, tutor_id: UUID) -> bool:
        return tutor_id in self.trials

    @event("TutorCancellationCounted")
    def count_tutor_cancellation(self, booking_id: UUID) -> None:
        self.tutor_cancellations += 1

    @event("FeedRotated")
    def rotate_feed(self) -> None:
        self.feed_generation += 1

    def booking_ids(self) -> list[tuple[UUID, str]]:
        """Newest first."""
        return [(b[0], b[1]) for b in reversed(self.bookings)]
