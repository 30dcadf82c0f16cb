"""Listings: drafted by a tutor, published when the tutor is in good standing, paused and
published again, withdrawn for good.

Every listing event carries the whole public snapshot (a plain dict, the shape of
``alphapeer_contracts.catalog.ListingSnapshotV2``) and whether it is visible, so the public
contract is built from the event alone. The snapshot's shape is what stored events hold:
it must not change.

The tutor's personal text — bio, qualifications and place — is sealed in the snapshot
under the tutor's key (a ``Sealer``): the event store and ``catalog.events`` hold it
sealed, and erasing the tutor (forgetting the key) makes it unreadable everywhere.
Snapshots stored before sealing hold it in the clear; they stay readable until rewritten."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from catalog.domain.commands import (
    KEEP,
    Caller,
    ListingChanges,
    ListingDetails,
    MediaFile,
    Place,
    PromotionOffer,
    Rate,
    SubjectChoice,
    Trial,
    WithdrawReason,
)
from catalog.domain.errors import Conflict, Invalid, NotEligible, NotFound, NotOwner
from catalog.domain.ports import Sealer
from catalog.domain.standing import withheld
from catalog.domain.taxonomy import Taxonomy

if TYPE_CHECKING:
    # Only for annotations: a module attribute named TutorStanding here would resolve the
    # old stored topic "catalog.domain.listing:TutorStanding" by accident (see standing.py).
    from catalog.domain.standing import TutorStanding

MAX_MEDIA = 12


# -- the snapshot: rules on a listing as a whole, each refusal naming its field ---------------

def taught(choices: tuple[SubjectChoice, ...], taxonomy: Taxonomy) -> list[dict[str, Any]]:
    """Subjects that exist now (not retired), with topics of that subject; a subject at the
    same level twice counts once."""
    subjects: list[dict[str, Any]] = []
    seen = set()
    for i, choice in enumerate(choices):
        subject = taxonomy.subject(choice.subject_id, field=f"subjects.{i}.subject_id")
        for j, topic in enumerate(choice.topics):
            if topic not in subject["topics"]:
                raise Invalid(f"subjects.{i}.topics.{j}", f"{topic!r} is not a topic of {subject['name']}")
        if (subject["subject_id"], choice.level) in seen:
            continue
        seen.add((subject["subject_id"], choice.level))
        subjects.append({"subject_id": subject["subject_id"], "name": subject["name"], "area": subject["area"],
                         "level": choice.level, "topics": list(choice.topics)})
    return subjects


def _rate(rate: Rate) -> dict[str, Any]:
    if rate.credits_per_hour is None and rate.amount_minor_per_hour is None:
        raise Invalid("rate", "give credits_per_hour and/or amount_minor_per_hour (0 means free)")
    if rate.amount_minor_per_hour is not None and rate.currency is None:
        raise Invalid("rate.currency", "must be an ISO 4217 code like GBP when a money rate is given")
    return {"credits_per_hour": rate.credits_per_hour, "amount_minor_per_hour": rate.amount_minor_per_hour,
            "currency": rate.currency if rate.amount_minor_per_hour is not None else None}


def _place(place: Place | None, modes: tuple[str, ...]) -> dict[str, Any] | None:
    if place is not None:
        if (place.lat is None) != (place.lon is None):
            raise Invalid("place", "lat and lon go together")
        if place.campus is None and place.lat is None:
            raise Invalid("place", "give a campus, a point (lat, lon), or both")
        return {"campus": place.campus, "lat": place.lat, "lon": place.lon,
                "travel_radius_km": float(place.travel_radius_km)}
    if "in_person" in modes:
        raise Invalid("place", "in-person tutoring needs a campus or a point")
    return None


def _distinct(values: tuple[Any, ...]) -> list[Any]:
    return list(dict.fromkeys(values))


#: The snapshot's fields that are the tutor's personal text (sealed; ``place`` as JSON).
PERSONAL = ("bio", "qualifications", "place")


def _sealed(value: str | None) -> bool:
    return isinstance(value, str) and value.startswith("v1.")


def seal_personal(snapshot: dict[str, Any], sealer: Sealer) -> dict[str, Any]:
    tutor = UUID(snapshot["tutor_id"])
    place = snapshot.get("place")
    return {**snapshot,
            "bio": sealer.seal(tutor, snapshot["bio"]) if snapshot.get("bio") else None,
            "qualifications": sealer.seal(tutor, snapshot["qualifications"]) if snapshot.get("qualifications")
            else None,
            "place": sealer.seal(tutor, json.dumps(place, sort_keys=True)) if place else None}


def opened(snapshot: dict[str, Any], sealer: Sealer) -> dict[str, Any]:
    """The snapshot with its personal text readable: "" and no place once the tutor's key
    is gone (erased); a snapshot stored before sealing as it is."""
    tutor = UUID(snapshot["tutor_id"])

    def text(value: Any) -> str:
        if not value:
            return ""
        return (sealer.open(tutor, value) or "") if _sealed(value) else str(value)

    place = snapshot.get("place")
    if isinstance(place, str) and _sealed(place):
        place_text = sealer.open(tutor, place)
        place = json.loads(place_text) if place_text else None
    return {**snapshot, "bio": text(snapshot.get("bio")), "qualifications": text(snapshot.get("qualifications")),
            "place": place}


def _snapshot(tutor_id: UUID, details: ListingDetails, subjects: list[dict[str, Any]],
              media: list[dict[str, Any]], sealer: Sealer) -> dict[str, Any]:
    return seal_personal({
        "tutor_id": str(tutor_id),
        "title": details.title,
        "subjects": subjects,
        "rate": _rate(details.rate),
        "session_minutes": sorted(_distinct(details.session_minutes)),
        "modes": _distinct(details.modes),
        "place": _place(details.place, details.modes),
        "languages": list(details.languages),
        "teaching_styles": _distinct(details.teaching_styles),
        "communication": _distinct(details.communication),
        "bio": details.bio,
        "qualifications": details.qualifications,
        "trial": {"minutes": details.trial.minutes, "free": details.trial.free} if details.trial else None,
        "media": media,
    }, sealer)


def _details(snapshot: dict[str, Any], sealer: Sealer) -> ListingDetails:
    """A stored snapshot as the values a change is applied to."""
    snapshot = opened(snapshot, sealer)
    place, trial = snapshot.get("place"), snapshot.get("trial")
    return ListingDetails(
        title=snapshot["title"],
        subjects=tuple(SubjectChoice(s["subject_id"], s["level"], tuple(s.get("topics") or ()))
                       for s in snapshot["subjects"]),
        rate=Rate(**snapshot["rate"]),
        session_minutes=tuple(snapshot["session_minutes"]),
        modes=tuple(snapshot["modes"]),
        languages=tuple(snapshot["languages"]),
        place=Place(**place) if place else None,
        teaching_styles=tuple(snapshot.get("teaching_styles") or ()),
        communication=tuple(snapshot.get("communication") or ()),
        bio=snapshot.get("bio", ""),
        qualifications=snapshot.get("qualifications", ""),
        trial=Trial(**trial) if trial else None,
    )


# -- the aggregate ------------------------------------------------------------------------------

class Listing(Aggregate):
    @event("Drafted")
    def __init__(self, tutor_id: UUID, snapshot: dict[str, Any]) -> None:
        self.tutor_id = tutor_id
        self.snapshot = snapshot
        self.status = "draft"
        self.promotions: list[dict[str, Any]] = []

    @classmethod
    def draft(cls, tutor_id: UUID, details: ListingDetails, taxonomy: Taxonomy, sealer: Sealer) -> Listing:
        subjects = taught(details.subjects, taxonomy)
        return cls(tutor_id=tutor_id, snapshot=_snapshot(tutor_id, details, subjects, [], sealer))

    @property
    def visible(self) -> bool:
        return self.status == "published"

    def shown_to(self, caller: Caller, owner: TutorStanding | None) -> bool:
        """Its tutor and staff see it in any state; others a published listing, and not while
        its tutor is suspended (then it is as if absent)."""
        if caller.staff or caller.user_id == self.tutor_id:
            return True
        return self.visible and not withheld(owner)

    def check_owner(self, caller: Caller) -> None:
        """Its tutor, or staff (where staff may act: the application passes who acts)."""
        if caller.user_id != self.tutor_id and not caller.staff:
            raise NotOwner("this listing belongs to another tutor")

    def _check_open(self) -> None:
        if self.status == "withdrawn":
            raise Conflict("the listing was withdrawn")

    def edit(self, changes: ListingChanges, taxonomy: Taxonomy, sealer: Sealer) -> None:
        """The listing with ``changes`` applied must still be a valid listing as a whole.
        Its subjects are checked against the taxonomy only when they change: a subject
        retired since stays on the listings that had it."""
        self._check_open()
        details = changes.applied_to(_details(self.snapshot, sealer))
        subjects = self.snapshot["subjects"] if changes.subjects is KEEP else taught(details.subjects, taxonomy)
        self._edited(_snapshot(self.tutor_id, details, subjects, self.snapshot.get("media", []), sealer),
                     self.visible)

    @event("Edited")
    def _edited(self, snapshot: dict[str, Any], visible: bool) -> None:
        self.snapshot = snapshot

    def check_takes_media(self) -> None:
        """Whether one more file may be added (asked before the file is stored)."""
        self._check_open()
        if len(self.snapshot.get("media", [])) >= MAX_MEDIA:
            raise Invalid("file", f"a listing shows at most {MAX_MEDIA} media files")

    def add_media(self, media: MediaFile) -> None:
        self.check_takes_media()
        # An edit like any other: the event carries the whole snapshot.
        self._edited({**self.snapshot, "media": [*self.snapshot.get("media", []), media.record()]}, self.visible)

    def media_file(self, media_id: UUID) -> MediaFile | None:
        found = next((m for m in self.snapshot.get("media", []) if m["media_id"] == str(media_id)), None)
        return MediaFile.of(found) if found else None

    def add_promotion(self, promotion_id: UUID, offer: PromotionOffer, now: datetime) -> None:
        self._check_open()
        if (offer.percent_off is None) == (offer.credits_off is None):
            raise Invalid("percent_off", "give either percent_off or credits_off")
        if offer.expires_at <= now:
            raise Invalid("expires_at", "must be in the future")
        if any(p["code"] == offer.code and not p["ended"] for p in self.promotions):
            raise Conflict(f"the code {offer.code} is already in use on this listing")
        self._promotion_added(promotion_id, offer.code, offer.percent_off, offer.credits_off,
                              offer.max_redemptions, offer.expires_at, self.tutor_id)

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

    def withdraw(self, reason_code: WithdrawReason) -> None:
        self._check_open()
        self._withdrawn(reason_code, self.tutor_id)

    @event("Withdrawn")
    def _withdrawn(self, reason_code: str, tutor_id: UUID) -> None:
        self.status = "withdrawn"
