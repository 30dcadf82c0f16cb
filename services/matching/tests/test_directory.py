"""Matching's directory in-process on a real PostgreSQL, fed identity's and catalog's
events through its projection reaction, as the subscriber would."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from alphapeer_contracts import catalog as cat
from alphapeer_contracts import identity as idc
from matching.main import build
from matching.settings import MatchingSettings
from servicekit import envelope
from servicekit.subscriber import Delivery

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
UCL = (51.5246, -0.1340)  # a campus in London
KINGS = (51.5115, -0.1160)  # 2 km away
OXFORD = (51.7548, -1.2544)  # 80 km away


class TestKeys:
    def key_for(self, kid: str) -> Any:
        return KEY.public_key() if kid == "test" else None


def auth() -> dict[str, str]:
    now = int(time.time())
    t = jwt.encode({"sub": str(uuid.uuid4()), "roles": ["student"], "iat": now, "exp": now + 600,
                    "iss": "alphapeer-identity", "aud": "alphapeer"}, KEY, algorithm="RS256", headers={"kid": "test"})
    return {"Authorization": f"Bearer {t}"}


def now() -> datetime:
    return datetime.now(UTC)


class Feed:
    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.reaction = client.app.state.reaction  # type: ignore[attr-defined]
        self.seq = {"identity.events": 0, "catalog.events": 0}

    def send(self, event: Any) -> None:
        topic = event.topic()
        self.seq[topic] += 1
        env = envelope.Envelope(id=str(uuid.uuid4()), type=event.ce_type(), source="t", subject=event.key(),
                                time=event.occurred_at, sequence=self.seq[topic])
        self.reaction(event, Delivery(topic, self.seq[topic], env))

    def tutor(self, name: str, verified: bool = False) -> UUID:
        uid = uuid.uuid4()
        self.send(idc.UserRegistered(user_id=uid, display_name=name, roles=["student"], occurred_at=now()))
        self.send(idc.TutorApproved(application_id=uuid.uuid4(), user_id=uid, subjects=[], levels=[],
                                    approved_by=uuid.uuid4(), occurred_at=now()))
        if verified:
            self.send(idc.BackgroundCheckUpdated(user_id=uid, status="clear", provider="manual", occurred_at=now()))
        return uid

    def listing(self, tutor: UUID, *, subject: tuple[str, str, str] = ("mathematics.algebra-i", "Algebra I",
                "Mathematics"), level: str = "introductory", credits: int = 10, where: tuple[float, float] | None
                = None, bio: str = "", languages: tuple[str, ...] = ("en",), styles: tuple[str, ...] = (),
                modes: tuple[str, ...] = ("online",), title: str = "Tutoring") -> UUID:
        lid = uuid.uuid4()
        snapshot = cat.ListingSnapshot(
            tutor_id=tutor, title=title,
            subjects=[cat.SubjectTaught(subject_id=subject[0], name=subject[1], area=subject[2], level=level)],
            rate=cat.Rate(credits_per_hour=credits), session_minutes=[60], modes=list(modes),
            place=cat.Place(campus="Campus", lat=where[0], lon=where[1], travel_radius_km=0) if where else None,
            languages=list(languages), teaching_styles=list(styles), bio=bio)
        self.send(cat.ListingPublished(listing_id=lid, listing=snapshot, occurred_at=now()))
        return lid


@pytest.fixture
def feed(postgres_url: str, pg_schema: str, tmp_path: Path) -> Iterator[Feed]:
    settings = MatchingSettings(database_url=postgres_url, database_schema=pg_schema, data_dir=tmp_path,
                                subscribers_enabled=False, kafka_bootstrap_servers="127.0.0.1:1",
                                matching_refresh_interval=0.0001)
    with TestClient(build(settings, keys=TestKeys())) as client:
        yield Feed(client)


def search(feed: Feed, **params: Any) -> dict[str, Any]:
    r = feed.client.get("/v1/search", params=params, headers=auth())
    assert r.status_code == 200, r.text
    return r.json()


def ids(result: dict[str, Any]) -> list[str]:
    return [i["listing_id"] for i in result["items"]]


def test_finds_by_subject_level_text_price_language_and_style(feed: Feed) -> None:
    ada, bo = feed.tutor("Ada"), feed.tutor("Bo", verified=True)
    alg = feed.listing(ada, bio="Quadratics and factorising made visual", styles=("visual",), credits=8)
    phys = feed.listing(bo, subject=("sciences.physics", "Physics", "Sciences"), level="advanced",
                        bio="Mechanics, forces and energy", languages=("es", "en"), credits=20)
    assert ids(search(feed, subject="mathematics.algebra-i")) == [str(alg)]
    assert ids(search(feed, subject="sciences.physics", level="introductory")) == []
    assert ids(search(feed, q="quadratic")) == [str(alg)]  # plural/singular
    assert ids(search(feed, q="physics forces")) == [str(phys)]  # subject name and bio
    assert ids(search(feed, max_credits=10)) == [str(alg)]
    assert ids(search(feed, min_credits=15)) == [str(phys)]
    assert ids(search(feed, language="es")) == [str(phys)]
    assert ids(search(feed, style="visual")) == [str(alg)]
    assert ids(search(feed, verified_only="true")) == [str(phys)]
    assert search(feed, q="quadratic")["items"][0]["display_name"] == "Ada"


def test_distance_filter_and_sort_use_the_tutors_place(feed: Feed) -> None:
    t = feed.tutor("Tess")
    near = feed.listing(t, where=KINGS, modes=("in_person",))
    far = feed.listing(t, where=OXFORD, modes=("in_person",))
    feed.listing(t)  # online only, no place
    found = search(feed, near=f"{UCL[0]},{UCL[1]}", within_km=5)
    assert ids(found) == [str(near)] and 1.5 < found["items"][0]["distance_km"] < 2.5
    by_distance = search(feed, near=f"{UCL[0]},{UCL[1]}", sort="distance", mode="in_person")
    assert ids(by_distance) == [str(near), str(far)]


def test_a_suspended_tutor_disappears_and_comes_back_when_reinstated(feed: Feed) -> None:
    t = feed.tutor("Sam")
    lid = feed.listing(t)
    assert ids(search(feed)) == [str(lid)]
    feed.send(idc.UserSuspended(user_id=t, suspended_by=uuid.uuid4(), reason_code="conduct", occurred_at=now()))
    assert ids(search(feed)) == []
    feed.send(idc.UserReinstated(user_id=t, reinstated_by=uuid.uuid4(), occurred_at=now()))
    assert ids(search(feed)) == [str(lid)]
    feed.send(cat.ListingWithdrawn(listing_id=lid, tutor_id=t, reason_code="by_tutor", occurred_at=now()))
    assert ids(search(feed)) == []


def test_pages_follow_a_stable_cursor(feed: Feed) -> None:
    t = feed.tutor("Pat")
    made = [feed.listing(t, credits=c) for c in (5, 7, 9, 11, 13)]
    first = search(feed, sort="price", limit=2)
    assert ids(first) == [str(made[0]), str(made[1])] and first["total"] == 5
    feed.listing(t, credits=1)  # a cheaper listing arrives between pages
    second = search(feed, sort="price", limit=2, cursor=first["next_cursor"])
    assert ids(second) == [str(made[2]), str(made[3])]


@pytest.mark.parametrize(("params", "field"), [
    ({"near": "north,west"}, "near"),
    ({"near": "123,0"}, "near"),
    ({"within_km": 5}, "within_km"),
    ({"min_credits": -1}, "query.min_credits"),
    ({"min_credits": 9, "max_credits": 3}, "min_credits"),
    ({"sort": "distance"}, "sort"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"level": "guru"}, "query.level"),
])
def test_bad_queries_are_refused_naming_the_parameter(feed: Feed, params: dict[str, Any], field: str) -> None:
    r = feed.client.get("/v1/search", params=params, headers=auth())
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field


def test_search_needs_a_signed_in_caller(feed: Feed) -> None:
    assert feed.client.get("/v1/search").status_code == 401
