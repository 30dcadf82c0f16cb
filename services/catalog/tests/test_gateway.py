"""Catalog through its gateway (fixtures in conftest.py): taxonomy, listings, media,
promotions, courses and progress, and what identity's events change."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest

from alphapeer_contracts import identity as idc
from servicekit.testing import ISSUER

Catalog = Any  # the harness in conftest.py (not importable under --import-mode=importlib)
token = ISSUER.headers

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MP3 = b"ID3\x03\x00\x00\x00" + b"\x00" * 64


def now() -> datetime:
    return datetime.now(UTC)


def test_taxonomy_is_seeded_and_staff_can_extend_it(h: Catalog) -> None:
    tree = h.client.get("/v1/subjects").json()
    areas = {a["area"]: a for a in tree["areas"]}
    assert "Mathematics" in areas and "exam_prep" in tree["levels"]
    algebra = next(s for s in areas["Mathematics"]["subjects"] if s["name"] == "Algebra I")
    assert "Quadratics" in algebra["topics"]
    staff = token(uuid.uuid4(), "staff")
    r = h.client.post("/v1/subjects", json={"area": "Mathematics", "name": "Number Theory", "topics": ["Primes"]},
                      headers=staff)
    assert r.status_code == 201 and r.json()["subject_id"] == "mathematics.number-theory"
    assert h.client.post("/v1/subjects", json={"area": "Mathematics", "name": "Number Theory"},
                         headers=staff).status_code == 409
    assert h.client.post("/v1/subjects", json={"area": "X", "name": "Y"},
                         headers=token(uuid.uuid4(), "tutor")).status_code == 403


@pytest.mark.parametrize(("body", "field"), [
    ({"area": "Mathematics", "name": " Number Theory"}, "name"),  # names are taken as sent: nothing to trim
    ({"area": "Mathematics", "name": "Number  Theory"}, "name"),  # one space between words (the id is made of them)
    ({"area": "Mathematics", "name": "!!!"}, "name"),  # no letter or digit to make an id of
    ({"area": "Mathematics\n", "name": "Topology"}, "area"),
    ({"area": "Mathematics", "name": "Topology", "topics": ["Knots "]}, "topics.0"),
])
def test_taxonomy_names_are_refused_unless_clean(h: Catalog, body: dict, field: str) -> None:
    r = h.client.post("/v1/subjects", json=body, headers=token(uuid.uuid4(), "staff"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
    assert "one space" in r.json()["errors"][0]["reason"] or "letter or digit" in r.json()["errors"][0]["reason"]


def test_retiring_a_subject_the_taxonomy_does_not_have_is_not_found(h: Catalog) -> None:
    staff = token(uuid.uuid4(), "staff")
    assert h.client.delete("/v1/subjects/mathematics.alchemy", headers=staff).status_code == 404
    assert h.client.delete("/v1/subjects/mathematics.geometry", headers=staff).status_code == 204
    assert h.client.delete("/v1/subjects/mathematics.geometry", headers=staff).status_code == 404  # retired already


def test_an_approved_tutor_drafts_and_publishes_and_the_public_event_carries_the_listing(h: Catalog) -> None:
    tutor = uuid.uuid4()
    auth = token(tutor, "student", "tutor")
    r = h.client.post("/v1/listings", json=h.LISTING, headers=auth)
    assert r.status_code == 201, r.text
    listing = r.json()
    assert listing["status"] == "draft" and listing["session_minutes"] == [30, 60]
    assert listing["subjects"][0]["name"] == "Physics" and listing["subjects"][0]["area"] == "Sciences"
    lid = listing["listing_id"]
    # Not approved in identity yet: refused, whatever the token says.
    refused = h.client.post(f"/v1/listings/{lid}/publish", headers=auth)
    assert refused.status_code == 403 and refused.json()["title"] == "Not eligible to publish"
    h.approve(tutor)
    published = h.client.post(f"/v1/listings/{lid}/publish", headers=auth)
    assert published.status_code == 200 and published.json()["status"] == "published"

    public = h.public_events()
    assert [e.ce_type() for e in public] == ["alphapeer.catalog.ListingPublished.v2"]
    snap = public[0].listing  # type: ignore[attr-defined]
    assert snap.rate.credits_per_hour == 12 and snap.subjects[0].level == "advanced"
    # The tutor's personal text travels sealed under their key, which catalog shares on catalog.keys.
    vault = h.app.sealer
    assert snap.bio.startswith("v1.") and "physics" not in snap.bio.lower()
    assert vault.open(tutor, snap.bio) == h.LISTING["bio"]
    assert json.loads(vault.open(tutor, snap.place))["lat"] == 51.5246


def test_suspension_blocks_publishing_and_erasure_withdraws_listings(h: Catalog) -> None:
    tutor = uuid.uuid4()
    auth = token(tutor, "tutor")
    h.approve(tutor)
    lid = h.client.post("/v1/listings", json=h.LISTING, headers=auth).json()["listing_id"]
    h.identity(idc.UserSuspended(user_id=tutor, suspended_by=uuid.uuid4(), reason_code="conduct",
                                       occurred_at=now()))
    r = h.client.post(f"/v1/listings/{lid}/publish", headers=auth)
    assert r.status_code == 403 and "suspended" in r.json()["detail"]
    h.identity(idc.UserReinstated(user_id=tutor, reinstated_by=uuid.uuid4(), occurred_at=now()))
    assert h.client.post(f"/v1/listings/{lid}/publish", headers=auth).status_code == 200
    h.identity(idc.UserErased(user_id=tutor, occurred_at=now()))
    staff = token(uuid.uuid4(), "staff")
    assert h.client.get(f"/v1/listings/{lid}", headers=staff).json()["status"] == "withdrawn"
    assert h.client.get(f"/v1/tutors/{tutor}/standing", headers=staff).json()["may_publish"] is False


def test_a_redelivered_identity_event_changes_nothing(h: Catalog) -> None:
    tutor = uuid.uuid4()
    event = idc.TutorApproved(application_id=uuid.uuid4(), user_id=tutor, subjects=[], levels=[],
                              approved_by=uuid.uuid4(), occurred_at=now())
    before = h.app.recorder.max_notification_id()
    assert h.identity(event, position=77) is True
    after_first = h.app.recorder.max_notification_id()
    assert h.identity(event, position=77) is False
    assert h.app.recorder.max_notification_id() == after_first != before


@pytest.mark.parametrize(("change", "field"), [
    ({"subjects": [{"subject_id": "mathematics.alchemy", "level": "advanced"}]}, "subjects.0.subject_id"),
    ({"subjects": [{"subject_id": "sciences.physics", "level": "guru"}]}, "subjects.0.level"),
    ({"subjects": [{"subject_id": "sciences.physics", "level": "advanced", "topics": ["Cooking"]}]},
     "subjects.0.topics.0"),
    ({"rate": {"credits_per_hour": -5}}, "rate.credits_per_hour"),
    ({"rate": {"amount_minor_per_hour": 1000}}, "rate.currency"),
    ({"rate": {"credits_per_hour": 12.5}}, "rate.credits_per_hour"),
    ({"place": {"lat": 123.0, "lon": 0}}, "place.lat"),
    ({"place": {"lat": 51.5}}, "place"),
    ({"place": {"lat": "north", "lon": 0}}, "place.lat"),
    ({"modes": ["in_person"], "place": None}, "place"),
    ({"session_minutes": [50]}, "session_minutes.0"),
    ({"languages": ["English!"]}, "languages.0"),
    ({"teaching_styles": ["shouting"]}, "teaching_styles.0"),
    ({"title": "x"}, "title"),
    ({"title": "Mechanics "}, "title"),  # taken as sent: white space at either end is refused, not trimmed
    ({"rate": {"credits_per_hour": None}}, "rate.credits_per_hour"),  # may be left out, not null
    ({"rate": {"credits_per_hour": "12"}}, "rate.credits_per_hour"),
    ({"rate": {"amount_minor_per_hour": 1000, "currency": None}}, "rate.currency"),
    ({"place": {"campus": " Main campus"}}, "place.campus"),
    ({"place": {"lon": 0}}, "place"),
    ({"place": {"travel_radius_km": 2}}, "place"),  # a campus, a point, or both
    ({"bio": "I draw\x00everything"}, "bio"),
    ({"trial": {"minutes": 15, "free": "yes"}}, "trial.free"),
    ({"tagline": "unknown fields are refused"}, "tagline"),
])
def test_bad_listings_are_refused_with_the_field_and_store_nothing(h: Catalog, change: dict, field: str) -> None:
    tutor = uuid.uuid4()
    before = h.app.recorder.max_notification_id()
    r = h.client.post("/v1/listings", json={**h.LISTING, **change}, headers=token(tutor, "tutor"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in {e["field"] for e in r.json()["errors"]}, r.json()
    assert h.app.recorder.max_notification_id() == before


def test_a_patch_changes_what_it_names_and_the_listing_must_still_hold_together(h: Catalog) -> None:
    tutor = uuid.uuid4()
    auth = token(tutor, "tutor")
    lid = h.draft(tutor)
    # Text is taken as sent: white space at either end is refused, not trimmed.
    padded = h.client.patch(f"/v1/listings/{lid}", json={"title": "  Mechanics, gently  "}, headers=auth)
    assert padded.status_code == 422 and padded.json()["errors"][0]["field"] == "title", padded.text
    r = h.client.patch(f"/v1/listings/{lid}", json={"title": "Mechanics, gently", "session_minutes": [90]},
                       headers=auth)
    assert r.status_code == 200, r.text
    changed = r.json()
    assert changed["title"] == "Mechanics, gently" and changed["session_minutes"] == [90]
    assert changed["rate"] == h.LISTING["rate"] and changed["place"]["campus"] == "Main campus"
    assert changed["subjects"][0]["name"] == "Physics"
    # Null removes what may be absent; a required field may be left out, not nulled.
    online = h.client.patch(f"/v1/listings/{lid}", json={"modes": ["online"], "place": None}, headers=auth)
    assert online.status_code == 200 and online.json()["place"] is None
    for body, field in (({"modes": ["in_person"]}, "place"),  # the rules apply to the listing as a whole
                        ({"title": None}, "title"),
                        ({"rate": {}}, "rate"),
                        ({}, "body")):
        r = h.client.patch(f"/v1/listings/{lid}", json=body, headers=auth)
        assert r.status_code == 422 and field in {e["field"] for e in r.json()["errors"]}, (body, r.text)
    assert h.client.get(f"/v1/listings/{lid}", headers=auth).json()["title"] == "Mechanics, gently"


def test_a_subject_retired_later_stays_on_its_listings(h: Catalog) -> None:
    tutor = uuid.uuid4()
    auth = token(tutor, "tutor")
    lid = h.draft(tutor)
    assert h.client.delete("/v1/subjects/sciences.physics", headers=token(uuid.uuid4(), "staff")).status_code == 204
    kept = h.client.patch(f"/v1/listings/{lid}", json={"title": "Still mechanics"}, headers=auth)
    assert kept.status_code == 200 and kept.json()["subjects"][0]["subject_id"] == "sciences.physics"
    chosen_again = h.client.patch(f"/v1/listings/{lid}", json={"subjects": h.LISTING["subjects"]}, headers=auth)
    assert chosen_again.status_code == 422
    assert chosen_again.json()["errors"][0]["field"] == "subjects.0.subject_id"


def test_whole_numbers_and_lines_of_free_text_are_taken_as_json_says(h: Catalog) -> None:
    r = h.client.post("/v1/listings", json={**h.LISTING, "rate": {"credits_per_hour": 12.0},
                                            "bio": "Physics student.\n\nI draw everything."},
                      headers=token(uuid.uuid4(), "tutor"))
    assert r.status_code == 201, r.text
    assert r.json()["rate"]["credits_per_hour"] == 12 and r.json()["bio"] == "Physics student.\n\nI draw everything."


def test_free_volunteer_listing_is_allowed(h: Catalog) -> None:
    r = h.client.post("/v1/listings", json={**h.LISTING, "rate": {"credits_per_hour": 0}},
                      headers=token(uuid.uuid4(), "tutor"))
    assert r.status_code == 201 and r.json()["rate"]["credits_per_hour"] == 0


def test_media_is_sniffed_and_limited_and_served_once_published(h: Catalog) -> None:
    tutor = uuid.uuid4()
    auth = token(tutor, "tutor")
    h.approve(tutor)
    lid = h.client.post("/v1/listings", json=h.LISTING, headers=auth).json()["listing_id"]
    disguised = h.client.post(f"/v1/listings/{lid}/media", headers=auth,
                              files={"file": ("photo.png", b"<?php system($_GET[1]); ?>", "image/png")})
    assert disguised.status_code == 415 and disguised.json()["errors"][0]["field"] == "file"
    renamed = h.client.post(f"/v1/listings/{lid}/media", headers=auth, files={"file": ("song.png", MP3, "image/png")})
    assert renamed.status_code == 415
    big = h.client.post(f"/v1/listings/{lid}/media", headers=auth,
                        files={"file": ("big.png", PNG + b"0" * (5 * 1024 * 1024), "image/png")})
    assert big.status_code == 413
    ok = h.client.post(f"/v1/listings/{lid}/media", headers=auth, files={"file": ("me.png", PNG, "image/png")})
    assert ok.status_code == 201 and ok.json()["kind"] == "image"
    path = ok.json()["url"].split("8002", 1)[1]
    assert h.client.get(path).status_code == 404  # not published yet
    h.client.post(f"/v1/listings/{lid}/publish", headers=auth)
    served = h.client.get(path)
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png" and served.headers["x-content-type-options"] == "nosniff"


def test_only_the_owner_changes_a_listing_and_drafts_stay_private(h: Catalog) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    lid = h.client.post("/v1/listings", json=h.LISTING, headers=token(owner, "tutor")).json()["listing_id"]
    assert h.client.patch(f"/v1/listings/{lid}", json={"title": "Mine now"},
                          headers=token(other, "tutor")).status_code == 403
    assert h.client.get(f"/v1/listings/{lid}", headers=token(other, "student")).status_code == 404
    assert h.client.post("/v1/listings", json=h.LISTING, headers=token(other, "student")).status_code == 403
    assert h.client.post(f"/v1/listings/{lid}/withdraw", headers=token(other, "student")).status_code == 403
    staff_withdraw = h.client.post(f"/v1/listings/{lid}/withdraw", headers=token(uuid.uuid4(), "staff"))
    assert staff_withdraw.status_code == 200 and staff_withdraw.json()["status"] == "withdrawn"


def test_every_non_public_route_refuses_an_anonymous_caller(h: Catalog) -> None:
    public = {("GET", "/v1/subjects"), ("GET", "/v1/media/{listing_id}/{media_id}"), ("GET", "/healthz"),
              ("GET", "/readyz")}
    paths = h.client.get("/openapi.json").json()["paths"]
    for path, ops in paths.items():
        for method in ops:
            if (method.upper(), path) in public:
                continue
            url = (path.replace("{listing_id}", str(uuid.uuid4())).replace("{tutor_id}", str(uuid.uuid4()))
                   .replace("{subject_id}", "x"))
            assert h.client.request(method.upper(), url).status_code == 401, (method, path)


def test_promotions_have_rules_and_reach_the_public_stream(h: Catalog) -> None:
    tutor = uuid.uuid4()
    auth = token(tutor, "tutor")
    lid = h.client.post("/v1/listings", json=h.LISTING, headers=auth).json()["listing_id"]
    future = "2030-01-01T00:00:00+00:00"
    ok = h.client.post(f"/v1/listings/{lid}/promotions", headers=auth,
                       json={"code": "exam-week", "percent_off": 20, "max_redemptions": 10, "expires_at": future})
    assert ok.status_code == 201, ok.text
    assert ok.json()["code"] == "EXAM-WEEK"
    for body, field in (
        ({"code": "EXAM-WEEK", "percent_off": 10, "expires_at": future}, None),  # duplicate: 409
        ({"code": "X!", "percent_off": 10, "expires_at": future}, "code"),
        ({"code": "HALF", "percent_off": 150, "expires_at": future}, "percent_off"),
        ({"code": "BOTH", "percent_off": 10, "credits_off": 2, "expires_at": future}, "percent_off"),
        ({"code": "PAST", "credits_off": 2, "expires_at": "2020-01-01T00:00:00+00:00"}, "expires_at"),
        ({"code": "NAIVE", "credits_off": 2, "expires_at": "2030-01-01T00:00:00"}, "expires_at"),
        ({"code": "EPOCH", "credits_off": 2, "expires_at": 1893456000}, "expires_at"),  # RFC 3339 text only
        ({"code": "NONE", "expires_at": future}, "percent_off"),  # one of percent_off and credits_off
        ({"code": "NULL", "percent_off": None, "credits_off": 2, "expires_at": future}, "percent_off"),
    ):
        r = h.client.post(f"/v1/listings/{lid}/promotions", headers=auth, json=body)
        if field is None:
            assert r.status_code == 409, r.text
        else:
            assert r.status_code == 422 and field in {e["field"] for e in r.json()["errors"]}, (body, r.text)
    other = h.client.post(f"/v1/listings/{lid}/promotions", headers=token(uuid.uuid4(), "tutor"),
                          json={"code": "MINE", "percent_off": 5, "expires_at": future})
    assert other.status_code == 403
    pid = ok.json()["promotion_id"]
    ended = h.client.post(f"/v1/listings/{lid}/promotions/{pid}/end", headers=auth)
    assert ended.status_code == 200 and ended.json()["items"][0]["ended"] is True
    names = [type(e).__name__ for e in h.public_events()]
    assert names == ["PromotionCreated", "PromotionEnded"]


COURSE = {
    "title": "Algebra I in six weeks",
    "description": "From linear equations to quadratics.",
    "subject_id": "mathematics.algebra-i",
    "level": "introductory",
    "modules": [
        {"title": "Linear equations", "materials": [{"title": "Notes", "url": "https://example.org/linear.pdf"}],
         "quiz": [{"prompt": "Solve 2x = 6", "choices": ["2", "3", "6"], "answer": 1}]},
        {"title": "Quadratics", "quiz": [{"prompt": "Roots of x^2-1", "choices": ["±1", "1"], "answer": 0}]},
    ],
    "completion": {"min_quiz_score_pct": 80},
    "levels": ["Bronze", "Silver", "Gold"],
    "price_credits": 30,
}


def test_a_course_is_authored_published_enrolled_and_retired_without_leaking_answers(h: Catalog) -> None:
    creator, student, funder = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    made = h.client.post("/v1/courses", json=COURSE, headers=token(creator, "creator"))
    assert made.status_code == 201, made.text
    cid = made.json()["course_id"]
    assert made.json()["syllabus"][0]["quiz"][0]["answer"] == 1  # the creator sees the key
    assert made.json()["completion"] == {"min_quiz_score_pct": 80, "modules_required": 2}
    # Not published: learners cannot see it or enrol.
    assert h.client.get(f"/v1/courses/{cid}", headers=token(student, "student")).status_code == 404
    assert h.client.post(f"/v1/courses/{cid}/enrolments", json={},
                         headers=token(student, "student")).status_code == 409
    assert h.client.post(f"/v1/courses/{cid}/publish", headers=token(creator, "creator")).status_code == 200
    assert h.client.post(f"/v1/courses/{cid}/enrolments", json={},
                         headers=token(creator, "creator", "student")).status_code == 403  # not in their own
    seen = h.client.get(f"/v1/courses/{cid}", headers=token(student, "student")).json()
    assert "answer" not in seen["syllabus"][0]["quiz"][0] and seen["syllabus"][0]["quiz"][0]["choices"]
    enrolled = h.client.post(f"/v1/courses/{cid}/enrolments", json={"funded_by": str(funder)},
                             headers=token(student, "student"))
    assert enrolled.status_code == 201 and enrolled.json()["funded_by"] == str(funder)
    assert h.client.post(f"/v1/courses/{cid}/enrolments", json={},
                         headers=token(student, "student")).status_code == 409  # twice
    assert h.client.post(f"/v1/courses/{cid}/retire", json={"reason_code": "outdated"},
                         headers=token(uuid.uuid4(), "creator")).status_code == 403  # not theirs
    assert h.client.post(f"/v1/courses/{cid}/retire", json={"reason_code": "outdated"},
                         headers=token(creator, "creator")).status_code == 200
    late = h.client.post(f"/v1/courses/{cid}/enrolments", json={}, headers=token(uuid.uuid4(), "student"))
    assert late.status_code == 409 and "retired" in late.json()["detail"]

    events = h.public_events()
    assert [type(e).__name__ for e in events] == ["CoursePublished", "EnrolmentCreated", "CourseRetired"]
    assert "answer" not in events[0].model_dump_json()
    assert events[1].funded_by == funder and events[1].price_credits == 30  # type: ignore[attr-defined]


@pytest.mark.parametrize(("change", "field"), [
    ({"subject_id": "mathematics.alchemy"}, "subject_id"),
    ({"level": "guru"}, "level"),
    ({"modules": []}, "modules"),
    ({"modules": [{"title": "M", "quiz": [{"prompt": "?", "choices": ["a", "b"], "answer": 5}]}]},
     "modules.0.quiz.0.answer"),
    ({"modules": [{"title": "M", "materials": [{"title": "x", "url": "ftp://nope/file"}]}]},
     "modules.0.materials.0.url"),
    ({"completion": {"min_quiz_score_pct": 80, "modules_required": 9}}, "completion.modules_required"),
    ({"price_credits": -3}, "price_credits"),
])
def test_bad_courses_are_refused_with_the_field(h: Catalog, change: dict, field: str) -> None:
    r = h.client.post("/v1/courses", json={**COURSE, **change}, headers=token(uuid.uuid4(), "creator"))
    assert r.status_code == 422, r.text
    assert field in {e["field"] for e in r.json()["errors"]}, r.json()


def test_only_creators_and_tutors_author_courses(h: Catalog) -> None:
    assert h.client.post("/v1/courses", json=COURSE, headers=token(uuid.uuid4(), "student")).status_code == 403
    assert h.client.post("/v1/courses", json=COURSE, headers=token(uuid.uuid4(), "tutor")).status_code == 201


PROGRESSION = {
    **COURSE,
    "modules": [
        {"title": "Reading: what an equation is"},  # no quiz: marked done by the learner
        {"title": "Linear equations", "quiz": [{"prompt": "Solve 2x = 6", "choices": ["2", "3", "6"], "answer": 1},
                                               {"prompt": "Solve x + 1 = 0", "choices": ["-1", "1"], "answer": 0}]},
        {"title": "Quadratics", "quiz": [{"prompt": "Roots of x^2-1", "choices": ["±1", "1"], "answer": 0}]},
    ],
    "completion": {"min_quiz_score_pct": 100, "modules_required": 3},
    "levels": ["Bronze", "Gold"],
    "level_up_after": [1, 3],
}


def test_learners_progress_through_quizzes_levels_and_completion(h: Catalog) -> None:
    creator, student, funder, stranger = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    cid = h.client.post("/v1/courses", json=PROGRESSION, headers=token(creator, "creator")).json()["course_id"]
    h.client.post(f"/v1/courses/{cid}/publish", headers=token(creator, "creator"))
    me = token(student, "student")
    # Progress needs an enrolment.
    assert h.client.post(f"/v1/courses/{cid}/modules/1/attempts", json={"answers": [1, 0]},
                         headers=me).status_code == 404
    h.client.post(f"/v1/courses/{cid}/enrolments", json={"funded_by": str(funder)}, headers=me)

    done = h.client.post(f"/v1/courses/{cid}/modules/0/complete", headers=me)
    assert done.status_code == 200, done.text
    assert done.json()["level"] == "Bronze" and done.json()["modules_passed"] == [0]
    # A wrong answer: marked, not passed, and the key is not given away.
    wrong = h.client.post(f"/v1/courses/{cid}/modules/1/attempts", json={"answers": [2, 0]}, headers=me).json()
    assert wrong["score_pct"] == 50 and not wrong["passed"] and wrong["correct"] == [False, True]
    assert "answer" not in str(wrong) and wrong["progress"]["modules_passed"] == [0]
    right = h.client.post(f"/v1/courses/{cid}/modules/1/attempts", json={"answers": [1, 0]}, headers=me).json()
    assert right["passed"] and right["progress"]["best_scores_pct"] == {"1": 100}
    assert right["progress"]["level"] == "Bronze" and not right["progress"]["completed"]
    last = h.client.post(f"/v1/courses/{cid}/modules/2/attempts", json={"answers": [0]}, headers=me).json()
    assert last["progress"]["completed"] and last["progress"]["level"] == "Gold"
    assert last["progress"]["attempts"] == 3
    # Passing again changes nothing that is published.
    h.client.post(f"/v1/courses/{cid}/modules/2/attempts", json={"answers": [0]}, headers=me)

    # The learner, the creator and staff read progress; nobody else does.
    assert h.client.get(f"/v1/courses/{cid}/progress", headers=me).json()["completed"]
    assert h.client.get(f"/v1/courses/{cid}/progress/{student}", headers=token(creator, "creator")).status_code == 200
    assert h.client.get(f"/v1/courses/{cid}/progress/{student}", headers=token(stranger, "staff")).status_code == 200
    assert h.client.get(f"/v1/courses/{cid}/progress/{student}",
                        headers=token(stranger, "student")).status_code == 403
    # The funder paying for this enrolment sees the proof of progress; another funder does not.
    funded = h.client.get(f"/v1/courses/{cid}/progress/{student}", headers=token(funder, "funder"))
    assert funded.status_code == 200 and funded.json()["completed"]
    assert h.client.get(f"/v1/courses/{cid}/progress/{student}",
                        headers=token(uuid.uuid4(), "funder")).status_code == 403

    events = h.public_events()
    assert [type(e).__name__ for e in events] == ["CoursePublished", "EnrolmentCreated", "CourseLevelReached",
                                                  "CourseLevelReached", "CourseCompleted"]
    assert events[0].level_thresholds == [1, 3]  # type: ignore[attr-defined]
    assert [e.level for e in events[2:4]] == ["Bronze", "Gold"]  # type: ignore[attr-defined]
    completed = events[4]
    assert completed.student_id == student and completed.funded_by == funder  # type: ignore[attr-defined]
    assert (completed.modules_passed, completed.modules_total) == (3, 3)  # type: ignore[attr-defined]
    assert "score" not in completed.model_dump_json()  # scores stay in catalog


@pytest.mark.parametrize(("path", "body", "status", "field"), [
    ("modules/1/attempts", {"answers": [1]}, 422, "answers"),
    ("modules/7/attempts", {"answers": [1]}, 404, None),  # no such module: the path names nothing
    ("modules/1/attempts", {"answers": ["b", 0]}, 422, "answers.0"),
    ("modules/1/complete", None, 409, None),  # a quiz module is passed by its quiz
    ("modules/0/attempts", {"answers": []}, 409, None),  # a reading has no quiz
])
def test_bad_attempts_are_refused(h: Catalog, path: str, body: Any, status: int, field: str | None) -> None:
    creator, student = uuid.uuid4(), uuid.uuid4()
    cid = h.client.post("/v1/courses", json=PROGRESSION, headers=token(creator, "creator")).json()["course_id"]
    h.client.post(f"/v1/courses/{cid}/publish", headers=token(creator, "creator"))
    h.client.post(f"/v1/courses/{cid}/enrolments", json={}, headers=token(student, "student"))
    r = h.client.post(f"/v1/courses/{cid}/{path}", json=body, headers=token(student, "student"))
    assert r.status_code == status, r.text
    if field:
        assert field in {e["field"] for e in r.json()["errors"]}, r.json()
    assert h.client.get(f"/v1/courses/{cid}/progress", headers=token(student, "student")).json()["attempts"] == 0


@pytest.mark.parametrize(("levels", "after", "field"), [
    (["Bronze", "Gold"], [1], "level_up_after"),
    (["Bronze", "Gold"], [2, 1], "level_up_after.1"),
    (["Bronze", "Gold"], [1, 9], "level_up_after.1"),
])
def test_bad_level_criteria_are_refused(h: Catalog, levels: list[str], after: list[int], field: str) -> None:
    r = h.client.post("/v1/courses", json={**PROGRESSION, "levels": levels, "level_up_after": after},
                      headers=token(uuid.uuid4(), "creator"))
    assert r.status_code == 422 and field in {e["field"] for e in r.json()["errors"]}, r.text


def test_a_rush_of_enrolments_in_one_course_all_succeed(h: Catalog) -> None:
    """Concurrent writers of one aggregate: each conflicting save is decided again on fresh
    state, so nobody gets an error and nobody is enrolled twice."""
    from concurrent.futures import ThreadPoolExecutor

    creator = uuid.uuid4()
    cid = h.client.post("/v1/courses", json=COURSE, headers=token(creator, "creator")).json()["course_id"]
    h.client.post(f"/v1/courses/{cid}/publish", headers=token(creator, "creator"))
    students = [uuid.uuid4() for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda s: h.app.enrol(UUID(cid), s, None), students))
    assert len(set(results)) == 8
    course = h.client.get(f"/v1/courses/{cid}", headers=token(creator, "creator")).json()
    assert course["enrolments"] == 8
