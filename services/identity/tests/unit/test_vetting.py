"""Tutor applications and their review; background checks."""

from __future__ import annotations

import copy
import hashlib
import uuid
from typing import Any

import pytest
from fakes import PASSWORD

from identity.application import IdentityApplication
from identity.domain import (
    AccountSuspended,
    ApplicationPending,
    ConcurrentUpdate,
    Conflict,
    NotFound,
    SelfReview,
    TutorApplication,
    User,
    ValidationError,
)


def document(name: str = "degree.pdf", data: bytes = b"%PDF-1.7 ...") -> dict[str, Any]:
    return {"document_id": str(uuid.uuid4()), "filename": name, "content_type": "application/pdf",
            "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def events(app: IdentityApplication, start: int = 0) -> list[Any]:
    notes = app.recorder.select_notifications(start=start, limit=1000, inclusive_of_start=False)
    return [app.mapper.to_domain_event(n) for n in notes]


@pytest.fixture
def people(app: IdentityApplication) -> tuple[uuid.UUID, uuid.UUID]:
    staff = app.register("staff@uni.example", PASSWORD, "Staff")
    app.grant_role(staff, "staff", by=None)
    applicant = app.register("tess@uni.example", PASSWORD, "Tess")
    return staff, applicant


def test_submission_is_readable_by_id_and_listed_on_the_user(app: IdentityApplication,
                                                             people: tuple[uuid.UUID, uuid.UUID]) -> None:
    _, uid = people
    docs = [document(), document("transcript.png")]
    docs[1]["content_type"] = "image/png"
    before = app.recorder.max_notification_id() or 0
    aid = app.submit_tutor_application(uid, ["Algebra I", " Algebra  I ", "Physics"], ["GCSE", "A-level"],
                                       "BSc Mathematics (first)", "I love teaching", docs)
    view = app.get_tutor_application(aid)
    assert view.id == aid and view.user_id == uid and view.status == "submitted"
    assert view.subjects == ["Algebra I", "Physics"] and view.levels == ["GCSE", "A-level"]
    assert view.qualifications == "BSc Mathematics (first)" and view.statement == "I love teaching"
    assert view.documents == docs and view.document_count == 2
    assert view.reviewer_id is None and view.review_note is None and view.decided_at is None
    assert app.application_ids_for_user(uid) == [aid]
    assert app.get_user(uid).open_application_id == aid
    submitted = [e for e in events(app, before) if isinstance(e, TutorApplication.Submitted)]
    assert [(e.user_id, e.subjects, e.levels, e.document_count) for e in submitted] == [
        (uid, ["Algebra I", "Physics"], ["GCSE", "A-level"], 2)]


@pytest.mark.parametrize(("changes", "field"), [
    ({"subjects": []}, "subjects"),
    ({"subjects": ["  "]}, "subjects.0"),
    ({"subjects": "Maths"}, "subjects"),
    ({"levels": []}, "levels"),
    ({"qualifications": "x" * 4001}, "qualifications"),
    ({"documents": [{"document_id": "nope"}]}, "documents.0.document_id"),
    ({"documents": [{**document(), "sha256": "abc"}]}, "documents.0.sha256"),
    ({"documents": [{**document(), "size": -1}]}, "documents.0.size"),
    ({"documents": [{**document(), "content_type": "pdf"}]}, "documents.0.content_type"),
])
def test_submission_rules_name_the_field(app: IdentityApplication, people: tuple[uuid.UUID, uuid.UUID],
                                         changes: dict[str, Any], field: str) -> None:
    _, uid = people
    args: dict[str, Any] = {"subjects": ["Art"], "levels": ["intro"], "qualifications": "", "statement": "",
                            "documents": [], **changes}
    with pytest.raises(ValidationError) as err:
        app.submit_tutor_application(uid, **args)
    assert err.value.field == field
    assert app.application_ids_for_user(uid) == []


def test_one_open_application_at_a_time(app: IdentityApplication, people: tuple[uuid.UUID, uuid.UUID]) -> None:
    staff, uid = people
    first = app.submit_tutor_application(uid, ["Art"], ["intro"], "", "", [])
    with pytest.raises(ApplicationPending) as err:
        app.submit_tutor_application(uid, ["Physics"], ["advanced"], "", "", [])
    assert err.value.field == "application"
    app.reject_tutor_application(first, staff, reason="portfolio missing")
    second = app.submit_tutor_application(uid, ["Art"], ["intro"], "", "", [document()])
    assert app.application_ids_for_user(uid) == [first, second]


def test_approval_grants_the_tutor_role_in_the_same_save(app: IdentityApplication,
                                                         people: tuple[uuid.UUID, uuid.UUID],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    staff, uid = people
    aid = app.submit_tutor_application(uid, ["Algebra I"], ["exam prep"], "BSc", "hi", [document()])
    saves: list[tuple[Any, ...]] = []
    real_save = app.save

    def save(*aggregates: Any, **kwargs: Any) -> Any:
        saves.append(aggregates)
        return real_save(*aggregates, **kwargs)

    monkeypatch.setattr(app, "save", save)
    before = app.recorder.max_notification_id() or 0
    app.approve_tutor_application(aid, staff, note="checked with the department")
    assert len(saves) == 1 and {type(a) for a in saves[0]} == {TutorApplication, User}
    new = events(app, before)
    approved = [e for e in new if isinstance(e, TutorApplication.Approved)]
    granted = [e for e in new if isinstance(e, User.RoleGranted)]
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


def test_approval_and_role_are_all_or_nothing(app: IdentityApplication, people: tuple[uuid.UUID, uuid.UUID],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    staff, uid = people
    aid = app.submit_tutor_application(uid, ["Art"], ["intro"], "", "", [])
    stale_user = app.repository.get(uid)  # the approval reads the user...
    app.update_public_profile(uid, headline="changed meanwhile")  # ...someone else writes it...
    # Every attempt reads the same stale state (a fresh copy, as a real load would be), so
    # each conflicts, the retries run out, and the conflict surfaces.
    monkeypatch.setattr(app, "_user", lambda user_id: copy.deepcopy(stale_user) if user_id == uid else None)
    with pytest.raises(ConcurrentUpdate):
        app.approve_tutor_application(aid, staff)  # ...so the user's events conflict
    monkeypatch.undo()
    assert app.get_tutor_application(aid).status == "submitted"  # the approval was not stored alone
    assert "tutor" not in app.get_user(uid).roles
    app.approve_tutor_application(aid, staff)  # a retry works
    assert "tutor" in app.get_user(uid).roles


def test_nobody_reviews_their_own_application(app: IdentityApplication,
                                              people: tuple[uuid.UUID, uuid.UUID]) -> None:
    _, uid = people
    app.grant_role(uid, "staff", by=None)
    aid = app.submit_tutor_application(uid, ["Art"], ["intro"], "", "", [])
    with pytest.raises(SelfReview):
        app.approve_tutor_application(aid, uid)
    with pytest.raises(SelfReview):
        app.reject_tutor_application(aid, uid, reason="modesty")
    assert app.get_tutor_application(aid).status == "submitted"


def test_rejection_needs_a_reason_and_keeps_it_sealed(app: IdentityApplication,
                                                      people: tuple[uuid.UUID, uuid.UUID]) -> None:
    staff, uid = people
    aid = app.submit_tutor_application(uid, ["Art"], ["intro"], "", "", [])
    with pytest.raises(ValidationError) as err:
        app.reject_tutor_application(aid, staff, reason="   ")
    assert err.value.field == "reason"
    before = app.recorder.max_notification_id() or 0
    app.reject_tutor_application(aid, staff, reason="No evidence of the portfolio")
    [rejected] = [e for e in events(app, before) if isinstance(e, TutorApplication.Rejected)]
    assert rejected.reviewer_id == staff and rejected.user_id == uid
    view = app.get_tutor_application(aid)
    assert view.status == "rejected" and view.review_note == "No evidence of the portfolio"
    assert "tutor" not in app.get_user(uid).roles
    states = b"".join(n.state for n in app.recorder.select_notifications(start=1, limit=1000))
    assert b"portfolio" not in states


def test_a_suspended_user_cannot_apply_nor_be_approved(app: IdentityApplication,
                                                       people: tuple[uuid.UUID, uuid.UUID]) -> None:
    staff, uid = people
    aid = app.submit_tutor_application(uid, ["Art"], ["intro"], "", "", [])
    app.suspend(uid, by=staff, reason_code="policy")
    with pytest.raises(Conflict, match="suspended"):
        app.approve_tutor_application(aid, staff)
    app.reject_tutor_application(aid, staff, reason="suspended during review")
    with pytest.raises(AccountSuspended):
        app.submit_tutor_application(uid, ["Art"], ["intro"], "", "", [])


def test_unknown_applications(app: IdentityApplication, people: tuple[uuid.UUID, uuid.UUID]) -> None:
    staff, uid = people
    with pytest.raises(NotFound):
        app.get_tutor_application(uuid.uuid4())
    with pytest.raises(NotFound):
        app.approve_tutor_application(uuid.uuid4(), staff)
    with pytest.raises(NotFound):
        app.get_tutor_application(uid)  # a user id is no application id


def test_background_check_status_is_recorded_with_its_provider(app: IdentityApplication,
                                                               people: tuple[uuid.UUID, uuid.UUID]) -> None:
    _, uid = people
    before = app.recorder.max_notification_id() or 0
    app.set_background_check(uid, "pending", "manual")
    app.set_background_check(uid, "pending", "manual")  # unchanged: no second fact
    app.set_background_check(uid, "clear", "manual")
    updates = [e for e in events(app, before) if isinstance(e, User.BackgroundCheckUpdated)]
    assert [(e.status, e.provider) for e in updates] == [("pending", "manual"), ("clear", "manual")]
    view = app.get_user(uid)
    assert view.background_check == "clear" and view.background_check_provider == "manual"
    assert view.background_check_updated_at == updates[-1].timestamp
    with pytest.raises(ValidationError) as err:
        app.set_background_check(uid, "probably-fine", "manual")
    assert err.value.field == "status"
    with pytest.raises(ValidationError) as err:
        app.set_background_check(uid, "failed", "")
    assert err.value.field == "provider"
