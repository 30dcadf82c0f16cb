"""Suspension, erasure (crypto-shredding), and what the event store may hold."""

from __future__ import annotations

import ast
import uuid
from dataclasses import asdict
from pathlib import Path

import pytest
from fakes import PASSWORD, EventLog, FakeDocuments, FakeVault

from identity.application import IdentityApplication
from identity.domain.commands import PrivateProfileChange, PublicProfileChange, Registration, TutorApplicationForm
from identity.domain.email_index import EmailIndex
from identity.domain.errors import (
    AccountSuspended,
    Conflict,
    Forbidden,
    Invalid,
    InvalidCredentials,
    InvalidToken,
    LastAdmin,
)
from identity.domain.tutor_application import TutorApplication
from identity.domain.user import User
from servicekit.auth import Principal

DOMAIN = Path(__file__).resolve().parents[2] / "src/identity/domain"


# -- suspension -----------------------------------------------------------------------

def test_suspension_blocks_sign_in_and_ends_sessions(app: IdentityApplication, log: EventLog,
                                                     staff: uuid.UUID) -> None:
    uid = app.register(Registration("a@uni.example", PASSWORD, "A"))
    _, token = app.start_session(uid)
    _, untouched = app.start_session(uid)  # not presented while suspended
    before = log.position()
    app.suspend(uid, by=staff, reason_code="conduct", note="harassment report #12")
    [suspended] = log.of_type(User.Suspended, before)
    assert (suspended.by, suspended.reason_code) == (staff, "conduct")
    with pytest.raises(AccountSuspended):
        app.authenticate("a@uni.example", PASSWORD)
    with pytest.raises(InvalidCredentials):
        app.authenticate("a@uni.example", "wrong-password-1")  # no hint without the password
    with pytest.raises(AccountSuspended):
        app.refresh(token)
    with pytest.raises(AccountSuspended):
        app.start_session(uid)
    view = app.get_user(uid)
    assert view.suspended and view.suspension_reason_code == "conduct"
    record = app.get_suspension(uid)
    assert record.note == "harassment report #12" and record.by == staff and record.since is not None

    app.reinstate(uid, by=staff)
    [reinstated] = log.of_type(User.Reinstated, before)
    assert reinstated.by == staff
    assert app.authenticate("a@uni.example", PASSWORD) == uid
    for old in (token, untouched):
        with pytest.raises(InvalidCredentials):
            app.refresh(old)  # sessions ended by the suspension stay ended
    assert not app.get_user(uid).suspended and app.get_suspension(uid).note is None


def test_suspension_rules(app: IdentityApplication, staff: uuid.UUID) -> None:
    uid = app.register(Registration("a@uni.example", PASSWORD, "A"))
    with pytest.raises(Invalid) as err:
        app.suspend(uid, by=staff, reason_code="vibes")
    assert err.value.field == "reason_code"
    with pytest.raises(Forbidden):
        app.suspend(staff, by=staff, reason_code="other")
    with pytest.raises(Conflict):
        app.reinstate(uid, by=staff)
    app.suspend(uid, by=staff, reason_code="safety")
    with pytest.raises(Conflict):
        app.suspend(uid, by=staff, reason_code="safety")


def test_the_last_admin_cannot_be_suspended_or_erased(app: IdentityApplication, staff: uuid.UUID) -> None:
    root = app.ensure_admin("root@uni.example", PASSWORD, "Root")
    with pytest.raises(LastAdmin):
        app.suspend(root, by=staff, reason_code="other")
    with pytest.raises(Forbidden):
        app.suspend(root, by=root, reason_code="other")  # nobody suspends themselves, not even the last admin
    with pytest.raises(LastAdmin):
        app.erase(root, by=root)
    assert not app.get_user(root).erased and not app.get_user(root).suspended
    second = app.register(Registration("second@uni.example", PASSWORD, "Second"))
    app.grant_role(second, "admin", by=root)
    app.erase(root, by=second)
    assert app.get_user(root).erased
    with pytest.raises(LastAdmin):
        app.revoke_role(second, "admin", by=second)


def test_identity_refuses_a_suspended_or_erased_account_however_fresh_its_token(
        app: IdentityApplication, staff: uuid.UUID) -> None:
    uid = app.register(Registration("a@uni.example", PASSWORD, "A"))
    principal = Principal(user_id=uid, roles=frozenset({"student"}))
    app.check_principal(principal)  # an account in good standing passes
    app.suspend(uid, by=staff, reason_code="conduct")
    with pytest.raises(AccountSuspended):
        app.check_principal(principal)
    app.erase(uid, by=uid)
    with pytest.raises(InvalidToken, match="erased"):
        app.check_principal(principal)
    with pytest.raises(InvalidToken, match="no such user"):
        app.check_principal(Principal(user_id=uuid.uuid4(), roles=frozenset()))


# -- erasure --------------------------------------------------------------------------

def test_erasure_shreds_personal_data_yet_history_still_loads(
        app: IdentityApplication, vault: FakeVault, documents: FakeDocuments, log: EventLog) -> None:
    uid = app.register(Registration("alice@uni.example", PASSWORD, "Alice", referral={"channel": "poster"}))
    app.update_private_profile(uid, PrivateProfileChange(legal_name="Alice Liddell", phone="+44 1865 000000"))
    app.update_public_profile(uid, PublicProfileChange(headline="Rabbit-hole expert", languages=["en"]))
    doc = app.upload_document(uid, "looking-glass.pdf", "application/pdf", b"%PDF-1.7 ...")
    aid = app.submit_tutor_application(uid, TutorApplicationForm(["Logic"], ["intro"], "Oxford", "Curiouser",
                                                                 [doc.document_id]))
    _, token = app.start_session(uid)
    sealed = [e.email_sealed for e in log.of_type(User.Registered) if e.originator_id == uid]

    before = log.position()
    app.erase(uid, by=uid)

    assert uid in vault.forgotten
    assert vault.open(uid, sealed[0]) is None  # the stored email can no longer be read
    assert documents.of(uid) == []  # the uploads are gone
    view = app.get_user(uid)
    assert view.erased and view.email is None and view.display_name == "Erased user"
    assert view.headline is None and view.referral is None
    assert set(view.private_profile.values()) == {None}
    assert app.get_public_profile(uid).display_name == "Erased user"
    application = app.get_tutor_application(aid)
    assert application.status == "withdrawn" and application.qualifications is None
    assert application.statement is None and application.documents == []
    # History is intact: every event of the user still loads, in order.
    history = list(app.repository.event_store.get(uid))
    assert isinstance(history[0], User.Registered) and isinstance(history[-1], User.Erased)
    first = app.repository.get(uid, version=1).display_name
    assert first != "Alice" and app.shared.open(uid, first) is None  # recorded sealed, and now unreadable
    # What was recorded: ids only.
    new = log.events(before)
    [erased] = [e for e in new if isinstance(e, User.Erased)]
    assert erased.by == uid
    assert any(isinstance(e, EmailIndex.Released) for e in new)
    assert any(isinstance(e, TutorApplication.Withdrawn) for e in new)
    # Signed out, and unknown as far as sign-in is concerned.
    with pytest.raises(InvalidCredentials):
        app.refresh(token)
    with pytest.raises(InvalidCredentials):
        app.authenticate("alice@uni.example", PASSWORD)


def test_a_refused_erasure_keeps_everything(app: IdentityApplication, vault: FakeVault,
                                            documents: FakeDocuments) -> None:
    root = app.ensure_admin("root@uni.example", PASSWORD, "Root")
    app.upload_document(root, "cv.pdf", "application/pdf", b"%PDF-1.7 ...")
    with pytest.raises(LastAdmin):
        app.erase(root, by=root)
    assert root not in vault.forgotten and len(documents.of(root)) == 1


def test_an_erased_address_can_register_again(app: IdentityApplication) -> None:
    uid = app.register(Registration("alice@uni.example", PASSWORD, "Alice"))
    app.erase(uid, by=uid)
    again = app.register(Registration("Alice@uni.example", "a-fresh-password-2", "Alice again"))
    assert again != uid
    assert app.authenticate("alice@uni.example", "a-fresh-password-2") == again
    assert app.get_user(again).email == "alice@uni.example"
    assert app.get_user(uid).email is None  # the old account stays erased


def test_erasure_is_safe_to_repeat(app: IdentityApplication, vault: FakeVault, log: EventLog) -> None:
    uid = app.register(Registration("alice@uni.example", PASSWORD, "Alice"))
    app.erase(uid, by=None)
    before = log.position()
    vault.forgotten.clear()
    app.erase(uid, by=None)  # a retry after a crash between the save and the key deletion
    assert log.position() == before and uid in vault.forgotten


def test_an_address_whose_index_was_not_released_is_reclaimed_from_an_erased_holder(
        app: IdentityApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    uid = app.register(Registration("alice@uni.example", PASSWORD, "Alice"))
    monkeypatch.setattr(app, "_email_index", lambda email: None)  # erasure could not find the index
    app.erase(uid, by=uid)
    monkeypatch.undo()
    again = app.register(Registration("alice@uni.example", PASSWORD, "Alice again"))
    assert app.authenticate("alice@uni.example", PASSWORD) == again


# -- the event store ------------------------------------------------------------------

def test_no_stored_event_holds_personal_data_in_the_clear(app: IdentityApplication, log: EventLog,
                                                          staff: uuid.UUID) -> None:
    from fakes import lookup_key

    uid = app.register(Registration("secret.person@uni.example", "hunter2-hunter2", "Pat",
                                    referral={"channel": "poster"}))
    app.issue_email_verification(uid)
    app.update_private_profile(uid, PrivateProfileChange(legal_name="Patricia Q. Secret", phone="+44 7700 900123",
                                                         date_of_birth="2001-02-03", notes="allergic to cats"))
    passport = app.upload_document(uid, "patricia-passport.pdf", "application/pdf", b"%PDF-1.7 x")
    app.submit_tutor_application(uid, TutorApplicationForm(["Art"], ["intro"], "MA Fine Art, Slade",
                                                           "my statement of intent", [passport.document_id]))
    app.suspend(uid, by=staff, reason_code="other", note="private note about Patricia")
    app.change_password(uid, "hunter2-hunter2", "correct-horse-battery")
    stored = log.stored_bytes()
    for needle in ("secret.person", "uni.example", "hunter2", "correct-horse", "Patricia", "7700 900123",
                   "2001-02-03", "allergic", "Slade", "statement of intent", "passport",
                   lookup_key("secret.person@uni.example")):
        assert needle.encode() not in stored, needle
    # Not even the public name: it travels sealed, so erasure can make it unreadable everywhere.
    assert b'"Pat"' not in stored and app.get_public_profile(uid).display_name == "Pat"


def test_events_carry_what_public_integration_events_need(app: IdentityApplication, log: EventLog,
                                                          staff: uuid.UUID) -> None:
    """Each public fact is complete on its own: no translator needs another aggregate."""
    referrer = app.register(Registration("ref@uni.example", PASSWORD, "Ref"))
    uid = app.register(Registration("ada@uni.example", PASSWORD, "Ada",
                                    referral={"referrer_user_id": str(referrer), "channel": "friend"}))
    app.update_public_profile(uid, PublicProfileChange(headline="Maths", languages=["en", "fr"]))
    aid = app.submit_tutor_application(uid, TutorApplicationForm(["Algebra"], ["GCSE"]))
    app.approve_tutor_application(aid, staff)
    app.set_background_check(uid, "pending", "manual")
    app.suspend(uid, by=staff, reason_code="safety", note="private")
    app.reinstate(uid, by=staff)
    app.erase(uid, by=uid)
    mine = [e for e in log.events() if getattr(e, "user_id", e.originator_id) == uid or e.originator_id == uid]
    by_type = {type(e).__qualname__: e for e in mine}
    r = by_type["User.Registered"]
    assert (r.roles, r.referral["referrer_user_id"]) == (["student"], str(referrer))
    p = by_type["User.PublicProfileUpdated"]
    assert (p.avatar_url, p.languages, p.time_zone) == (None, ["en", "fr"], "UTC")
    # Name and headline are there, sealed: the translator copies them as they are (v2).
    assert r.display_name.startswith("v1.") and p.display_name.startswith("v1.") and p.headline.startswith("v1.")
    s = by_type["TutorApplication.Submitted"]
    assert (s.user_id, s.subjects, s.levels, s.document_count) == (uid, ["Algebra"], ["GCSE"], 0)
    a = by_type["TutorApplication.Approved"]
    assert (a.user_id, a.subjects, a.levels, a.reviewer_id) == (uid, ["Algebra"], ["GCSE"], staff)
    g = by_type["User.RoleGranted"]
    assert (g.role, g.by) == ("tutor", staff)
    assert (by_type["User.BackgroundCheckUpdated"].status, by_type["User.BackgroundCheckUpdated"].provider) == (
        "pending", "manual")
    assert (by_type["User.Suspended"].reason_code, by_type["User.Suspended"].by) == ("safety", staff)
    assert by_type["User.Reinstated"].by == staff
    assert by_type["User.Erased"].by == uid
    assert asdict(app.get_public_profile(uid))["roles"] == []  # erased: no roles shown


def test_every_event_class_says_what_it_means() -> None:
    event_classes = []
    for path in DOMAIN.glob("*.py"):
        aggregates = [n for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)]
        event_classes += [c for agg in aggregates for c in agg.body if isinstance(c, ast.ClassDef)]
    assert len(event_classes) >= 25
    for cls in event_classes:
        assert ast.get_docstring(cls), cls.name


def test_the_domain_imports_no_framework() -> None:
    """Only the standard library, eventsourcing, identity itself, and the kit's refusals."""
    allowed = {"__future__", "collections", "dataclasses", "datetime", "enum", "functools", "re", "typing",
               "urllib", "uuid", "zoneinfo", "eventsourcing", "identity", "servicekit.errors"}
    for path in DOMAIN.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                modules = {node.module or ""}
            else:
                continue
            refused = {m for m in modules if m not in allowed and m.split(".")[0] not in allowed}
            assert not refused, f"{path.name} imports {refused}"
