"""Suspension, erasure (crypto-shredding), and what the event store may hold."""

from __future__ import annotations

import ast
import hashlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from fakes import PASSWORD, FakeVault, lookup_key

from identity.application import IdentityApplication
from identity.domain import (
    AccountSuspended,
    Conflict,
    EmailIndex,
    Forbidden,
    InvalidCredentials,
    LastAdmin,
    TutorApplication,
    User,
    ValidationError,
)


def events(app: IdentityApplication, start: int = 0) -> list[Any]:
    notes = app.recorder.select_notifications(start=start, limit=1000, inclusive_of_start=False)
    return [app.mapper.to_domain_event(n) for n in notes]


def stored_bytes(app: IdentityApplication) -> bytes:
    return b"\n".join(n.state for n in app.recorder.select_notifications(start=1, limit=1000))


@pytest.fixture
def staff(app: IdentityApplication) -> uuid.UUID:
    uid = app.register("staff@uni.example", PASSWORD, "Staff")
    app.grant_role(uid, "staff", by=None)
    return uid


# -- suspension -----------------------------------------------------------------------

def test_suspension_blocks_sign_in_and_ends_sessions(app: IdentityApplication, staff: uuid.UUID) -> None:
    uid = app.register("a@uni.example", PASSWORD, "A")
    _, token = app.start_session(uid)
    _, untouched = app.start_session(uid)  # not presented while suspended
    before = app.recorder.max_notification_id() or 0
    app.suspend(uid, by=staff, reason_code="conduct", note="harassment report #12")
    [suspended] = [e for e in events(app, before) if isinstance(e, User.Suspended)]
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
    [reinstated] = [e for e in events(app, before) if isinstance(e, User.Reinstated)]
    assert reinstated.by == staff
    assert app.authenticate("a@uni.example", PASSWORD) == uid
    for old in (token, untouched):
        with pytest.raises(InvalidCredentials):
            app.refresh(old)  # sessions ended by the suspension stay ended
    assert not app.get_user(uid).suspended and app.get_suspension(uid).note is None


def test_suspension_rules(app: IdentityApplication, staff: uuid.UUID) -> None:
    uid = app.register("a@uni.example", PASSWORD, "A")
    with pytest.raises(ValidationError) as err:
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
    with pytest.raises(LastAdmin):
        app.erase(root, by=root)
    assert not app.get_user(root).erased
    second = app.register("second@uni.example", PASSWORD, "Second")
    app.grant_role(second, "admin", by=root)
    app.erase(root, by=second)
    assert app.get_user(root).erased
    with pytest.raises(LastAdmin):
        app.revoke_role(second, "admin", by=second)


# -- erasure --------------------------------------------------------------------------

def test_erasure_shreds_personal_data_yet_history_still_loads(
        app: IdentityApplication, vault: FakeVault, staff: uuid.UUID) -> None:
    uid = app.register("alice@uni.example", PASSWORD, "Alice", referral={"channel": "poster"})
    app.update_private_profile(uid, legal_name="Alice Liddell", phone="+44 1865 000000")
    app.update_public_profile(uid, headline="Rabbit-hole expert", languages=["en"])
    aid = app.submit_tutor_application(uid, ["Logic"], ["intro"], "Oxford", "Curiouser", [])
    _, token = app.start_session(uid)
    sealed = [e.email_sealed for e in events(app) if isinstance(e, User.Registered) and e.originator_id == uid]

    before = app.recorder.max_notification_id() or 0
    app.erase(uid, by=uid)

    assert uid in vault.forgotten
    assert vault.open(uid, sealed[0]) is None  # the stored email can no longer be read
    view = app.get_user(uid)
    assert view.erased and view.email is None and view.display_name == "Erased user"
    assert view.headline is None and view.referral is None
    assert set(view.private_profile.values()) == {None}
    assert app.get_public_profile(uid)["display_name"] == "Erased user"
    application = app.get_tutor_application(aid)
    assert application.status == "withdrawn" and application.qualifications is None
    assert application.statement is None and application.documents == []
    # History is intact: every event of the user still loads, in order.
    history = list(app.repository.event_store.get(uid))
    assert isinstance(history[0], User.Registered) and isinstance(history[-1], User.Erased)
    assert app.repository.get(uid, version=1).display_name == "Alice"
    # What was recorded: ids only.
    new = events(app, before)
    [erased] = [e for e in new if isinstance(e, User.Erased)]
    assert erased.by == uid
    assert any(isinstance(e, EmailIndex.Released) for e in new)
    assert any(isinstance(e, TutorApplication.Withdrawn) for e in new)
    # Signed out, and unknown as far as sign-in is concerned.
    with pytest.raises(InvalidCredentials):
        app.refresh(token)
    with pytest.raises(InvalidCredentials):
        app.authenticate("alice@uni.example", PASSWORD)


def test_an_erased_address_can_register_again(app: IdentityApplication) -> None:
    uid = app.register("alice@uni.example", PASSWORD, "Alice")
    app.erase(uid, by=uid)
    again = app.register("Alice@uni.example", "a-fresh-password-2", "Alice again")
    assert again != uid
    assert app.authenticate("alice@uni.example", "a-fresh-password-2") == again
    assert app.get_user(again).email == "alice@uni.example"
    assert app.get_user(uid).email is None  # the old account stays erased


def test_erasure_is_safe_to_repeat(app: IdentityApplication, vault: FakeVault) -> None:
    uid = app.register("alice@uni.example", PASSWORD, "Alice")
    app.erase(uid, by=None)
    before = app.recorder.max_notification_id()
    vault.forgotten.clear()
    app.erase(uid, by=None)  # a retry after a crash between the save and the key deletion
    assert app.recorder.max_notification_id() == before and uid in vault.forgotten


def test_an_address_whose_index_was_not_released_is_reclaimed_from_an_erased_holder(
        app: IdentityApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    uid = app.register("alice@uni.example", PASSWORD, "Alice")
    monkeypatch.setattr(app, "_email_index", lambda email: None)  # erasure could not find the index
    app.erase(uid, by=uid)
    monkeypatch.undo()
    again = app.register("alice@uni.example", PASSWORD, "Alice again")
    assert app.authenticate("alice@uni.example", PASSWORD) == again


# -- the event store ------------------------------------------------------------------

def test_no_stored_event_holds_personal_data_in_the_clear(app: IdentityApplication, staff: uuid.UUID) -> None:
    uid = app.register("secret.person@uni.example", "hunter2-hunter2", "Pat", referral={"channel": "poster"})
    app.issue_email_verification(uid)
    app.update_private_profile(uid, legal_name="Patricia Q. Secret", phone="+44 7700 900123",
                               date_of_birth="2001-02-03", notes="allergic to cats")
    app.submit_tutor_application(uid, ["Art"], ["intro"], "MA Fine Art, Slade", "my statement of intent",
                                 [{"document_id": str(uuid.uuid4()), "filename": "patricia-passport.pdf",
                                   "content_type": "application/pdf", "size": 10,
                                   "sha256": hashlib.sha256(b"x").hexdigest()}])
    app.suspend(uid, by=staff, reason_code="other", note="private note about Patricia")
    app.change_password(uid, "hunter2-hunter2", "correct-horse-battery")
    stored = stored_bytes(app)
    for needle in ("secret.person", "uni.example", "hunter2", "correct-horse", "Patricia", "7700 900123",
                   "2001-02-03", "allergic", "Slade", "statement of intent", "passport",
                   lookup_key("secret.person@uni.example")):
        assert needle.encode() not in stored, needle
    assert b"Pat" in stored  # the public display name is public


def test_events_carry_what_public_integration_events_need(app: IdentityApplication, staff: uuid.UUID) -> None:
    """Each public fact is complete on its own: no translator needs another aggregate."""
    referrer = app.register("ref@uni.example", PASSWORD, "Ref")
    uid = app.register("ada@uni.example", PASSWORD, "Ada", referral={"referrer_user_id": str(referrer),
                                                                     "channel": "friend"})
    app.update_public_profile(uid, headline="Maths", languages=["en", "fr"])
    aid = app.submit_tutor_application(uid, ["Algebra"], ["GCSE"], "", "", [])
    app.approve_tutor_application(aid, staff)
    app.set_background_check(uid, "pending", "manual")
    app.suspend(uid, by=staff, reason_code="safety", note="private")
    app.reinstate(uid, by=staff)
    app.erase(uid, by=uid)
    mine = [e for e in events(app) if getattr(e, "user_id", e.originator_id) == uid or e.originator_id == uid]
    by_type = {type(e).__qualname__: e for e in mine}
    r = by_type["User.Registered"]
    assert (r.display_name, r.roles, r.referral["referrer_user_id"]) == ("Ada", ["student"], str(referrer))
    p = by_type["User.PublicProfileUpdated"]
    assert (p.display_name, p.headline, p.avatar_url, p.languages, p.time_zone) == (
        "Ada", "Maths", None, ["en", "fr"], "UTC")
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


def test_every_event_class_says_what_it_means() -> None:
    source = (Path(__file__).resolve().parents[2] / "src/identity/domain/model.py").read_text()
    tree = ast.parse(source)
    aggregates = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    event_classes = [c for agg in aggregates for c in agg.body if isinstance(c, ast.ClassDef)]
    assert len(event_classes) >= 25
    for cls in event_classes:
        assert ast.get_docstring(cls), cls.name


def test_the_domain_imports_no_framework() -> None:
    domain = Path(__file__).resolve().parents[2] / "src/identity/domain"
    allowed = {"__future__", "datetime", "typing", "uuid", "re", "functools", "urllib", "zoneinfo",
               "eventsourcing", "identity"}
    for path in domain.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{path.name} imports {roots - allowed}"
