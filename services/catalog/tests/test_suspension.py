"""While identity has a user suspended, catalog keeps what they made from everyone else, as
if it were absent (404, or left out of a list); the user and staff still see it, and
reinstatement restores it. Identity's events arrive through catalog's own reaction
(servicekit.testing.Feed, fixtures in conftest.py)."""

from __future__ import annotations

import uuid
from typing import Any

from catalog.domain.standing import TutorStanding
from servicekit.testing import ISSUER

Catalog = Any  # the harness in conftest.py
token = ISSUER.headers

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

COURSE = {
    "title": "Algebra I in six weeks",
    "subject_id": "mathematics.algebra-i",
    "level": "introductory",
    "modules": [{"title": "Linear equations",
                 "quiz": [{"prompt": "Solve 2x = 6", "choices": ["2", "3", "6"], "answer": 1}]}],
}


def test_a_suspended_tutors_listings_and_media_are_withheld_from_others_until_reinstated(h: Catalog) -> None:
    tutor, other = uuid.uuid4(), uuid.uuid4()
    owner, student, staff = token(tutor, "tutor"), token(other, "student"), token(uuid.uuid4(), "staff")
    lid = h.published(tutor)
    sample = h.client.post(f"/v1/listings/{lid}/media", headers=owner, files={"file": ("me.png", PNG, "image/png")})
    media = sample.json()["url"].split("8002", 1)[1]

    def seen_by_others() -> tuple[int, int, int]:
        return (h.client.get(f"/v1/listings/{lid}", headers=student).status_code,
                len(h.client.get(f"/v1/tutors/{tutor}/listings", headers=student).json()["items"]),
                h.client.get(media).status_code)

    assert seen_by_others() == (200, 1, 200)

    assert h.suspend(tutor)
    assert seen_by_others() == (404, 0, 404)
    # As if absent: the same answer as for a listing that never existed.
    hidden = h.client.get(f"/v1/listings/{lid}", headers=student).json()
    absent = h.client.get(f"/v1/listings/{uuid.uuid4()}", headers=student).json()
    assert (hidden["title"], hidden["detail"]) == (absent["title"], absent["detail"])
    # Its tutor and staff still see it, published as it was (matching hides it on its own).
    for who in (owner, staff):
        assert h.client.get(f"/v1/listings/{lid}", headers=who).json()["status"] == "published"
        assert len(h.client.get(f"/v1/tutors/{tutor}/listings", headers=who).json()["items"]) == 1

    assert h.reinstate(tutor)
    assert seen_by_others() == (200, 1, 200)


def test_a_suspended_creators_courses_are_withheld_and_take_no_enrolment_until_reinstated(h: Catalog) -> None:
    creator, learner = uuid.uuid4(), uuid.uuid4()
    mine, staff = token(creator, "creator"), token(uuid.uuid4(), "staff")
    cid = h.client.post("/v1/courses", json=COURSE, headers=mine).json()["course_id"]
    assert h.client.post(f"/v1/courses/{cid}/publish", headers=mine).status_code == 200
    assert h.client.post(f"/v1/courses/{cid}/enrolments", json={},
                         headers=token(learner, "student")).status_code == 201

    # A creator who never was a tutor: catalog records the suspension all the same.
    assert h.suspend(creator)
    standing = h.app.find(TutorStanding, TutorStanding.create_id(creator))
    assert standing is not None and standing.suspended and not standing.approved

    newcomer = token(uuid.uuid4(), "student")
    assert h.client.get(f"/v1/courses/{cid}", headers=newcomer).status_code == 404
    refused = h.client.post(f"/v1/courses/{cid}/enrolments", json={}, headers=newcomer)
    assert refused.status_code == 404 and refused.json()["detail"] == "no such course"
    for who in (mine, staff):
        assert h.client.get(f"/v1/courses/{cid}", headers=who).json()["status"] == "published"
    # A learner already enrolled keeps their own progress.
    assert h.client.get(f"/v1/courses/{cid}/progress", headers=token(learner, "student")).status_code == 200

    assert h.reinstate(creator)
    assert h.client.get(f"/v1/courses/{cid}", headers=newcomer).status_code == 200
    assert h.client.post(f"/v1/courses/{cid}/enrolments", json={}, headers=newcomer).status_code == 201


def test_suspension_and_reinstatement_are_recorded_once(h: Catalog) -> None:
    user = uuid.uuid4()
    assert h.reinstate(user)  # nothing to lift: applied (tracked), nothing recorded
    assert h.app.find(TutorStanding, TutorStanding.create_id(user)) is None
    assert h.suspend(user) and h.suspend(user)  # two suspensions: the second changes nothing
    standing = h.app.find(TutorStanding, TutorStanding.create_id(user))
    assert standing is not None and standing.suspended and standing.version == 2  # Opened, Changed
