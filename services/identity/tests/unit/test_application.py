"""Identity's use cases on in-memory persistence with an in-memory vault: the rules,
without a database or a broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from argon2 import PasswordHasher

from identity.application import IdentityApplication
from identity.domain import (
    AccountSuspended,
    Conflict,
    EmailTaken,
    InvalidCredentials,
    NotFound,
    SelfReview,
    ValidationError,
)
from identity.services import email_lookup_key
from identity.translate import to_contract

PW = "a-long-password-1"


class MemoryVault:
    def __init__(self) -> None:
        self.keys: dict[UUID, str] = {}

    def seal(self, subject_id: UUID, plaintext: str) -> str:
        key = self.keys.setdefault(subject_id, uuid.uuid4().hex)
        return f"sealed:{key}:{plaintext[::-1]}"

    def open(self, subject_id: UUID, sealed: str) -> str | None:
        key = self.keys.get(subject_id)
        if key is None:
            return None
        prefix = f"sealed:{key}:"
        assert sealed.startswith(prefix), "sealed under another subject's key"
        return sealed[len(prefix):][::-1]

    def forget(self, subject_id: UUID) -> None:
        self.keys.pop(subject_id, None)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> IdentityApplication:
    # Cheap argon2 parameters: these tests are about rules, not hashing cost.
    return IdentityApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, vault=MemoryVault(),
                               lookup_key=email_lookup_key("test"), clock=clock,
                               hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


def test_register_normalises_email_and_refuses_a_taken_one(app: IdentityApplication) -> None:
    uid = app.register(" Ada@Uni.Example ", PW, "Ada")
    assert app.get_user(uid).email == "ada@uni.example"
    with pytest.raises(EmailTaken):
        app.register("ADA@uni.example", PW, "Ada again")


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"email": "nope"}, "email"),
    ({"password": "short"}, "password"),
    ({"display_name": "  "}, "display_name"),
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"languages": ["english!"]}, "languages.0"),
    ({"referral": {"referrer_user_id": "x"}}, "referral.referrer_user_id"),
])
def test_registration_rules_name_the_field(app: IdentityApplication, kwargs: dict, field: str) -> None:
    args = {"email": "a@uni.example", "password": PW, "display_name": "A", **kwargs}
    with pytest.raises(ValidationError) as err:
        app.register(**args)
    assert err.value.field == field


def test_verification_token_is_single_use_and_expires(app: IdentityApplication, clock: Clock) -> None:
    uid = app.register("a@uni.example", PW, "A")
    token = app.issue_email_verification(uid)
    assert app.verify_email(token) == uid and app.get_user(uid).email_verified
    with pytest.raises(Conflict):
        app.verify_email(token)
    other = app.register("b@uni.example", PW, "B")
    late = app.issue_email_verification(other)
    clock.now += timedelta(hours=49)
    with pytest.raises(ValidationError, match="expired"):
        app.verify_email(late)
    with pytest.raises(ValidationError):
        app.verify_email("not-a-token-at-all")


def test_authentication_gives_one_answer_for_unknown_email_and_wrong_password(app: IdentityApplication) -> None:
    uid = app.register("a@uni.example", PW, "A")
    assert app.authenticate("A@uni.example", PW) == uid
    for email, password in (("a@uni.example", "wrong-password-1"), ("ghost@uni.example", PW), ("x", PW)):
        with pytest.raises(InvalidCredentials, match="email or password is wrong"):
            app.authenticate(email, password)


def test_refresh_rotates_and_reuse_revokes_the_family(app: IdentityApplication, clock: Clock) -> None:
    uid = app.register("a@uni.example", PW, "A")
    _, first = app.start_session(uid)
    user, second = app.refresh(first)
    assert user == uid and second != first
    with pytest.raises(InvalidCredentials, match="already used"):
        app.refresh(first)  # stolen token replayed
    with pytest.raises(InvalidCredentials):
        app.refresh(second)  # the legitimate holder is signed out too
    _, third = app.start_session(uid)
    clock.now += timedelta(days=31)
    with pytest.raises(InvalidCredentials, match="expired"):
        app.refresh(third)


def test_suspension_blocks_sign_in_and_ends_sessions(app: IdentityApplication) -> None:
    staff = app.register("staff@uni.example", PW, "Staff")
    uid = app.register("a@uni.example", PW, "A")
    _, token = app.start_session(uid)
    app.suspend(uid, by=staff, reason_code="conduct", note="harassment report #12")
    with pytest.raises(AccountSuspended):
        app.authenticate("a@uni.example", PW)
    with pytest.raises(InvalidCredentials):
        app.refresh(token)
    with pytest.raises(ValidationError):
        app.suspend(app.register("b@uni.example", PW, "B"), by=staff, reason_code="vibes")
    app.reinstate(uid, by=staff)
    assert app.authenticate("a@uni.example", PW) == uid


def test_approval_grants_the_tutor_role_in_the_same_transaction(app: IdentityApplication) -> None:
    staff = app.register("staff@uni.example", PW, "Staff")
    uid = app.register("a@uni.example", PW, "A")
    application = app.submit_tutor_application(uid, ["Algebra I", "Algebra I"], ["exam prep"], "BSc", "hi", [])
    with pytest.raises(Conflict):
        app.submit_tutor_application(uid, ["Physics"], ["advanced"], "", "", [])  # one open at a time
    before = app.recorder.max_notification_id() or 0
    app.approve_tutor_application(application, staff, note="ok")
    notes = app.recorder.select_notifications(start=before, limit=10, inclusive_of_start=False)
    assert {n.topic.rsplit(".", 1)[-1] for n in notes} >= {"Approved", "RoleGranted"}
    assert "tutor" in app.get_user(uid).roles
    view = app.get_tutor_application(application)
    assert view.status == "approved" and view.subjects == ["Algebra I"] and view.review_note == "ok"
    with pytest.raises(Conflict):
        app.reject_tutor_application(application, staff, reason="changed my mind")
    # A new application is possible once the last one was decided.
    app.submit_tutor_application(uid, ["Physics"], ["advanced"], "", "", [])


def test_nobody_reviews_their_own_application(app: IdentityApplication) -> None:
    uid = app.register("a@uni.example", PW, "A")
    application = app.submit_tutor_application(uid, ["Art"], ["introductory"], "", "", [])
    with pytest.raises(SelfReview):
        app.approve_tutor_application(application, uid)


def test_roles_cannot_be_granted_twice_or_revoked_when_absent(app: IdentityApplication) -> None:
    uid = app.register("a@uni.example", PW, "A")
    with pytest.raises(Conflict):
        app.grant_role(uid, "student", by=None)
    with pytest.raises(Conflict):
        app.revoke_role(uid, "funder", by=None)
    with pytest.raises(ValidationError):
        app.grant_role(uid, "wizard", by=None)
    with pytest.raises(NotFound):
        app.grant_role(uuid.uuid4(), "tutor", by=None)


def test_no_stored_event_holds_personal_data_in_the_clear(app: IdentityApplication) -> None:
    uid = app.register("secret.person@uni.example", "hunter2-hunter2", "Pat", referral={"channel": "poster"})
    app.update_private_profile(uid, legal_name="Patricia Q. Secret", phone="+44 7700 900123")
    staff = app.register("staff@uni.example", PW, "Staff")
    app.suspend(uid, by=staff, reason_code="other", note="private note about Patricia")
    stored = b"".join(n.state for n in app.recorder.select_notifications(start=1, limit=1000))
    for needle in (b"secret.person", b"hunter2", b"Patricia", b"7700 900123", b"private note"):
        assert needle not in stored, needle


def test_erasure_destroys_the_key_keeps_history_and_frees_the_email(app: IdentityApplication) -> None:
    uid = app.register("a@uni.example", PW, "Alice")
    app.update_private_profile(uid, legal_name="Alice Liddell")
    _, token = app.start_session(uid)
    app.erase(uid, by=uid)
    view = app.get_user(uid)
    assert view.erased and view.email is None and view.display_name == "Erased user"
    assert view.private_profile["legal_name"] is None
    with pytest.raises(InvalidCredentials):
        app.authenticate("a@uni.example", PW)
    with pytest.raises(InvalidCredentials):
        app.refresh(token)
    with pytest.raises(Conflict):
        app.update_public_profile(uid, headline="back?")
    again = app.register("a@uni.example", PW, "Alice")
    assert again != uid and app.authenticate("a@uni.example", PW) == again


def test_public_events_carry_only_public_data(app: IdentityApplication) -> None:
    staff = app.register("staff@uni.example", PW, "Staff")
    uid = app.register("a@uni.example", PW, "Ada", referral={"channel": "poster", "campaign": "fw"})
    app.update_public_profile(uid, headline="Maths nerd", languages=["en", "fr"])
    app.suspend(uid, by=staff, reason_code="safety", note="private")
    published = [to_contract(app.mapper.to_domain_event(n))
                 for n in app.recorder.select_notifications(start=1, limit=1000)]
    published = [e for e in published if e is not None]
    names = [type(e).__name__ for e in published]
    assert names.count("UserRegistered") == 2 and "PublicProfileUpdated" in names and "UserSuspended" in names
    for e in published:
        text = e.model_dump_json()
        assert "a@uni.example" not in text and "private" not in text
    profile = next(e for e in published if type(e).__name__ == "PublicProfileUpdated")
    assert profile.headline == "Maths nerd" and profile.languages == ["en", "fr"]  # type: ignore[attr-defined]


def test_bootstrap_admin_is_idempotent(app: IdentityApplication) -> None:
    first = app.ensure_admin("root@uni.example", PW, "Root")
    assert app.ensure_admin("root@uni.example", PW, "Root") == first
    assert {"staff", "admin"} <= set(app.get_user(first).roles)
