"""Listings and tutor standing.

A listing is drafted by a tutor, published when the tutor is in good standing, paused and
published again, and withdrawn for good. Its events carry the whole public snapshot and
whether it is visible, so the public contract is built from the event alone."""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from catalog.domain.errors import Conflict, NotEligible, NotFound, ValidationError
from catalog.domain.rules import text_field
from catalog.domain.taxonomy import Taxonomy, check_level

SESSION_MINUTES = (15, 30, 45, 60, 90, 120)
MODES = ("online", "in_person")
TEACHING_STYLES = ("structured", "socratic", "exam_focused", "project_based", "visual", "hands_on",
                   "conversational", "patient")
COMMUNICATION = ("text_chat", "voice", "video", "in_person", "async_feedback")
WITHDRAW_REASONS = ("by_tutor", "by_staff", "tutor_erased", "tutor_role_revoked")
_LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
NAMESPACE = UUID("6a1e2f4c-3b7d-4c9e-8f10-2d3c4b5a6978")


def _subset(field: str, values: list[str], allowed: tuple[Any, ...], required: bool = False) -> list[Any]:
    out = []
    for i, v in enumerate(values):
        if v not in allowed:
            raise ValidationError(f"{field}.{i}", f"must be one of {', '.join(map(str, allowed))}")
        if v not in out:
            out.append(v)
    if required and not out:
        raise ValidationError(field, "must name at least one")
    return out


def build_snapshot(raw: dict[str, Any], tutor_id: UUID, taxonomy: Taxonomy) -> dict[str, Any]:
    """Validate a listing as a whole; every error names its field."""
    subjects = []
    raw_subjects = raw.get("subjects") or []
    if not raw_subjects:
        raise ValidationError("subjects", "must name at least one subject and level")
    seen = set()
    for i, s in enumerate(raw_subjects):
        subject = taxonomy.subject(str(s.get("subject_id", "")), field=f"subjects.{i}.subject_id")
        level = check_level(str(s.get("level", "")), f"subjects.{i}.level")
        topics = list(s.get("topics") or [])
        for j, t in enumerate(topics):
            if t not in subject["topics"]:
                raise ValidationError(f"subjects.{i}.topics.{j}", f"{t!r} is not a topic of {subject['name']}")
        if (subject["subject_id"], level) in seen:
            continue
        seen.add((subject["subject_id"], level))
        subjects.append({"subject_id": subject["subject_id"], "name": subject["name"], "area": subject["area"],
                         "level": level, "topics": topics})

    rate_in = raw.get("rate") or {}
    credits, amount, currency = rate_in.get("credits_per_hour"), rate_in.get("amount_minor_per_hour"), \
        rate_in.get("currency")
    if credits is None and amount is None:
        raise ValidationError("rate", "give credits_per_hour and/or amount_minor_per_hour (0 means free)")
    for name, value in (("credits_per_hour", credits), ("amount_minor_per_hour", amount)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ValidationError(f"rate.{name}", "must be a whole number, 0 or more")
        if value is not None and value > 10_000_000:
            raise ValidationError(f"rate.{name}", "is implausibly high")
    if amount is not None and not (isinstance(currency, str) and _CURRENCY.match(currency)):
        raise ValidationError("rate.currency", "must be an ISO 4217 code like GBP when a money rate is given")
    rate = {"credits_per_hour": credits, "amount_minor_per_hour": amount,
            "currency": currency if amount is not None else None}

    modes = _subset("modes", list(raw.get("modes") or []), MODES, required=True)
    place = None
    place_in = raw.get("place")
    if place_in:
        lat, lon = place_in.get("lat"), place_in.get("lon")
        if (lat is None) != (lon is None):
            raise ValidationError("place", "lat and lon go together")
        for name, value, bound in (("lat", lat, 90), ("lon", lon, 180)):
            if value is not None and (not isinstance(value, int | float) or isinstance(value, bool)
                                      or not math.isfinite(value) or abs(value) > bound):
                raise ValidationError(f"place.{name}", f"must be a number between -{bound} and {bound}")
        radius = place_in.get("travel_radius_km", 0) or 0
        if not isinstance(radius, int | float) or not 0 <= radius <= 100:
            raise ValidationError("place.travel_radius_km", "must be between 0 and 100")
        campus = (place_in.get("campus") or "").strip() or None
        if campus and len(campus) > 120:
            raise ValidationError("place.campus", "must be at most 120 characters")
        if campus is None and lat is None:
            raise ValidationError("place", "give a campus, a point (lat, lon), or both")
        place = {"campus": campus, "lat": lat, "lon": lon, "travel_radius_km": float(radius)}
    if "in_person" in modes and place is None:
        raise ValidationError("place", "in-person tutoring needs a campus or a point")

    languages = []
    for i, code in enumerate(raw.get("languages") or []):
        if not _LANG.match(str(code)):
            raise ValidationError(f"languages.{i}", f"{code!r} is not a language tag like 'en' or 'pt-BR'")
        languages.append(code)
    if not languages:
        raise ValidationError("languages", "must name at least one language")

    trial = None
    if raw.get("trial"):
        minutes = raw["trial"].get("minutes")
        if minutes not in (15, 20, 30):
            raise ValidationError("trial.minutes", "must be 15, 20 or 30")
        trial = {"minutes": minutes, "free": bool(raw["trial"].get("free", True))}

    return {
        "tutor_id": str(tutor_id),
        "title": text_field("title", raw.get("title"), 3, 120),
        "subjects": subjects,
        "rate": rate,
        "session_minutes": sorted(_subset("session_minutes", list(raw.get("session_minutes") or []),
                                          SESSION_MINUTES, required=True)),
        "modes": modes,
        "place": place,
        "languages": languages,
        "teaching_styles": _subset("teaching_styles", list(raw.get("teaching_styles") or []), TEACHING_STYLES),
        "communication": _subset("communication", list(raw.get("communication") or []), COMMUNICATION),
        "bio": text_field("bio", raw.get("bio"), 0, 3000),
        "qualifications": text_field("qualifications", raw.get("qualifications"), 0, 1000),
        "trial": trial,
        "media": list(raw.get("media") or []),
    }


class Listing(Aggregate):
    @event("Drafted")
    def __init__(self, tutor_id: UUID, snapshot: dict[str, Any]) -> None:
        self.tutor_id = tutor_id
        self.snapshot = snapshot
        self.status = "draft"
        self.promotions: list[dict[str, Any]] = []

    @property
    def visible(self) -> bool:
        return self.status == "published"

    def _check_open(self) -> None:
        if self.status == "withdrawn":
            raise Conflict("the listing was withdrawn")

    def edit(self, snapshot: dict[str, Any]) -> None:
        self._check_open()
        snapshot = {**snapshot, "media": self.snapshot.get("media", [])}
        self._edited(snapshot, self.visible)

    @event("Edited")
    def _edited(self, snapshot: dict[str, Any], visible: bool) -> None:
        self.snapshot = snapshot

    def add_media(self, media: dict[str, Any], limit: int = 12) -> None:
        self._check_open()
        if len(self.snapshot.get("media", [])) >= limit:
            raise ValidationError("file", f"a listing shows at most {limit} media files")
        # An edit like any other: the event carries the whole snapshot.
        self._edited({**self.snapshot, "media": [*self.snapshot.get("media", []), media]}, self.visible)

    def add_promotion(self, promotion_id: UUID, code: str, percent_off: int | None, credits_off: int | None,
                      max_redemptions: int | None, expires_at: datetime) -> None:
        self._check_open()
        if any(p["code"] == code and not p["ended"] for p in self.promotions):
            raise Conflict(f"the code {code} is already in use on this listing")
        self._promotion_added(promotion_id, code, percent_off, credits_off, max_redemptions, expires_at,
                              self.tutor_id)

    @event("PromotionAdded")
    def _promotion_added(self, promotion_id: UUID, code: str, percent_off: int | None, credits_off: int | None,
                         max_redemptions: int | None, expires_at: datetime, tutor_id: UUID) -> None:
        self.promotions.append({"promotion_id": str(promotion_id), "code": code, "percent_off": percent_off,
                                "credits_off": credits_off, "max_redemptions": max_redemptions,
                                "expires_at": expires_at.isoformat(), "ended": False})

    def end_promotion(self, promotion_id: UUID) -> None:
        found = next((p for p in self.promotions if p["promotion_id"] == str(promotion_id)), None)
        if found is None:
            raise NotFound("no such promotion")
        if found["ended"]:
            raise Conflict("the promotion has already ended")
        self._promotion_ended(promotion_id)

    @event("PromotionEnded")
    def _promotion_ended(self, promotion_id: UUID) -> None:
        for p in self.promotions:
            if p["promotion_id"] == str(promotion_id):
                p["ended"] = True

    def publish(self, standing: TutorStanding | None) -> None:
        self._check_open()
        if self.status == "published":
            raise Conflict("the listing is already published")
        if standing is None or not standing.may_publish:
            raise NotEligible(standing.why_not if standing else "you are not an approved tutor")
        self._published(self.snapshot)

    @event("Published")
    def _published(self, snapshot: dict[str, Any]) -> None:
        self.status = "published"

    def pause(self) -> None:
        if self.status != "published":
            raise Conflict("only a published listing can be paused")
        self._paused(self.tutor_id)

    @event("Paused")
    def _paused(self, tutor_id: UUID) -> None:
        self.status = "paused"

    def withdraw(self, reason_code: str) -> None:
        self._check_open()
        if reason_code not in WITHDRAW_REASONS:
            raise ValidationError("reason_code", f"must be one of {', '.join(WITHDRAW_REASONS)}")
        self._withdrawn(reason_code, self.tutor_id)

    @event("Withdrawn")
    def _withdrawn(self, reason_code: str, tutor_id: UUID) -> None:
        self.status = "withdrawn"


_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,18}[A-Z0-9]$")


def check_promotion(code: str, percent_off: int | None, credits_off: int | None, max_redemptions: int | None,
                    expires_at: datetime, now: datetime) -> str:
    code = code.strip().upper()
    if not _CODE.match(code):
        raise ValidationError("code", "must be 4 to 20 letters, digits or dashes")
    if (percent_off is None) == (credits_off is None):
        raise ValidationError("percent_off", "give either percent_off or credits_off")
    if percent_off is not None and not 1 <= percent_off <= 100:
        raise ValidationError("percent_off", "must be between 1 and 100")
    if credits_off is not None and credits_off < 1:
        raise ValidationError("credits_off", "must be at least 1")
    if max_redemptions is not None and max_redemptions < 1:
        raise ValidationError("max_redemptions", "must be at least 1")
    if expires_at.tzinfo is None:
        raise ValidationError("expires_at", "must carry a time zone")
    if expires_at <= now:
        raise ValidationError("expires_at", "must be in the future")
    return code


class TutorStanding(Aggregate):
    """What catalog knows of a tutor from identity's events: approved, suspended, erased.
    It also remembers the tutor's listings, so a departure can withdraw them."""

    @staticmethod
    def create_id(tutor_id: UUID) -> UUID:
        return uuid5(NAMESPACE, f"standing:{tutor_id}")

    @event("Opened")
    def __init__(self, tutor_id: UUID) -> None:
        self.tutor_id = tutor_id
        self.approved = False
        self.suspended = False
        self.erased = False
        self.listing_ids: list[UUID] = []

    @property
    def may_publish(self) -> bool:
        return self.approved and not self.suspended and not self.erased

    @property
    def why_not(self) -> str:
        if self.erased:
            return "this account was erased"
        if self.suspended:
            return "your account is suspended"
        return "you are not an approved tutor yet"

    @event("Changed")
    def change(self, approved: bool, suspended: bool, erased: bool) -> None:
        self.approved, self.suspended, self.erased = approved, suspended, erased

    @event("ListingAdded")
    def add_listing(self, listing_id: UUID) -> None:
        self.listing_ids.append(listing_id)
