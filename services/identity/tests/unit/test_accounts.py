"""Registration, email verification, sign-in, passwords, profiles, roles, admin bootstrap."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal

import pytest
from argon2 import PasswordHasher
from fakes import PASSWORD, EventLog, FakeMailer, FakeVault

from identity.application import IdentityApplication
from identity.domain.commands import PrivateProfileChange, PublicProfileChange, Registration, TutorApplicationForm
from identity.domain.email_index import EmailIndex
from identity.domain.errors import (
    AccountErased,
    Conflict,
    EmailTaken,
    Invalid,
    InvalidCredentials,
    LastAdmin,
    NotFound,
)
from identity.domain.user import User


def account(email: str, name: str = "A", password: str = PASSWORD, **more: Any) -> Registration:
    return Registration(email, password, name, **more)


# -- registration ---------------------------------------------------------------------

def test_registration_creates_a_student_with_the_address_normalised(app: IdentityApplication) -> None:
    uid = app.register(account("Ada.Lovelace@Uni.Example", "  Ada   L. ", referral=None,
                               time_zone="Europe/London", languages=["EN", "pt-br", "en"]))
    view = app.get_user(uid)
    assert view.id == uid
    assert view.email == "ada.lovelace@uni.example"
    assert view.roles == ["student"]
    assert view.display_name == "Ada L."
    assert view.time_zone == "Europe/London"
    assert view.languages == ["en", "pt-BR"]
    assert not view.email_verified and not view.suspended and not view.erased
    assert view.background_check == "not_started"
    assert view.private_profile == {"legal_name": None, "phone": None, "date_of_birth": None, "notes": None}


def test_registration_mails_a_token_that_verifies_the_address(app: IdentityApplication, mailer: FakeMailer) -> None:
    uid = app.register(account("Ada@Uni.Example", "Ada"))
    [(to, name, token)] = mailer.sent
    assert (to, name) == ("ada@uni.example", "Ada")
    assert app.verify_email(token) == uid and app.get_user(uid).email_verified
    with pytest.raises(Conflict):
        app.send_verification(uid)  # nothing left to verify
    assert len(mailer.sent) == 1


def test_an_address_registers_once_whatever_its_case(app: IdentityApplication) -> None:
    first = app.register(account("ada@uni.example", "Ada"))
    with pytest.raises(EmailTaken) as err:
        app.register(account("ADA@Uni.Example", "Impostor", "another-password-2"))
    assert err.value.field == "email"
    assert app.authenticate("ada@uni.example", PASSWORD) == first


def test_a_racing_registration_of_the_same_address_loses_on_the_index_and_is_told_why(
        app: IdentityApplication, vault: FakeVault, log: EventLog, monkeypatch: pytest.MonkeyPatch) -> None:
    app.register(account("ada@uni.example", "Ada"))
    # The second registration's first look does not see the index (as if it read before
    # the first committed): creating the index again collides on its derived id. Its
    # retry sees the address claimed.
    real_find, looks = app.find, []

    def stale_first_look(cls: type, aggregate_id: uuid.UUID) -> Any:
        if cls is EmailIndex:
            looks.append(aggregate_id)
            if len(looks) == 1:
                return None
        return real_find(cls, aggregate_id)

    monkeypatch.setattr(app, "find", stale_first_look)
    before = log.position()
    with pytest.raises(EmailTaken):
        app.register(account("ada@uni.example", "Racer"))
    assert len(looks) == 2  # decided again after the conflict
    assert log.position() == before  # neither the user nor the index was written
    assert len(vault.forgotten) == 1  # the loser's vault key was dropped again


@pytest.mark.parametrize(("changes", "field"), [
    ({"email": "not-an-address"}, "email"),
    ({"email": "two@@uni.example"}, "email"),
    ({"email": "a b@uni.example"}, "email"),
    ({"email": "ada@localhost"}, "email"),
    ({"email": "x" * 250 + "@uni.example"}, "email"),
    ({"email": "x" * 65 + "@uni.example"}, "email"),  # a local part of at most 64
    ({"email": " ada@uni.example"}, "email"),  # taken as given: white space around it is refused, not trimmed
    ({"email": "ada@uni.example\n"}, "email"),
    ({"email": "ada@uni.ex\u212aample"}, "email"),  # ASCII only (the Kelvin sign lower-cases to k)
    ({"password": "short-pw"}, "password"),
    ({"password": "x" * 257}, "password"),
    ({"display_name": "   "}, "display_name"),
    ({"display_name": "x" * 81}, "display_name"),
    ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
    ({"time_zone": "../../etc/passwd"}, "time_zone"),
    ({"languages": ["english!"]}, "languages.0"),
    ({"languages": ["en", "f"]}, "languages.1"),
    ({"referral": {"referrer_user_id": "not-a-uuid"}}, "referral.referrer_user_id"),
    ({"referral": {"referrer_user_id": str(uuid.uuid4())}}, "referral.referrer_user_id"),
    ({"referral": {"coupon": "x"}}, "referral.coupon"),
    ({"referral": {"channel": "x" * 65}}, "referral.channel"),
])
def test_registration_rules_name_the_field_at_fault(app: IdentityApplication, log: EventLog,
                                                    changes: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"email": "a@uni.example", "password": PASSWORD, "display_name": "A", **changes}
    with pytest.raises(Invalid) as err:
        app.register(Registration(**args))
    assert err.value.field == field
    assert log.position() == 0  # nothing was stored


def test_password_policy_bounds_are_inclusive(app: IdentityApplication) -> None:
    assert app.register(account("ten@uni.example", "Ten", "x" * 10))
    assert app.register(account("max@uni.example", "Max", "y" * 256))
    assert app.authenticate("max@uni.example", "y" * 256)


def test_referral_origin_is_kept_and_published_with_registration(app: IdentityApplication, log: EventLog) -> None:
    referrer = app.register(account("ref@uni.example", "Referrer"))
    uid = app.register(account("new@uni.example", "Newbie", referral={
        "referrer_user_id": str(referrer), "channel": "poster", "campaign": "freshers-2026"}))
    expected = {"referrer_user_id": str(referrer), "channel": "poster", "campaign": "freshers-2026"}
    assert app.get_user(uid).referral == expected
    registered = [e for e in log.of_type(User.Registered) if e.originator_id == uid]
    assert registered[0].referral == expected
    assert registered[0].roles == ["student"]
    # The name travels sealed under the user's shared key (identity.keys), not in the clear.
    assert registered[0].display_name != "Newbie" and app.shared.open(uid, registered[0].display_name) == "Newbie"


# -- email verification ---------------------------------------------------------------

def test_a_verification_token_verifies_once(app: IdentityApplication) -> None:
    uid = app.register(account("a@uni.example"))
    token = app.issue_email_verification(uid)
    assert len(token) >= 43  # 32 random bytes, URL-safe
    assert app.verify_email(token) == uid
    assert app.get_user(uid).email_verified
    with pytest.raises(Conflict) as err:
        app.verify_email(token)
    assert err.value.field == "token"


def test_only_the_token_hash_is_stored_and_it_names_the_aggregate(app: IdentityApplication, log: EventLog) -> None:
    uid = app.register(account("a@uni.example"))
    token = app.issue_email_verification(uid)
    assert token.encode() not in log.stored_bytes()


def test_a_verification_token_expires_after_48_hours(app: IdentityApplication, clock: Any) -> None:
    uid = app.register(account("a@uni.example"))
    token = app.issue_email_verification(uid)
    clock.advance(hours=48)
    with pytest.raises(Invalid, match="expired") as err:
        app.verify_email(token)
    assert err.value.field == "token"
    assert not app.get_user(uid).email_verified
    fresh = app.issue_email_verification(uid)
    clock.advance(hours=47, minutes=59)
    assert app.verify_email(fresh) == uid


def test_unknown_tokens_are_refused(app: IdentityApplication) -> None:
    with pytest.raises(Invalid) as err:
        app.verify_email("not-a-token-we-issued")
    assert err.value.field == "token"


def test_no_token_is_issued_for_a_verified_address(app: IdentityApplication, log: EventLog) -> None:
    uid = app.register(account("a@uni.example"))
    first, second = app.issue_email_verification(uid), app.issue_email_verification(uid)
    app.verify_email(first)
    assert app.verify_email(second) == uid  # a second outstanding token still works once...
    assert len(log.of_type(User.EmailVerified)) == 1  # ...without a second fact
    with pytest.raises(Conflict):
        app.issue_email_verification(uid)
    with pytest.raises(NotFound):
        app.issue_email_verification(uuid.uuid4())


# -- sign-in and passwords ------------------------------------------------------------

class CountingHasher(PasswordHasher):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified += 1
        return super().verify(hash, password)


def test_unknown_address_and_wrong_password_give_the_same_answer_at_the_same_cost(
        make_app: Callable[..., IdentityApplication]) -> None:
    hasher = CountingHasher(time_cost=1, memory_cost=1024, parallelism=1)
    app = make_app(hasher=hasher)
    uid = app.register(account("a@uni.example"))
    assert app.authenticate("A@UNI.example ", PASSWORD) == uid
    messages = []
    for email, password in (("a@uni.example", "wrong-password-9"), ("ghost@uni.example", PASSWORD),
                            ("not an address", PASSWORD)):
        hasher.verified = 0
        with pytest.raises(InvalidCredentials) as err:
            app.authenticate(email, password)
        messages.append(str(err.value))
        assert hasher.verified == 1  # a hash was checked even when there was no account
    assert len(set(messages)) == 1


def test_login_gives_an_access_token_for_the_roles_and_a_refresh_token(app: IdentityApplication) -> None:
    uid = app.register(account("a@uni.example"))
    pair = app.login("a@uni.example", PASSWORD)
    assert pair.user_id == uid and pair.expires_in == 900
    assert pair.access_token == f"access:{uid}:{app.session_id_for(pair.refresh_token)}:student"
    with pytest.raises(InvalidCredentials):
        app.login("a@uni.example", "wrong-password-9")


def test_sign_in_rehashes_when_the_parameters_change(app: IdentityApplication, log: EventLog) -> None:
    uid = app.register(account("a@uni.example"))
    old_hash = log.of_type(User.Registered)[0].password_hash
    _, refresh_token = app.start_session(uid)
    app.hasher = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    before = log.position()
    assert app.authenticate("a@uni.example", PASSWORD) == uid
    changed = log.of_type(User.PasswordChanged, before)
    assert len(changed) == 1 and changed[0].reason == "rehashed"
    assert changed[0].password_hash != old_hash and "t=2" in changed[0].password_hash
    assert app.authenticate("a@uni.example", PASSWORD) == uid  # once only: now current
    assert len(log.of_type(User.PasswordChanged, before)) == 1
    assert app.refresh(refresh_token).user_id == uid  # a re-hash does not sign anyone out


def test_changing_the_password_needs_the_old_one_and_ends_sessions(app: IdentityApplication) -> None:
    uid = app.register(account("a@uni.example"))
    _, refresh_token = app.start_session(uid)
    with pytest.raises(Invalid) as err:
        app.change_password(uid, "not-my-password", "a-new-password-2")
    assert err.value.field == "old_password"
    with pytest.raises(Invalid) as err:
        app.change_password(uid, PASSWORD, "short")
    assert err.value.field == "new_password"
    with pytest.raises(Invalid) as err:
        app.change_password(uid, PASSWORD, PASSWORD)
    assert err.value.field == "new_password"
    app.change_password(uid, PASSWORD, "a-new-password-2")
    with pytest.raises(InvalidCredentials):
        app.authenticate("a@uni.example", PASSWORD)
    assert app.authenticate("a@uni.example", "a-new-password-2") == uid
    with pytest.raises(InvalidCredentials):
        app.refresh(refresh_token)


# -- profiles -------------------------------------------------------------------------

def test_public_profile_updates_validate_and_record_every_public_field(app: IdentityApplication,
                                                                       log: EventLog) -> None:
    uid = app.register(account("a@uni.example", "Ada", languages=["en"]))
    before = log.position()
    app.update_public_profile(uid, PublicProfileChange(headline="  Maths   tutor ", avatar_url="https://cdn.example/a.png",
                                                       languages=["fr", "en"], time_zone="America/New_York"))
    profile = app.get_public_profile(uid)
    assert asdict(profile) == {"user_id": uid, "display_name": "Ada", "headline": "Maths tutor",
                               "avatar_url": "https://cdn.example/a.png", "languages": ["fr", "en"],
                               "time_zone": "America/New_York", "roles": ["student"], "erased": False}
    [updated] = log.events(before)
    assert isinstance(updated, User.PublicProfileUpdated)
    opened = tuple(app.shared.open(uid, v) for v in (updated.display_name, updated.headline, updated.avatar_url))
    assert (*opened, updated.languages, updated.time_zone) == (
        "Ada", "Maths tutor", "https://cdn.example/a.png", ["fr", "en"], "America/New_York")
    assert "Maths" not in (updated.headline or "")  # recorded sealed
    app.update_public_profile(uid, PublicProfileChange(headline="Maths tutor"))  # no change, no event
    assert log.position() == before + 1
    app.update_public_profile(uid, PublicProfileChange(headline=None, avatar_url=None))
    assert app.get_public_profile(uid).headline is None and app.get_public_profile(uid).avatar_url is None


@pytest.mark.parametrize(("changes", "field"), [
    ({"display_name": ""}, "display_name"),
    ({"display_name": None}, "display_name"),
    ({"headline": "x" * 141}, "headline"),
    ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
    ({"avatar_url": "ftp://files.example/a.png"}, "avatar_url"),
    ({"avatar_url": "https://"}, "avatar_url"),
    ({"languages": ["en_GB"]}, "languages.0"),
    ({"time_zone": "Europe/Atlantis"}, "time_zone"),
    ({"time_zone": None}, "time_zone"),
])
def test_public_profile_rules_name_the_field(app: IdentityApplication, log: EventLog, changes: dict[str, Any],
                                             field: str) -> None:
    uid = app.register(account("a@uni.example", "Ada"))
    before = log.position()
    with pytest.raises(Invalid) as err:
        app.update_public_profile(uid, PublicProfileChange(**changes))
    assert err.value.field == field
    assert log.position() == before


def test_the_user_refuses_a_field_that_is_not_public(app: IdentityApplication) -> None:
    # A command value cannot name one; the aggregate refuses it all the same.
    user: User = app.repository.get(app.register(account("a@uni.example", "Ada")))
    with pytest.raises(Invalid) as err:
        user.update_public_profile({"display_name": "Ada", "headline": None, "avatar_url": None}, str,
                                   email="new@uni.example")
    assert err.value.field == "email"
    with pytest.raises(Invalid) as err:
        user.update_private_profile({"shoe_size": "v1.x"})
    assert err.value.field == "shoe_size"


def test_private_profile_is_sealed_readable_by_get_user_and_clearable(app: IdentityApplication,
                                                                      log: EventLog) -> None:
    uid = app.register(account("a@uni.example", "Ada"))
    app.update_private_profile(uid, PrivateProfileChange(legal_name="Augusta  Ada King", phone="+44 20 7946 0000",
                                                         date_of_birth="2004-05-17", notes="prefers afternoons"))
    assert app.get_user(uid).private_profile == {"legal_name": "Augusta Ada King", "phone": "+44 20 7946 0000",
                                                 "date_of_birth": "2004-05-17", "notes": "prefers afternoons"}
    app.update_private_profile(uid, PrivateProfileChange(phone=None, notes=""))
    private = app.get_user(uid).private_profile
    assert private["phone"] is None and private["notes"] is None and private["legal_name"] == "Augusta Ada King"
    assert "legal_name" not in asdict(app.get_public_profile(uid))
    stored = log.stored_bytes()
    assert b"Augusta" not in stored and b"7946" not in stored and b"2004-05-17" not in stored


@pytest.mark.parametrize(("changes", "field"), [
    ({"date_of_birth": "17/05/2004"}, "date_of_birth"),
    ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
    ({"phone": "call me maybe"}, "phone"),
    ({"legal_name": "x" * 201}, "legal_name"),
])
def test_private_profile_rules_name_the_field(app: IdentityApplication, changes: dict[str, Any], field: str) -> None:
    uid = app.register(account("a@uni.example", "Ada"))
    with pytest.raises(Invalid) as err:
        app.update_private_profile(uid, PrivateProfileChange(**changes))
    assert err.value.field == field


def test_a_change_names_only_the_fields_given() -> None:
    assert PublicProfileChange(headline=None).given() == {"headline": None}
    assert PrivateProfileChange().given() == {}


# -- roles ----------------------------------------------------------------------------

def test_roles_are_granted_once_and_revoked_only_when_held(app: IdentityApplication, log: EventLog,
                                                           staff: uuid.UUID) -> None:
    uid = app.register(account("a@uni.example"))
    before = log.position()
    app.grant_role(uid, "tutor", by=staff)  # staff may make a tutor directly
    app.grant_role(uid, "funder", by=staff)
    assert app.get_user(uid).roles == ["funder", "student", "tutor"]
    assert [(e.role, e.by) for e in log.of_type(User.RoleGranted, before)] == [("tutor", staff), ("funder", staff)]
    with pytest.raises(Conflict) as err:
        app.grant_role(uid, "tutor", by=staff)
    assert err.value.field == "role"
    app.revoke_role(uid, "funder", by=staff)
    assert [(e.role, e.by) for e in log.of_type(User.RoleRevoked, before)] == [("funder", staff)]
    with pytest.raises(Conflict):
        app.revoke_role(uid, "funder", by=staff)
    for command in (app.grant_role, app.revoke_role):
        with pytest.raises(Invalid) as verr:
            command(uid, "wizard", staff)
        assert verr.value.field == "role"
    with pytest.raises(NotFound):
        app.grant_role(uuid.uuid4(), "tutor", by=staff)


def test_the_last_admin_keeps_the_role(app: IdentityApplication) -> None:
    root = app.ensure_admin("root@uni.example", PASSWORD, "Root")
    with pytest.raises(LastAdmin):
        app.revoke_role(root, "admin", by=root)
    other = app.register(account("b@uni.example", "B"))
    app.grant_role(other, "admin", by=root)
    app.revoke_role(root, "admin", by=other)  # now there is another
    assert "admin" not in app.get_user(root).roles
    with pytest.raises(LastAdmin):
        app.revoke_role(other, "admin", by=other)


# -- bootstrap admin ------------------------------------------------------------------

def test_bootstrap_admin_is_idempotent(app: IdentityApplication, log: EventLog, mailer: FakeMailer) -> None:
    first = app.ensure_admin("Root@Uni.Example", PASSWORD, "Root")
    view = app.get_user(first)
    assert view.email_verified and view.roles == ["admin", "staff", "student"]
    assert mailer.sent == []  # verified by configuration, not by mail
    before = log.position()
    assert app.ensure_admin("root@uni.example", PASSWORD, "Root") == first
    assert log.position() == before  # nothing new on a second start
    assert app.authenticate("root@uni.example", PASSWORD) == first


def test_bootstrap_promotes_an_existing_account(app: IdentityApplication) -> None:
    uid = app.register(account("root@uni.example", "Already here"))
    assert app.ensure_admin("root@uni.example", "ignored-password-1", "Root") == uid
    assert {"staff", "admin"} <= set(app.get_user(uid).roles)


def test_an_erased_user_accepts_no_further_commands(app: IdentityApplication, staff: uuid.UUID) -> None:
    uid = app.register(account("a@uni.example"))
    app.erase(uid, by=uid)
    for command in (
        lambda: app.update_public_profile(uid, PublicProfileChange(headline="back?")),
        lambda: app.update_private_profile(uid, PrivateProfileChange(legal_name="Back")),
        lambda: app.grant_role(uid, "tutor", by=staff),
        lambda: app.suspend(uid, by=staff, reason_code="other"),
        lambda: app.set_background_check(uid, "pending", "manual"),
        lambda: app.issue_email_verification(uid),
        lambda: app.change_password(uid, PASSWORD, "a-new-password-2"),
        lambda: app.submit_tutor_application(uid, TutorApplicationForm(["Art"], ["intro"])),
    ):
        with pytest.raises(AccountErased):
            command()


def test_a_profile_edit_is_decided_again_when_another_writer_saved_first(
        app: IdentityApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    uid = app.register(account("ada@uni.example", "Ada"))
    stale = app._user(uid)  # read before the other writer saves
    app.update_public_profile(uid, PublicProfileChange(headline="set by the other writer"))
    real_load, loads = app._user, []

    def first_load_is_stale(user_id: uuid.UUID) -> User:
        loads.append(user_id)
        return stale if len(loads) == 1 else real_load(user_id)

    monkeypatch.setattr(app, "_user", first_load_is_stale)
    app.update_public_profile(uid, PublicProfileChange(display_name="Ada L."))  # conflicts once, then succeeds
    assert len(loads) == 2
    view = app.get_user(uid)
    assert view.display_name == "Ada L." and view.headline == "set by the other writer"  # nothing lost
