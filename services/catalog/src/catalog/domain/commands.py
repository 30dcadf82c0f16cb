"""What the application receives: typed, immutable values built at the edge (http.py, from
the request schemas). Types, lengths and ranges were checked there; the domain checks only
the rules that need the catalogue or a look at several fields at once."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import Enum
from typing import Literal, get_args
from uuid import UUID

# Catalog's own vocabulary (levels and modes are shared: alphapeer_contracts.vocabulary).
SessionMinutes = Literal[15, 30, 45, 60, 90, 120]
SESSION_MINUTES: tuple[SessionMinutes, ...] = get_args(SessionMinutes)
TeachingStyle = Literal["structured", "socratic", "exam_focused", "project_based", "visual", "hands_on",
                        "conversational", "patient"]
TEACHING_STYLES: tuple[TeachingStyle, ...] = get_args(TeachingStyle)
Communication = Literal["text_chat", "voice", "video", "in_person", "async_feedback"]
COMMUNICATION: tuple[Communication, ...] = get_args(Communication)
TrialMinutes = Literal[15, 20, 30]
WithdrawReason = Literal["by_tutor", "by_staff", "tutor_erased", "tutor_role_revoked"]
RetireReason = Literal["outdated", "replaced", "quality", "creator_left", "other"]


@dataclass(frozen=True)
class Caller:
    """Who asks: nobody signed in (``user_id`` None), or a user, staff or not."""

    user_id: UUID | None = None
    staff: bool = False


# -- taxonomy ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class NewSubject:
    area: str
    name: str
    topics: tuple[str, ...] = ()


# -- listings ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SubjectChoice:
    subject_id: str
    level: str
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rate:
    """Per hour; 0 means free. At least one of the two amounts is a business rule."""

    credits_per_hour: int | None = None
    amount_minor_per_hour: int | None = None
    currency: str | None = None


@dataclass(frozen=True)
class Place:
    campus: str | None = None
    lat: float | None = None
    lon: float | None = None
    travel_radius_km: float = 0


@dataclass(frozen=True)
class Trial:
    minutes: TrialMinutes
    free: bool = True


@dataclass(frozen=True)
class ListingDetails:
    """A whole listing as the tutor describes it (POST)."""

    title: str
    subjects: tuple[SubjectChoice, ...]
    rate: Rate
    session_minutes: tuple[SessionMinutes, ...]
    modes: tuple[str, ...]
    languages: tuple[str, ...]
    place: Place | None = None
    teaching_styles: tuple[TeachingStyle, ...] = ()
    communication: tuple[Communication, ...] = ()
    bio: str = ""
    qualifications: str = ""
    trial: Trial | None = None


class Keep(Enum):
    """A field a PATCH does not name: it keeps its value (None would mean "clear")."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True)
class ListingChanges:
    """Part of a listing (PATCH): every field left at KEEP keeps its value."""

    title: str | Keep = KEEP
    subjects: tuple[SubjectChoice, ...] | Keep = KEEP
    rate: Rate | Keep = KEEP
    session_minutes: tuple[SessionMinutes, ...] | Keep = KEEP
    modes: tuple[str, ...] | Keep = KEEP
    languages: tuple[str, ...] | Keep = KEEP
    place: Place | Keep | None = KEEP
    teaching_styles: tuple[TeachingStyle, ...] | Keep = KEEP
    communication: tuple[Communication, ...] | Keep = KEEP
    bio: str | Keep = KEEP
    qualifications: str | Keep = KEEP
    trial: Trial | Keep | None = KEEP

    def applied_to(self, details: ListingDetails) -> ListingDetails:
        given = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not KEEP}
        return replace(details, **given)


@dataclass(frozen=True)
class PromotionOffer:
    code: str  # upper case
    expires_at: datetime  # aware
    percent_off: int | None = None
    credits_off: int | None = None
    max_redemptions: int | None = None


@dataclass(frozen=True)
class Upload:
    """A file sent for a listing, not yet checked (the media store recognises it by its bytes)."""

    filename: str
    declared_type: str | None
    data: bytes


@dataclass(frozen=True)
class MediaFile:
    """A sample file in the media store, as the listing records it."""

    media_id: UUID
    kind: str
    content_type: str
    url: str
    sha256: str
    size: int | None

    @classmethod
    def of(cls, record: dict[str, object]) -> MediaFile:
        """From the listing's snapshot (files recorded long ago may lack their size)."""
        size = record.get("size")
        return cls(UUID(str(record["media_id"])), str(record["kind"]), str(record["content_type"]),
                   str(record["url"]), str(record["sha256"]), size if isinstance(size, int) else None)

    def record(self) -> dict[str, object]:
        """As stored in the listing's snapshot (and published): the id as text."""
        return {"media_id": str(self.media_id), "kind": self.kind, "content_type": self.content_type,
                "url": self.url, "sha256": self.sha256, "size": self.size}


# -- courses ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Material:
    title: str
    url: str


@dataclass(frozen=True)
class Question:
    prompt: str
    choices: tuple[str, ...]
    answer: int  # index into choices; never shown to learners


@dataclass(frozen=True)
class Module:
    title: str
    summary: str = ""
    materials: tuple[Material, ...] = ()
    quiz: tuple[Question, ...] = ()


@dataclass(frozen=True)
class Completion:
    min_quiz_score_pct: int = 70
    modules_required: int | None = None  # None: every module


@dataclass(frozen=True)
class CourseDraft:
    title: str
    subject_id: str
    level: str
    modules: tuple[Module, ...]
    description: str = ""
    completion: Completion = Completion()
    levels: tuple[str, ...] = ()
    level_up_after: tuple[int, ...] | None = None  # None: spread evenly over the modules
    price_credits: int = 0
