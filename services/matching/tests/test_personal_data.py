"""Names, headlines and bios arrive sealed (v2 events) and are stored sealed: the directory
opens them in memory with the key ring. An erased tutor's keys leave the ring, and with
them every way to read, search or rank by their text — here or in a rebuild."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from alphapeer_contracts import catalog as cat
from alphapeer_contracts import identity as idc
from servicekit.testing import Feed, scan_database
from servicekit.vault import seal_with

NAME, HEADLINE, BIO = "Zebedee Quillfeather", "Marimba whisperer", "Xylophone arpeggios made simple"


def now() -> datetime:
    return datetime.now(UTC)


def test_sealed_personal_text_is_searchable_only_while_its_keys_exist(feed: Any, postgres_url: str) -> None:
    ring = feed.client.app.state.keyring
    tutor = uuid.uuid4()
    identity_key, catalog_key = os.urandom(32), os.urandom(32)
    ring.apply([("identity", str(tutor), ring.wrap.wrap("identity", str(tutor), identity_key)),
                ("catalog", str(tutor), ring.wrap.wrap("catalog", str(tutor), catalog_key))])
    feed.send(idc.UserRegisteredV2(user_id=tutor, display_name=seal_with(identity_key, tutor, NAME),
                                   roles=["student"], occurred_at=now()))
    feed.send(idc.PublicProfileUpdatedV2(
        user_id=tutor, display_name=seal_with(identity_key, tutor, NAME),
        headline=seal_with(identity_key, tutor, HEADLINE), languages=["en"], time_zone="UTC", occurred_at=now()))
    feed.send(idc.TutorApproved(application_id=uuid.uuid4(), user_id=tutor, subjects=[], levels=[],
                                approved_by=uuid.uuid4(), occurred_at=now()))
    place = {"campus": "Music building", "lat": 51.5, "lon": -0.12, "travel_radius_km": 0}
    listing_id = uuid.uuid4()
    feed.send(cat.ListingPublishedV2(listing_id=listing_id, occurred_at=now(), listing=cat.ListingSnapshotV2(
        tutor_id=tutor, title="Percussion", rate=cat.Rate(credits_per_hour=5), session_minutes=[60],
        modes=["online", "in_person"], languages=["en"],
        subjects=[cat.SubjectTaught(subject_id="languages.french", name="French", area="Languages",
                                    level="introductory")],
        bio=seal_with(catalog_key, tutor, BIO), place=seal_with(catalog_key, tutor, json.dumps(place)))))
    feed.settle()
    found = feed.get("/v1/search", q="xylophone arpeggios", near="51.5,-0.12").json()["items"]
    assert [(i["listing_id"], i["display_name"], i["headline"], i["bio"]) for i in found] == [
        (str(listing_id), NAME, HEADLINE, BIO)]
    assert found[0]["distance_km"] == 0.0 and found[0]["place"]["campus"] == "Music building"
    # The tables hold it only sealed.
    assert scan_database(postgres_url, [NAME, HEADLINE, BIO, "Music building"]) == []

    erased = idc.UserErased(user_id=tutor, occurred_at=now())
    Feed(feed.client.app.state.reactions["accounts"])(erased)  # the kit drops their keys from the ring
    feed.send(erased)
    feed.settle()
    assert feed.get("/v1/search", q="xylophone arpeggios").json()["items"] == []
    ring._cache.clear()
    assert ring.open("catalog", tutor, seal_with(catalog_key, tutor, BIO)) is None


def test_text_whose_key_arrives_later_becomes_searchable_then(feed: Any) -> None:
    """The keys topic and the events topics are not ordered with each other."""
    ring = feed.client.app.state.keyring
    tutor, key = uuid.uuid4(), os.urandom(32)
    feed.send(idc.UserRegisteredV2(user_id=tutor, display_name=seal_with(key, tutor, NAME), roles=["student"],
                                   occurred_at=now()))
    feed.send(idc.TutorApproved(application_id=uuid.uuid4(), user_id=tutor, subjects=[], levels=[],
                                approved_by=uuid.uuid4(), occurred_at=now()))
    feed.send(cat.ListingPublishedV2(listing_id=uuid.uuid4(), occurred_at=now(), listing=cat.ListingSnapshotV2(
        tutor_id=tutor, title="Percussion", rate=cat.Rate(credits_per_hour=5), session_minutes=[60],
        modes=["online"], languages=["en"], bio=seal_with(key, tutor, BIO),
        subjects=[cat.SubjectTaught(subject_id="languages.french", name="French", area="Languages",
                                    level="introductory")])))
    feed.settle()
    # Listed, but its words unreadable yet: no word of the bio finds it, and nothing shows.
    before = feed.get("/v1/search", q="xylophone").json()
    assert before.get("matched_by") != "words"
    assert all((i["display_name"], i["bio"]) == ("", "") for i in before["items"])
    ring.apply([("identity", str(tutor), ring.wrap.wrap("identity", str(tutor), key)),
                ("catalog", str(tutor), ring.wrap.wrap("catalog", str(tutor), key))])
    feed.settle()
    found = feed.get("/v1/search", q="xylophone").json()
    assert found["matched_by"] == "words"
    assert [(i["display_name"], i["bio"]) for i in found["items"]] == [(NAME, BIO)]
