"""The shapes of matching's answers (each route's ``response_model``), so the OpenAPI
document says exactly what a client receives. A result shows who the tutor is, then the
listing as catalog published it (``alphapeer_contracts.catalog.ListingSnapshot``'s parts).
A field marked "only …" is left out otherwise (never null)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from alphapeer_contracts.catalog import Media, Place, Rate, SubjectTaught, TrialOffer
from alphapeer_contracts.vocabulary import Level, Mode


class Card(BaseModel):
    """Who the result is."""

    listing_id: UUID
    tutor_id: UUID
    display_name: str
    headline: str | None = None
    verified: bool = Field(description="background check clear")


class SearchItem(Card):
    title: str
    subjects: list[SubjectTaught]
    rate: Rate
    session_minutes: list[int]
    modes: list[Mode]
    place: Place | None = None
    languages: list[str]
    teaching_styles: list[str] = []
    communication: list[str] = []
    bio: str = ""
    trial: TrialOffer | None = None
    media: list[Media] = []
    relevance: float | None = Field(default=None, description="only with `q`: how well the words (or meaning) match")
    distance_km: float | None = Field(default=None, description="only with `near`, for a listing with a place")


class SearchResult(BaseModel):
    items: list[SearchItem]
    total: int = Field(description="listings matching the filters, on every page")
    next_cursor: str | None = Field(description="the next page's `cursor`; null on the last page")
    matched_by: Literal["words", "meaning"] | None = Field(
        default=None, description="only with `q`: by its words, or by meaning when no listing has them")


class Recommended(Card):
    rank: int
    title: str | None
    subjects: list[SubjectTaught] | None
    rate: Rate | None
    modes: list[Mode] | None
    score: float
    components: dict[str, float] = Field(description="each component of the score, in [0, 1]")
    similarity: float | None = Field(description="cosine of the goal and the expertise; null until indexed")
    new_tutor: bool
    exposure_slot: bool = Field(description="shown in a place kept for new tutors")
    why: list[str] = Field(description="short reasons, strongest first")
    distance_km: float | None = Field(default=None, description="only with `near`, for a listing with a place")


class IndexState(BaseModel):
    pending: int = Field(description="listings ranked without their sentence vector yet")


class Recommendations(BaseModel):
    items: list[Recommended]
    total: int = Field(description="listings passing the hard filters")
    weights: dict[str, float]
    index: IndexState


class PeerCourse(BaseModel):
    kind: Literal["course"]
    course_id: UUID
    creator_id: UUID
    title: str
    subject_id: str
    level: Level
    price_credits: int
    score: float
    why: str


class PeerRecommendations(BaseModel):
    basis: Literal["peers", "popular"] = Field(
        description="`popular`: the caller has no choices yet, so the most chosen courses")
    items: list[PeerCourse]
