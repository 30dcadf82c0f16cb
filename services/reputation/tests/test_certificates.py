"""Certificates: tutoring hours per term, course completion and teaching from catalog's events,
each verifiable by its code at a public endpoint and rendered as a PDF; erasure unsays names
and review words."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from alphapeer_contracts import catalog as cat
from alphapeer_contracts import identity as idc
from servicekit.testing import scan_database

Reputation = Any  # conftest.Reputation


def test_a_tutors_hours_in_a_term_are_certified_and_anyone_can_verify_the_code(h: Reputation) -> None:
    tutor = uuid.uuid4()
    for day in (10, 20):
        h.taught(tutor, minutes=90, ended_at=datetime(2031, 2, day, 12, tzinfo=UTC))
    h.taught(tutor, minutes=60, ended_at=datetime(2030, 12, 1, 12, tzinfo=UTC))  # the previous term
    tok = h.token(tutor, "tutor")
    none = h.client.post("/v1/certificates/tutoring-hours", json={"term": "2031-T2"}, headers=tok)
    assert none.status_code == 409 and "no tutoring recorded in 2031-T2" in none.json()["detail"]
    assert h.client.post("/v1/certificates/tutoring-hours", json={"term": "spring"}, headers=tok).status_code == 422
    r = h.client.post("/v1/certificates/tutoring-hours", json={"term": "2031-T1"}, headers=tok)
    assert r.status_code == 201, r.text
    cert = r.json()
    assert cert["kind"] == "tutoring_hours" and cert["details"] == {"term": "2031-T1", "minutes": 180, "hours": 3.0}
    again = h.client.post("/v1/certificates/tutoring-hours", json={"term": "2031-T1"}, headers=tok).json()
    assert again["certificate_id"] == cert["certificate_id"]  # the same hours: the same certificate
    assert h.client.post("/v1/certificates/tutoring-hours", json={"term": "2030-T3"},
                         headers=tok).json()["details"]["minutes"] == 60

    public = h.client.get(f"/v1/certificates/verify/{cert['code']}")  # no token
    assert public.status_code == 200 and public.json()["holder_id"] == str(tutor)
    assert h.client.get(f"/v1/certificates/verify/{cert['code'].lower()}").status_code == 200
    assert h.client.get("/v1/certificates/verify/AAAA-BBBB-CCCC").status_code == 404
    assert h.client.get("/v1/certificates/verify/not-a-code").status_code == 422
    pdf = h.client.get(f"/v1/certificates/verify/{cert['code']}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.content.rstrip().endswith(b"%%EOF")
    assert b"3.0 hours of peer tutoring in term 2031-T1" in pdf.content
    mine = h.client.get("/v1/certificates", headers=tok).json()["items"]
    assert {c["details"]["term"] for c in mine} == {"2031-T1", "2030-T3"}


def test_course_completion_certifies_the_learner_and_the_courses_teacher_once(h: Reputation) -> None:
    creator, learner, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    course = uuid.uuid4()
    h.feed(cat.CoursePublished(course_id=course, creator_id=creator, title="Vectors from scratch",
                               subject_id="mathematics.linear-algebra", level="introductory", modules=[],
                               completion={"min_modules": 1}, occurred_at=h.clock()))
    for student in (learner, second):
        h.feed(cat.CourseCompleted(course_id=course, enrolment_id=uuid.uuid4(), student_id=student, modules_passed=3,
                                   modules_total=3, occurred_at=h.clock()))
    [done] = h.client.get("/v1/certificates", headers=h.token(learner)).json()["items"]
    assert done["kind"] == "course_completion" and done["details"]["course_title"] == "Vectors from scratch"
    taught = h.client.get("/v1/certificates", headers=h.token(creator, "tutor")).json()["items"]
    assert [c["kind"] for c in taught] == ["teaching"]  # one, however many learners complete
    pdf = h.client.get(f"/v1/certificates/verify/{done['code']}/pdf").content
    assert rb"for completing Vectors from scratch \(3 of 3 modules\)" in pdf  # PDF escapes parentheses
    assert {e.kind for e in h.public_events("CertificateIssued")} == {"course_completion", "teaching"}


def test_erasure_leaves_no_review_words_and_the_certificate_no_name(h: Reputation, postgres_url: str) -> None:
    tutor = uuid.uuid4()
    session, student = h.taught(tutor)
    review = h.review(session, student, 4, text="Patient with my dyscalculia, thank you")
    h.client.post(f"/v1/reviews/{review['review_id']}/response", json={"text": "Glad it helped, see you Tuesday"},
                  headers=h.token(tutor, "tutor"))
    assert h.feed(idc.UserErased(user_id=student, occurred_at=h.clock()))
    shown = h.client.get(f"/v1/reviews/{review['review_id']}", headers=h.token(uuid.uuid4())).json()
    assert shown["text"] is None and shown["response"] == "Glad it helped, see you Tuesday"
    assert shown["overall"] == 4.0  # the rating still counts: it is a number, not personal text
    assert scan_database(postgres_url, ["dyscalculia"]) == []
