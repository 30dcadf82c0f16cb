"""Tutor applications and their review; background checks."""

from __future__ import annotations

import copy
import hashlib
import uuid
from typing import Any

import pytest
from eventsourcing.persistence import RecordConflictError
from fakes import PASSWORD, EventLog

from identity.application import IdentityApplication
from identity.domain import rules
from identity.domain.commands import PublicProfileChange, Registration, TutorApplicationForm
from identity.domain.errors import (
    AccountSuspended,
    ApplicationPending,
    Conflict,
    Invalid,
    NotFound,
    SelfReview,
)
from identity.domain.tutor_application import TutorApplication
from identity.domain.user import User


def form(subjects: list[str] | None = None, levels: list[str] | None = None, **more: Any) -> TutorApplicationForm:
    return TutorApplicationForm(subjects if subjects is not None else ["Art"],
                                levels if levels is not None else ["intro"], **more)


@pytest.fixture
def applicant(app: IdentityApplication) -> uuid.UUID:
    return app.register(Registration("tess@uni.example", PASSWORD, "Tess"))


def test_submission_is_readable_by_id_and_listed_on_the_user(app: IdentityApplication, log: EventLog,
                                                             applicant: uuid.UUID) -> None:
    uid = applicant
    degree = app.upload_document(uid, "degree.pdf", "application/pdf", b"%PDF-1.7 ...")
    transcript = app.upload_document(uid, "transcript.png", "image/png", b"\x89PNG...")
    before = log.position()
    aid = app.submit_tutor_application(uid, form(["Algebra I", " Algebra  I ", "Physics"], ["GCSE", "A-level"],
                                                 qualifications="BSc Mathematics (first)",
                                                 statement="I love teaching",
                                                 document_ids=[degree.document_id, transcript.document_id]))
    view = app.get_tutor_application(aid)
    assert view.id == aid and view.user_id == uid and view.status == "submitted"
    assert view.subjects == ["Algebra I", "Physics"] and view.levels == ["GCSE", "A-level"]
    assert view.qualifications == "BSc Mathematics (first)" and view.statement == "I love teaching"
    assert view.documents == [
        {"document_id": str(d.document_id), "filename": d.filename, "content_type": d.content_type,
         "size": d.size, "sha256": d.sha256} for d in (degree, transcript)]
    assert view.document_count == 2 and view.documents[1]["content_type"] == "image/png"
    assert view.reviewer_id is None and view.review_note is None and view.decided_at is None
    assert app.application_ids_for_user(uid) == [aid]
    assert app.get_user(uid).open_application_id == aid
    submitted = log.of_type(TutorApplication.Submitted, before)
    assert [(e.user_id, e.subjects, e.levels, e.document_count) for e in submitted] == [
        (uid, ["Algebra I", "Physics"], ["GCSE", "A-level"], 2)]


@pytest.mark.parametrize(("changes", "field"), [
    ({"subjects": []}, "subjects"),
    ({"subjects": ["  "]}, "subjects.0"),
    ({"subjects": "Maths"}, "subjects"),
    ({"levels": []}, "levels"),
    ({"qualifications": "x" * 4001}, "qualifications"),
])
def test_submission_rules_name_the_field(app: IdentityApplication, applicant: uuid.UUID,
                                         changes: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as err:
        app.submit_tutor_application(applicant, TutorApplicationForm(**{"subjects": ["Art"], "levels": ["intro"],
                                                                        **changes}))
    assert err.value.field == field
    assert app.application_ids_for_user(applicant) == []


def test_only_the_applicants_own_uploads_can_be_attached(app: IdentityApplication, applicant: uuid.UUID) -> None:
    other = app.register(Registration("other@uni.example", PASSWORD, "Other"))
    theirs = app.upload_document(other, "theirs.pdf", "application/pdf", b"%PDF-1.7 ...")
    mine = app.upload_document(applicant, "mine.pdf", "application/pdf", b"%PDF-1.7 ...")
    for position, wrong in ((1, theirs.document_id), (1, uuid.uuid4())):
        with pytest.raises(Invalid) as err:
            app.submit_tutor_application(applicant, form(document_ids=[mine.document_id, wrong]))
        assert err.value.field == f"document_ids.{position}"
    assert app.application_ids_for_user(applicant) == []


def document(**changes: Any) -> dict[str, Any]:
    data = b"%PDF-1.7 ..."
    return {"document_id": str(uuid.uuid4()), "filename": "degree.pdf", "content_type": "application/pdf",
            "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **changes}


@pytest.mark.parametrize(("documents", "field"), [
    ([{"document_id": "nope"}], "documents.0.document_id"),
    ([document(sha256="abc")], "documents.0.sha256"),
    ([document(size=-1)], "documents.0.size"),
    ([document(content_type="pdf")], "documents.0.content_type"),
    ([document()] * 2, "documents.1.document_id"),
])
def test_document_metadata_rules_name_the_field(documents: list[dict[str, Any]], field: str) -> None:
    with pytest.raises(Invalid) as err:
        rules.documents(documents)
    assert err.value.field == field


def test_one_open_application_at_a_time(app: IdentityApplication, staff: uuid.UUID, applicant: uuid.UUID) -> None:
    first = app.submit_tutor_application(applicant, form())
    with pytest.raises(ApplicationPending) as err:
        app.submit_tutor_application(applicant, form(["Physics"], ["advanced"]))
    assert err.value.field == "application"
    app.reject_tutor_application(first, staff, reason="portfolio missing")
    doc = app.upload_document(applicant, "degree.pdf", "application/pdf", b"%PDF-1.7 ...")
    second = app.submit_tutor_application(applicant, form(document_ids=[doc.document_id]))
    assert app.application_ids_for_user(applicant) == [first, second]


def test_approval_grants_the_tutor_role_in_the_same_save(app: IdentityApplication, log: EventLog, staff: uuid.UUID,
                                                         applicant: uuid.UUID,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    uid = applicant
    aid = app.submit_tutor_application(uid, form(["Algebra I"], ["exam prep"], qualifications="BSc", statement="hi"))
    saves: list[tuple[Any, ...]] = []
    real_save = app.save

    def save(*aggregates: Any, **kwargs: Any) -> Any:
        saves.append(aggregates)
        return real_save(*aggregates, **kwargs)

    monkeypatch.setattr(app, "save", save)
    before = log.position()
    app.approve_tutor_application(aid, staff, note="checked with the department")
    assert len(saves) == 1 and {type(a) for a in saves[0]} == {TutorApplication, User}
    approved = log.of_type(TutorApplication.Approved, before)
    granted = log.of_type(User.RoleGranted, before)
    assert [(e.user_id, e.subjects, e.levels, e.reviewer_id) for e in approved] == [
        (uid, ["Algebra I"], ["exam prep"], staff)]
    assert [(e.role, e.by) for e in granted] == [("tutor", staff)]
    assert "tutor" in app.get_user(uid).roles and app.get_user(uid).open_application_id is None
    view = app.get_tutor_application(aid)
    assert view.status == "approved" and view.reviewer_id == staff
    assert view.review_note == "checked with the department" and view.decided_at is not None
    with pytest.raises(Conflict):
        app.reject_tutor_application(aid, staff, reason="changed my mind")
    with pytest.raises(Conflict):
        app.approve_tutor_application(aid, staff)


def test_approval_and_role_are_all_or_nothing(app: IdentityApplication, staff: uuid.UUID, applicant: uuid.UUID,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    uid = applicant
    aid = app.submit_tutor_application(uid, form())
    stale_user: User = app.repository.get(uid)  # the approval reads the user...
    app.update_public_profile(uid, PublicProfileChange(headline="changed meanwhile"))  # ...someone else writes it...
    # Every attempt reads the same stale state (a fresh copy, as a real load would be), so
    # each conflicts, the retries run out, and the conflict surfaces (the gateway's 409).
    real_user = app._user
    monkeypatch.setattr(app, "_user",
                        lambda user_id: copy.deepcopy(stale_user) if user_id == uid else real_user(user_id))
    with pytest.raises(RecordConflictError):
        app.approve_tutor_application(aid, staff)  # ...so the user's events conflict
    monkeypatch.undo()
    assert app.get_tutor_application(aid).status == "submitted"  # the approval was not stored alone
    assert "tutor" not in app.get_user(uid).roles
    app.approve_tutor_application(aid, staff)  # a retry works
    assert "tutor" in app.get_user(uid).roles


def test_nobody_reviews_their_own_application(app: IdentityApplication, applicant: uuid.UUID) -> None:
    app.grant_role(applicant, "staff", by=None)
    aid = app.submit_tutor_application(applicant, form())
    with pytest.raises(SelfReview):
        app.approve_tutor_application(aid, applicant)
    with pytest.raises(SelfReview):
        app.reject_tutor_application(aid, applicant, reason="modesty")
    assert app.get_tutor_application(aid).status == "submitted"


def test_rejection_needs_a_reason_and_keeps_it_sealed(app: IdentityApplication, log: EventLog, staff: uuid.UUID,
                                                      applicant: uuid.UUID) -> None:
    aid = app.submit_tutor_application(applicant, form())
    with pytest.raises(Invalid) as err:
        app.reject_tutor_application(aid, staff, reason="   ")
    assert err.value.field == "reason"
    before = log.position()
    app.reject_tutor_application(aid, staff, reason="No evidence of the portfolio")
    [rejected] = log.of_type(TutorApplication.Rejected, before)
    assert rejected.reviewer_id == staff and rejected.user_id == applicant
    view = app.get_tutor_application(aid)
    assert view.status == "rejected" and view.review_note == "No evidence of the portfolio"
    assert "tutor" not in app.get_user(applicant).roles
    assert b"portfolio" not in log.stored_bytes()


def test_a_suspended_user_cannot_apply_nor_be_approved(app: IdentityApplication, staff: uuid.UUID,
                                                       applicant: uuid.UUID) -> None:
    aid = app.submit_tutor_application(applicant, form())
    app.suspend(applicant, by=staff, reason_code="policy")
    with pytest.raises(Conflict, match="suspended"):
        app.approve_tutor_application(aid, staff)
    app.reject_tutor_application(aid, staff, reason="suspended during review")
    with pytest.raises(AccountSuspended):
        app.submit_tutor_application(applicant, form())


def test_unknown_applications(app: IdentityApplication, staff: uuid.UUID, applicant: uuid.UUID) -> None:
    with pytest.raises(NotFound):
        app.get_tutor_application(uuid.uuid4())
    with pytest.raises(NotFound):
        app.approve_tutor_application(uuid.uuid4(), staff)
    with pytest.raises(NotFound):
        app.get_tutor_application(applicant)  # a user id is no application id


def test_background_check_status_is_recorded_with_its_provider(app: IdentityApplication, log: EventLog,
                                                               applicant: uuid.UUID) -> None:
    uid = applicant
    before = log.position()
    app.set_background_check(uid, "pending", "manual")
    app.set_background_check(uid, "pending", "manual")  # unchanged: no second fact
    app.set_background_check(uid, "clear")  # by the configured provider
    updates = log.of_type(User.BackgroundCheckUpdated, before)
    assert [(e.status, e.provider) for e in updates] == [("pending", "manual"), ("clear", "manual")]
    view = app.get_user(uid)
    assert view.background_check == "clear" and view.background_check_provider == "manual"
    assert view.background_check_updated_at == updates[-1].timestamp
    with pytest.raises(Invalid) as err:
        app.set_background_check(uid, "probably-fine", "manual")
    assert err.value.field == "status"
    with pytest.raises(Invalid) as err:
        app.set_background_check(uid, "failed", "")
    assert err.value.field == "provider"


def test_a_background_check_is_started_with_the_configured_provider(app: IdentityApplication,
                                                                     applicant: uuid.UUID) -> None:
    started = app.start_background_check(applicant)
    assert (started.user_id, started.status, started.provider) == (applicant, "pending", "manual")
    assert app.get_user(applicant).background_check == "pending"
    with pytest.raises(NotFound):
        app.start_background_check(uuid.uuid4())
