"""Attempt limits on sign-in and on mail, password reset by mail, and registration when the
mail server is away. The clock is the fake one: windows end by advancing it."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from fakes import PASSWORD, EventLog, FakeClock, FakeMailer, FakeThrottle

from identity.application import IdentityApplication
from identity.domain.commands import Registration
from identity.domain.errors import (
    Conflict,
    Invalid,
    InvalidCredentials,
    MailUnavailable,
    TooManyAttempts,
)
from identity.domain.password_reset import PasswordReset
from identity.domain.ports import AttemptLimits, Limit
from identity.domain.user import User

LIMITS = AttemptLimits(login_per_account=Limit(3, 60), login_per_address=Limit(5, 60),
                       mail_per_account=Limit(2, 600), mail_per_address=Limit(3, 600))
NEW_PASSWORD = "another-long-password-2"


@pytest.fixture
def app(make_app: Callable[..., IdentityApplication]) -> IdentityApplication:
    return make_app(limits=LIMITS)


@pytest.fixture
def ada(app: IdentityApplication) -> uuid.UUID:
    return app.register(Registration("ada@uni.example", PASSWORD, "Ada"))


def fail(app: IdentityApplication, email: str, times: int, client: str = "10.0.0.1") -> None:
    for _ in range(times):
        with pytest.raises(InvalidCredentials):
            app.login(email, "wrong-password-123", client=client)


# -- sign-in limits -----------------------------------------------------------------------

def test_an_account_is_held_off_after_its_failures_even_with_the_right_password(
    app: IdentityApplication, ada: uuid.UUID, clock: FakeClock
) -> None:
    fail(app, "ada@uni.example", 3)
    with pytest.raises(TooManyAttempts) as refused:
        app.login("ada@uni.example", PASSWORD, client="10.0.0.2")  # another address: the account's count
    assert refused.value.status == 429 and refused.value.retry_after == 60
    clock.advance(seconds=45)
    with pytest.raises(TooManyAttempts) as refused:
        app.login("Ada@Uni.Example", PASSWORD)  # the same account however it is spelled
    assert refused.value.retry_after == 15
    clock.advance(seconds=15)  # the window ended: the owner signs in
    assert app.login("ada@uni.example", PASSWORD, client="10.0.0.2").user_id == ada


def test_a_successful_sign_in_clears_the_accounts_failures(app: IdentityApplication, ada: uuid.UUID) -> None:
    fail(app, "ada@uni.example", 2)
    app.login("ada@uni.example", PASSWORD)
    fail(app, "ada@uni.example", 2)  # counting starts again: two more are allowed
    app.login("ada@uni.example", PASSWORD)


def test_unknown_addresses_are_counted_like_real_ones(app: IdentityApplication, ada: uuid.UUID) -> None:
    fail(app, "nobody@uni.example", 3)
    with pytest.raises(TooManyAttempts):
        app.login("nobody@uni.example", "whatever-password")
    app.login("ada@uni.example", PASSWORD)  # other accounts are not affected


def test_an_address_that_fails_across_many_accounts_is_held_off(app: IdentityApplication, ada: uuid.UUID,
                                                                 clock: FakeClock) -> None:
    for i in range(5):  # credential stuffing: one try per account, all from one address
        fail(app, f"victim{i}@uni.example", 1, client="203.0.113.9")
    with pytest.raises(TooManyAttempts):
        app.login("ada@uni.example", PASSWORD, client="203.0.113.9")
    app.login("ada@uni.example", PASSWORD, client="198.51.100.7")  # Ada, from elsewhere, is fine
    clock.advance(seconds=60)
    app.login("ada@uni.example", PASSWORD, client="203.0.113.9")


def test_counters_hold_keyed_hashes_only(app: IdentityApplication, ada: uuid.UUID, throttle: FakeThrottle) -> None:
    fail(app, "ada@uni.example", 1, client="203.0.113.9")
    keys = " ".join(throttle.windows)
    assert "ada" not in keys and "203.0.113.9" not in keys and len(throttle.windows) == 2


# -- password reset -----------------------------------------------------------------------

def test_a_reset_token_sets_a_new_password_once_and_ends_every_session(
    app: IdentityApplication, ada: uuid.UUID, mailer: FakeMailer, log: EventLog
) -> None:
    _, refresh = app.start_session(ada)
    assert app.admit_password_reset("ADA@uni.example", client="10.0.0.1") == "ada@uni.example"
    assert app.send_password_reset("ada@uni.example") is True
    token = mailer.reset_token_for("ada@uni.example")
    before = log.position()
    assert app.reset_password(token, NEW_PASSWORD) == ada
    assert [e.reason for e in log.of_type(User.PasswordChanged, before)] == ["reset"]
    with pytest.raises(InvalidCredentials):
        app.refresh(refresh)  # signed out everywhere
    with pytest.raises(InvalidCredentials):
        app.login("ada@uni.example", PASSWORD)
    assert app.login("ada@uni.example", NEW_PASSWORD).user_id == ada
    assert app.get_user(ada).email_verified  # the mail reached the address
    with pytest.raises(Conflict) as used:
        app.reset_password(token, "yet-another-password-3")
    assert used.value.field == "token"
    # Only the token's hash is stored.
    assert token.encode() not in log.stored_bytes()


def test_reset_tokens_expire_and_die_with_the_password_they_were_issued_for(
    app: IdentityApplication, ada: uuid.UUID, mailer: FakeMailer, clock: FakeClock
) -> None:
    app.send_password_reset("ada@uni.example")
    first = mailer.reset_token_for("ada@uni.example")
    clock.advance(minutes=61)
    with pytest.raises(Invalid, match="expired") as expired:
        app.reset_password(first, NEW_PASSWORD)
    assert expired.value.field == "token"
    app.send_password_reset("ada@uni.example")
    older = mailer.reset_token_for("ada@uni.example")
    app.send_password_reset("ada@uni.example")
    newer = mailer.reset_token_for("ada@uni.example")
    app.reset_password(newer, NEW_PASSWORD)
    with pytest.raises(Invalid, match="before the password last changed"):
        app.reset_password(older, "yet-another-password-3")
    app.change_password(ada, NEW_PASSWORD, "a-third-long-password")
    with pytest.raises(Invalid):
        app.reset_password("x" * 43, NEW_PASSWORD)  # no such token


def test_a_refused_new_password_does_not_use_up_the_token(app: IdentityApplication, ada: uuid.UUID,
                                                           mailer: FakeMailer) -> None:
    app.send_password_reset("ada@uni.example")
    token = mailer.reset_token_for("ada@uni.example")
    with pytest.raises(Invalid) as short:
        app.reset_password(token, "short")
    assert short.value.field == "new_password"
    app.reset_password(token, NEW_PASSWORD)


def test_nothing_is_mailed_for_an_unknown_erased_or_suspended_account(
    app: IdentityApplication, ada: uuid.UUID, staff: uuid.UUID, mailer: FakeMailer
) -> None:
    assert app.send_password_reset("nobody@uni.example") is False
    bob = app.register(Registration("bob@uni.example", PASSWORD, "Bob"))
    app.suspend(bob, by=staff, reason_code="conduct")
    assert app.send_password_reset("bob@uni.example") is False
    app.erase(ada, by=ada)
    assert app.send_password_reset("ada@uni.example") is False
    assert mailer.resets == []
    with pytest.raises(Invalid) as bad:
        app.admit_password_reset("not an address")
    assert bad.value.field == "email"
    with pytest.raises(Invalid) as bad:
        app.admit_password_reset(" ada@uni.example ")  # taken as given, as its schema says: not trimmed
    assert bad.value.field == "email"


def test_a_reset_lifts_the_sign_in_hold_on_the_account(app: IdentityApplication, ada: uuid.UUID,
                                                       mailer: FakeMailer) -> None:
    fail(app, "ada@uni.example", 3)
    with pytest.raises(TooManyAttempts):
        app.login("ada@uni.example", PASSWORD)
    app.send_password_reset("ada@uni.example")
    app.reset_password(mailer.reset_token_for("ada@uni.example"), NEW_PASSWORD)
    assert app.login("ada@uni.example", NEW_PASSWORD).user_id == ada


def test_reset_requests_are_limited_per_account_and_per_address(app: IdentityApplication, ada: uuid.UUID,
                                                                 clock: FakeClock) -> None:
    app.admit_password_reset("ada@uni.example", client="10.0.0.1")
    app.admit_password_reset("ada@uni.example", client="10.0.0.2")
    with pytest.raises(TooManyAttempts) as refused:
        app.admit_password_reset("ada@uni.example", client="10.0.0.3")
    assert refused.value.retry_after == 600
    app.admit_password_reset("someone@uni.example", client="10.0.0.9")
    app.admit_password_reset("someone-else@uni.example", client="10.0.0.9")
    app.admit_password_reset("a-third@uni.example", client="10.0.0.9")
    with pytest.raises(TooManyAttempts):
        app.admit_password_reset("a-fourth@uni.example", client="10.0.0.9")  # the address's limit
    clock.advance(seconds=600)
    app.admit_password_reset("ada@uni.example", client="10.0.0.9")


# -- mail ---------------------------------------------------------------------------------

def test_verification_mail_again_is_limited(app: IdentityApplication, ada: uuid.UUID, mailer: FakeMailer,
                                            clock: FakeClock) -> None:
    app.resend_verification(ada)
    app.resend_verification(ada)
    with pytest.raises(TooManyAttempts):
        app.resend_verification(ada)
    assert len(mailer.sent) == 3  # registration, and the two asked for
    clock.advance(seconds=600)
    app.resend_verification(ada)
    app.verify_email(mailer.token_for("ada@uni.example"))


def test_an_account_opens_while_the_mail_server_is_away(app: IdentityApplication, mailer: FakeMailer) -> None:
    mailer.failure = MailUnavailable("away", retry_after=30)
    account = app.open_account(Registration("eve@uni.example", PASSWORD, "Eve"))
    assert account.verification_mailed is False
    assert app.get_user(account.user_id).email == "eve@uni.example"
    with pytest.raises(MailUnavailable):
        app.resend_verification(account.user_id)
    mailer.failure = None
    app.resend_verification(account.user_id)
    app.verify_email(mailer.token_for("eve@uni.example"))


def test_reset_tokens_are_found_by_hash(app: IdentityApplication, ada: uuid.UUID, mailer: FakeMailer) -> None:
    app.send_password_reset("ada@uni.example")
    token = mailer.reset_token_for("ada@uni.example")
    import hashlib

    found = app.find(PasswordReset, PasswordReset.create_id(hashlib.sha256(token.encode()).hexdigest()))
    assert found is not None and found.user_id == ada and not found.used
