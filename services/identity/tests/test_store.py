"""Identity's application on a real PostgreSQL: two writers racing for one address or one
refresh token (real threads, real optimistic-concurrency conflicts), and events stored
before the domain was split into a module per aggregate."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import eventsourcing.utils
import pytest
from eventsourcing.utils import TopicError, resolve_topic
from fastapi.testclient import TestClient

from identity.application import IdentityApplication, TokenPair
from identity.domain.commands import PublicProfileChange, Registration
from identity.domain.email_index import EmailIndex
from identity.domain.errors import EmailTaken, InvalidCredentials
from identity.domain.topics import MOVED, OLD_MODULE
from identity.domain.user import User
from identity.main import build
from identity.settings import IdentitySettings
from servicekit.database import Database

PASSWORD = "a-long-password-1"


@pytest.fixture
def gateway(postgres_url: str, pg_schema: str, tmp_path: Path) -> Iterator[TestClient]:
    settings = IdentitySettings(database_url=postgres_url, database_schema=pg_schema, data_dir=tmp_path,
                                relay_enabled=False, kafka_bootstrap_servers="127.0.0.1:1")
    with TestClient(build(settings)) as client:
        yield client


@pytest.fixture
def app(gateway: TestClient) -> IdentityApplication:
    identity: IdentityApplication = gateway.app.state.identity  # type: ignore[attr-defined]
    return identity


@pytest.fixture
def db(gateway: TestClient) -> Database:
    database: Database = gateway.app.state.db  # type: ignore[attr-defined]
    return database


def race(*commands: Callable[[], Any]) -> list[Any]:
    """Runs each command in its own thread; what each returned or raised."""
    results: list[Any] = [None] * len(commands)

    def run(i: int) -> None:
        try:
            results[i] = commands[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(commands))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


class Rendezvous:
    """Holds each thread at its first look at something until every thread has looked, so
    all of them decide on the same state before any saves: a real race, every time."""

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=30)
        self.looks: dict[int, int] = {}
        self.lock = threading.Lock()

    def look(self) -> None:
        with self.lock:
            me = threading.get_ident()
            self.looks[me] = self.looks.get(me, 0) + 1
            first = self.looks[me] == 1
        if first:
            self.barrier.wait()


def test_two_registrations_of_one_address_at_once_one_wins_the_other_is_told_it_is_taken(
        app: IdentityApplication, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    meet = Rendezvous(2)
    real_find = app.find

    def find(cls: type, aggregate_id: uuid.UUID) -> Any:
        found = real_find(cls, aggregate_id)
        if cls is EmailIndex:
            meet.look()  # both have seen "no such address" before either saves
        return found

    monkeypatch.setattr(app, "find", find)
    results = race(*(lambda name=name: app.register(Registration("race@uni.example", PASSWORD, name))
                                for name in ("First", "Second")))
    winners = [r for r in results if isinstance(r, uuid.UUID)]
    losers = [r for r in results if isinstance(r, EmailTaken)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert sorted(meet.looks.values()) == [1, 2]  # the loser decided again after its conflict
    monkeypatch.undo()
    assert app.authenticate("race@uni.example", PASSWORD) == winners[0]
    with db.transaction() as cur:  # the loser's vault key was dropped: one account, one key
        cur.execute("SELECT subject_id FROM subject_keys")
        assert [row[0] for row in cur.fetchall()] == [str(winners[0])]


def test_one_refresh_token_exchanged_twice_at_once_is_reuse_and_ends_the_session(
        app: IdentityApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    app.register(Registration("ada@uni.example", PASSWORD, "Ada"))
    token = app.login("ada@uni.example", PASSWORD).refresh_token
    meet = Rendezvous(2)
    real = app._session_by_token

    def session_by_token(refresh_token: str) -> Any:
        session = real(refresh_token)
        meet.look()  # both hold the session with this token current before either rotates it
        return session

    monkeypatch.setattr(app, "_session_by_token", session_by_token)
    results = race(lambda: app.refresh(token), lambda: app.refresh(token))
    pairs = [r for r in results if isinstance(r, TokenPair)]
    reused = [r for r in results if isinstance(r, InvalidCredentials)]
    assert len(pairs) == 1 and len(reused) == 1, results
    assert "already used" in str(reused[0])
    monkeypatch.undo()
    with pytest.raises(InvalidCredentials):
        app.refresh(pairs[0].refresh_token)  # the whole family ended, the winner's token too


def test_events_stored_under_the_old_module_still_load(app: IdentityApplication, db: Database,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    uid = app.register(Registration("old@uni.example", PASSWORD, "Old Timer"))
    app.update_public_profile(uid, PublicProfileChange(headline="from before the split"))
    app.login("old@uni.example", PASSWORD)
    # Rewrite history as it was written before the split: every topic (and the aggregate
    # topic inside each first event) names identity.domain.model.
    pattern, old = r"identity\.domain\.[a-z_]+:", f"{OLD_MODULE}:"
    with db.transaction() as cur:
        cur.execute(
            "UPDATE identity_events SET topic = regexp_replace(topic, %s, %s),"
            " state = convert_to(regexp_replace(convert_from(state, 'UTF8'), %s, %s, 'g'), 'UTF8')",
            (pattern, old, pattern, old))
        cur.execute("SELECT count(*), count(*) FILTER (WHERE topic LIKE %s) FROM identity_events", (f"{old}%",))
        total, rewritten = cur.fetchone()
    assert total == rewritten > 5

    fresh = type(app)(env=db.eventsourcing_env(), vault=app.vault, shared=app.shared, lookup_key=app.lookup_key,
                      tokens=app.tokens,
                      mailer=app.mailer, documents=app.documents, background=app.background,
                      throttle=app.throttle, access_log=app.access_log)
    try:
        user: Any = fresh.repository.get(uid)
        assert isinstance(user, User) and fresh.public_text(uid, user.headline) == "from before the split"
        assert fresh.authenticate("old@uni.example", PASSWORD) == uid  # EmailIndex, and User again
        notes = fresh.recorder.select_notifications(start=1, limit=100)
        assert all(type(fresh.mapper.to_domain_event(n)).__module__.startswith("identity.domain.") for n in notes)

        # Without the aliases the same history cannot be read at all.
        monkeypatch.setattr(eventsourcing.utils, "_topic_cache", {
            k: v for k, v in eventsourcing.utils._topic_cache.items() if not k.startswith(OLD_MODULE)})
        with pytest.raises(TopicError):
            fresh.repository.get(uid)
    finally:
        fresh.close()


def test_every_moved_class_and_its_events_resolve_from_their_old_topic() -> None:
    for cls in MOVED:
        assert resolve_topic(f"{OLD_MODULE}:{cls.__qualname__}") is cls
        events = [v for v in vars(cls).values() if isinstance(v, type) and v.__qualname__.startswith(cls.__name__)]
        assert events, cls
        for event in events:
            assert resolve_topic(f"{OLD_MODULE}:{event.__qualname__}") is event
