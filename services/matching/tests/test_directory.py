"""Matching's directory search through its gateway (fixtures in conftest.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from alphapeer_contracts import catalog as cat
from alphapeer_contracts import identity as idc

UCL = (51.5246, -0.1340)  # a campus in London
KINGS = (51.5115, -0.1160)  # 2 km away
OXFORD = (51.7548, -1.2544)  # 80 km away
Feed = Any


def now() -> datetime:
    return datetime.now(UTC)


def search(feed: Feed, **params: Any) -> dict[str, Any]:
    r = feed.get("/v1/search", **params)
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
    ({"near": "north,west"}, "query.near"),  # the schema's pattern refuses it
    ({"near": "123,0"}, "query.near"),
    ({"within_km": 5}, "within_km"),
    ({"min_credits": -1}, "query.min_credits"),
    ({"min_credits": 9, "max_credits": 3}, "min_credits"),
    ({"sort": "distance"}, "sort"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"level": "guru"}, "query.level"),
    ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),  # the shape of a zone name, but no zone
    ({"time_zone": "europe/berlin"}, "time_zone"),  # as the tz database spells it
    ({"time_zone": "localtime"}, "time_zone"),  # the server's own zone is nobody's
    ({"time_zone": "Europe/../etc"}, "query.time_zone"),
    ({"time_zone": ""}, "query.time_zone"),
])
def test_bad_queries_are_refused_naming_the_parameter(feed: Feed, params: dict[str, Any], field: str) -> None:
    r = feed.get("/v1/search", **params)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field


def test_search_needs_a_signed_in_caller(feed: Feed) -> None:
    assert feed.client.get("/v1/search").status_code == 401


def test_sort_by_rating_uses_the_bayesian_average(feed: Feed) -> None:
    one_review, many, unrated = feed.tutor("One"), feed.tutor("Many"), feed.tutor("Unrated")
    lids = {t: feed.listing(t) for t in (one_review, many, unrated)}
    assert feed.standing(one_review, 5.0, 1)
    assert feed.standing(many, 4.7 * 40, 40, version=2)
    # 4.7 from 40 reviews outranks a single 5-star review, which outranks no reviews at all.
    assert ids(search(feed, sort="rating")) == [str(lids[many]), str(lids[one_review]), str(lids[unrated])]
    # An older standing delivered late (a dead letter replayed) never overwrites a newer one.
    assert feed.standing(many, 1.0 * 40, 40, version=1)
    assert ids(search(feed, sort="rating"))[0] == str(lids[many])
    assert feed.standing(many, 1.0 * 40, 40, version=3)  # a newer one does
    assert ids(search(feed, sort="rating"))[-1] == str(lids[many])


def test_available_in_a_time_window_uses_bookings_availability(feed: Feed) -> None:
    feed.at(datetime(2027, 5, 3, 9, 0, tzinfo=UTC))  # a Monday
    evenings, mornings, unknown = feed.tutor("Eve"), feed.tutor("Morn"), feed.tutor("Unknown")
    lids = {t: feed.listing(t) for t in (evenings, mornings, unknown)}
    feed.availability(evenings, "UTC", ["tue 17:00-21:00"])  # booking's AvailabilityChanged
    feed.availability(mornings, "UTC", ["tue 8:00-10:00"])
    assert ids(search(feed, available="tue 18:00-20:00")) == [str(lids[evenings])]
    assert set(ids(search(feed, available=["tue 18:00-20:00", "tue 09:00-11:00"]))) == {
        str(lids[evenings]), str(lids[mornings])}
    # Morn is free 9-10 only: not for a 90-minute session.
    assert ids(search(feed, available="tue 09:00-11:00", session_minutes=90)) == []
    # Left out, the searcher's zone is UTC; in New York, Tuesday 13:00-15:00 is 17:00-19:00 UTC.
    assert ids(search(feed, available="tue 13:00-15:00", time_zone="America/New_York")) == [str(lids[evenings])]
    r = feed.get("/v1/search", available="someday 9:00-10:00")  # the schema's pattern refuses it
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.available.0"
    r = feed.get("/v1/search", available=["tue 09:00-11:00", "tue 20:00-18:00"])  # a rule it cannot say
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "available.1"


def test_free_text_falls_back_to_meaning_when_no_listing_has_the_words(feed: Feed) -> None:
    alg = feed.listing(feed.tutor("Ada"), bio="Quadratic equations, factoring and the quadratic formula.")
    feed.listing(feed.tutor("Cy"), subject=("sciences.chemistry", "Chemistry", "Sciences"),
                 bio="Titration and lab safety.")
    feed.settle()
    by_words = search(feed, q="quadratic")
    assert ids(by_words) == [str(alg)] and by_words["matched_by"] == "words"
    by_meaning = search(feed, q="x squared problems")  # no listing says it
    assert ids(by_meaning)[0] == str(alg) and by_meaning["matched_by"] == "meaning"
    assert str(alg) in ids(search(feed, q="x squared problems", subject="mathematics.algebra-i"))
    assert ids(search(feed, q="x squared problems", subject="sciences.chemistry")) == []  # filters still hold
