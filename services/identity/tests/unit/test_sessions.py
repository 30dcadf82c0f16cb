"""Refresh-token families: rotation, reuse detection, expiry, revocation."""

from __future__ import annotations

import uuid

import pytest
from fakes import PASSWORD, FakeClock

from identity.application import IdentityApplication
from identity.domain import InvalidCredentials, NotFound, RefreshSession


@pytest.fixture
def uid(app: IdentityApplication) -> uuid.UUID:
    return app.register("a@uni.example", PASSWORD, "A")


def session(app: IdentityApplication, session_id: uuid.UUID) -> RefreshSession:
    found = app.repository.get(session_id)
    assert isinstance(found, RefreshSession)
    return found


def test_refresh_rotates_the_token(app: IdentityApplication, uid: uuid.UUID) -> None:
    session_id, first = app.start_session(uid)
    user, second = app.refresh(first)
    assert user == uid and second != first
    assert app.session_id_for(second) == session_id
    user, third = app.refresh(second)
    assert user == uid and third not in (first, second)


def test_reusing_a_rotated_token_ends_the_whole_family(app: IdentityApplication, uid: uuid.UUID) -> None:
    session_id, first = app.start_session(uid)
    _, second = app.refresh(first)
    _, other_token = app.start_session(uid)  # another device: another family
    with pytest.raises(InvalidCredentials, match="already used"):
        app.refresh(first)  # a stolen copy replayed
    assert session(app, session_id).revoked
    with pytest.raises(InvalidCredentials):
        app.refresh(second)  # the legitimate holder is signed out too
    assert app.refresh(other_token)[0] == uid  # the other family is untouched


def test_a_concurrent_double_refresh_is_treated_as_reuse(
        app: IdentityApplication, uid: uuid.UUID, monkeypatch: pytest.MonkeyPatch) -> None:
    session_id, token = app.start_session(uid)
    stale = session(app, session_id)  # read before the other request rotated
    _, winner = app.refresh(token)
    real = app._session_by_token
    calls = iter([stale])
    monkeypatch.setattr(app, "_session_by_token", lambda t: next(calls, None) or real(t))
    with pytest.raises(InvalidCredentials, match="already used"):
        app.refresh(token)  # the stale write conflicts; the retry sees the token rotated
    with pytest.raises(InvalidCredentials):
        app.refresh(winner)  # the family ended


def test_sessions_expire_after_30_days_without_use(app: IdentityApplication, uid: uuid.UUID,
                                                   clock: FakeClock) -> None:
    _, token = app.start_session(uid)
    clock.advance(days=29)
    _, token = app.refresh(token)  # sliding: another 30 days from now
    clock.advance(days=29)
    _, token = app.refresh(token)
    clock.advance(days=30)
    with pytest.raises(InvalidCredentials, match="expired"):
        app.refresh(token)


def test_signing_out_ends_the_session_and_is_idempotent(app: IdentityApplication, uid: uuid.UUID) -> None:
    session_id, token = app.start_session(uid)
    app.revoke_session(token)
    app.revoke_session(token)
    app.revoke_session("never-issued-token")
    assert session(app, session_id).revoked_reason == "signed out"
    with pytest.raises(InvalidCredentials):
        app.refresh(token)


def test_revoking_all_sessions_ends_every_family_but_not_later_ones(app: IdentityApplication,
                                                                    uid: uuid.UUID) -> None:
    _, phone = app.start_session(uid)
    _, laptop = app.start_session(uid)
    _, laptop = app.refresh(laptop)
    app.revoke_all_sessions(uid)
    for token in (phone, laptop):
        with pytest.raises(InvalidCredentials, match="revoked"):
            app.refresh(token)
    _, fresh = app.start_session(uid)
    assert app.refresh(fresh)[0] == uid


def test_unknown_tokens_and_users(app: IdentityApplication) -> None:
    with pytest.raises(InvalidCredentials):
        app.refresh("never-issued-token")
    with pytest.raises(InvalidCredentials):
        app.session_id_for("never-issued-token")
    with pytest.raises(NotFound):
        app.start_session(uuid.uuid4())
    with pytest.raises(NotFound):
        app.revoke_all_sessions(uuid.uuid4())


def test_refresh_tokens_are_stored_only_as_hashes(app: IdentityApplication, uid: uuid.UUID) -> None:
    _, first = app.start_session(uid)
    _, second = app.refresh(first)
    states = b"".join(n.state for n in app.recorder.select_notifications(start=1, limit=1000))
    assert first.encode() not in states and second.encode() not in states
