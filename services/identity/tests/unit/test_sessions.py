"""Refresh-token families: rotation, reuse detection, expiry, revocation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fakes import PASSWORD, EventLog, FakeClock

from identity.application import IdentityApplication
from identity.domain.commands import Registration
from identity.domain.errors import InvalidCredentials, NotFound
from identity.domain.refresh_session import RefreshSession


@pytest.fixture
def uid(app: IdentityApplication) -> uuid.UUID:
    return app.register(Registration("a@uni.example", PASSWORD, "A"))


def session(app: IdentityApplication, session_id: uuid.UUID) -> RefreshSession:
    found: Any = app.repository.get(session_id)
    assert isinstance(found, RefreshSession)
    return found


def test_refresh_rotates_the_token(app: IdentityApplication, uid: uuid.UUID) -> None:
    session_id, first = app.start_session(uid)
    second = app.refresh(first)
    assert second.user_id == uid and second.refresh_token != first
    assert app.session_id_for(second.refresh_token) == session_id
    assert second.access_token == f"access:{uid}:{session_id}:student"  # the same session, in the token too
    third = app.refresh(second.refresh_token)
    assert third.user_id == uid and third.refresh_token not in (first, second.refresh_token)


def test_reusing_a_rotated_token_ends_the_whole_family(app: IdentityApplication, uid: uuid.UUID) -> None:
    session_id, first = app.start_session(uid)
    second = app.refresh(first).refresh_token
    _, other_token = app.start_session(uid)  # another device: another family
    with pytest.raises(InvalidCredentials, match="already used"):
        app.refresh(first)  # a stolen copy replayed
    assert session(app, session_id).revoked
    with pytest.raises(InvalidCredentials):
        app.refresh(second)  # the legitimate holder is signed out too
    assert app.refresh(other_token).user_id == uid  # the other family is untouched


def test_a_concurrent_double_refresh_is_treated_as_reuse(
        app: IdentityApplication, uid: uuid.UUID, monkeypatch: pytest.MonkeyPatch) -> None:
    session_id, token = app.start_session(uid)
    stale = session(app, session_id)  # read before the other request rotated
    winner = app.refresh(token).refresh_token
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
    token = app.refresh(token).refresh_token  # sliding: another 30 days from now
    clock.advance(days=29)
    token = app.refresh(token).refresh_token
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
    laptop = app.refresh(laptop).refresh_token
    app.revoke_all_sessions(uid)
    for token in (phone, laptop):
        with pytest.raises(InvalidCredentials, match="revoked"):
            app.refresh(token)
    _, fresh = app.start_session(uid)
    assert app.refresh(fresh).user_id == uid


def test_unknown_tokens_and_users(app: IdentityApplication) -> None:
    with pytest.raises(InvalidCredentials):
        app.refresh("never-issued-token")
    with pytest.raises(InvalidCredentials):
        app.session_id_for("never-issued-token")
    with pytest.raises(NotFound):
        app.start_session(uuid.uuid4())
    with pytest.raises(NotFound):
        app.revoke_all_sessions(uuid.uuid4())


def test_refresh_tokens_are_stored_only_as_hashes(app: IdentityApplication, uid: uuid.UUID,
                                                  log: EventLog) -> None:
    _, first = app.start_session(uid)
    second = app.refresh(first).refresh_token
    stored = log.stored_bytes()
    assert first.encode() not in stored and second.encode() not in stored
