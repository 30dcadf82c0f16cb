"""What booking's use cases are asked to do, as values: typed at the edge (http.py builds
them from the request bodies), so the domain checks rules, never types. The institution's
rules (cancellation tiers, deadlines) are values too, built from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal
from uuid import UUID

from alphapeer_contracts.vocabulary import Mode

Kind = Literal["single", "trial", "package", "recurring", "group"]
Party = Literal["tutor", "student", "staff", "system"]
CancelReason = Literal["schedule_conflict", "illness", "no_longer_needed", "tutor_unavailable", "suspended",
                       "policy_violation", "other"]
DeclineReason = Literal["unavailable", "not_a_fit", "other"]
DisputeReason = Literal["tutor_absent", "student_absent", "ended_early", "quality", "conduct", "other"]
Absent = Literal["tutor", "student", "both"]
Outcome = Literal["completed", "no_show"]
#: Basis points: 10000 is everything.
ALL = 10000


@dataclass(frozen=True)
class Caller:
    user_id: UUID
    staff: bool = False


# -- availability ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class WeeklyWindow:
    weekday: int  # 0 = Monday
    start: str  # "HH:MM" in the tutor's zone
    end: str


@dataclass(frozen=True)
class DayWindow:
    start: str
    end: str


@dataclass(frozen=True)
class DatedException:
    """A local date that does not follow the weekly rules: ``windows`` replace the day's
    (none: closed all day)."""

    day: date
    windows: tuple[DayWindow, ...] = ()


@dataclass(frozen=True)
class AvailabilityRules:
    time_zone: str
    weekly: tuple[WeeklyWindow, ...]
    exceptions: tuple[DatedException, ...] = ()
    buffer_minutes: int = 0
    min_notice_minutes: int = 120
    horizon_days: int = 60
    slot_step_minutes: int = 30
    #: Confirmed as soon as the credits are held; otherwise the tutor accepts or declines.
    instant_book: bool = False
    #: Seats in a group session (1: one-to-one only).
    group_capacity: int = 1
    #: Where in-person sessions happen (shown to booked parties and in their calendars).
    place: str | None = None


# -- bookings ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BookingRequest:
    listing_id: UUID
    kind: Kind
    minutes: int
    #: One start for a single, trial, group or recurring booking; several for a package.
    starts_at: tuple[datetime, ...]
    mode: Mode
    currency: str
    #: A recurring booking: this many sessions, a week apart, at the same wall-clock time.
    weeks: int = 1
    promotion_code: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Cancellation:
    reason_code: CancelReason
    note: str
    #: Which occurrences (None: every one still to come).
    occurrences: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Decline:
    reason_code: DeclineReason
    note: str = ""


@dataclass(frozen=True)
class DisputeClaim:
    occurrence: int
    reason_code: DisputeReason
    statement: str
    #: Files and records by reference (a media id, a URL): booking keeps the references.
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class DisputeDecision:
    refund: int  # basis points to the payer
    note: str


@dataclass(frozen=True)
class RecordedOutcome:
    occurrence: int
    outcome: Outcome
    absent: Absent | None = None


# -- the institution's rules ---------------------------------------------------------------------

@dataclass(frozen=True)
class RefundTier:
    hours_before: int
    refund: int  # basis points


@dataclass(frozen=True)
class Policy:
    """What a learner gets back when they cancel: tiers tried from the most hours before the
    start down; inside the last, nothing. Kept with each booking as both sides saw it."""

    tiers: tuple[RefundTier, ...]
    dispute_window_hours: int = 48

    def refund_for(self, starts_at: datetime, now: datetime) -> int:
        ahead = starts_at - now
        for tier in sorted(self.tiers, key=lambda t: -t.hours_before):
            if ahead >= timedelta(hours=tier.hours_before):
                return tier.refund
        return 0

    def record(self) -> dict[str, object]:
        return {"tiers": [{"hours_before": t.hours_before, "refund": t.refund}
                          for t in sorted(self.tiers, key=lambda t: -t.hours_before)],
                "dispute_window_hours": self.dispute_window_hours}

    @classmethod
    def of(cls, record: dict[str, object]) -> Policy:
        tiers = record.get("tiers") or []
        assert isinstance(tiers, list)
        window = record.get("dispute_window_hours", 48)
        assert isinstance(window, int)
        return cls(tuple(RefundTier(int(t["hours_before"]), int(t["refund"])) for t in tiers), window)


@dataclass(frozen=True)
class Rules:
    """The institution's booking rules (settings), in force for new bookings."""

    policy: Policy = field(default_factory=lambda: Policy((RefundTier(24, ALL), RefundTier(2, ALL // 2))))
    #: A request-to-book listing's tutor answers within this many hours (and before the start).
    respond_hours: int = 24
    #: The ledger answers a hold within this many minutes, or the request fails.
    hold_wait_minutes: int = 30
    #: hold_until = the last occurrence's end + the dispute window + this grace.
    hold_grace_hours: int = 96
    #: Staff decide a dispute within this many hours of its opening, else the default applies.
    dispute_decision_hours: int = 48
    dispute_default_refund: int = ALL // 2
    #: A move must be agreed at least this many hours before the original start.
    reschedule_notice_hours: int = 24
    max_occurrences: int = 12
    reminder_minutes: tuple[int, ...] = (1440, 120, 15)
    follow_up_minutes: int = 60

    @property
    def dispute_window(self) -> timedelta:
        return timedelta(hours=self.policy.dispute_window_hours)
