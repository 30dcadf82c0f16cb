"""Reputation in-process on a real PostgreSQL, with tokens signed by the test key, other
services' events fed to its reaction as the subscriber would, and a clock the tests move."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from alphapeer_contracts import sessions as ses
from reputation.application import ReputationApplication
from reputation.main import build
from reputation.settings import ReputationSettings
from reputation.translate import Translator
from servicekit.testing import ISSUER, Clock, Feed, gateway, published

T0 = datetime(2031, 3, 3, 12, 0, tzinfo=UTC)


class Reputation:
    def __init__(self, client: TestClient, clock: Clock) -> None:
        self.client = client
        self.clock = clock
        self.app: ReputationApplication = client.app.state.reputation  # type: ignore[attr-defined]
        self.app.clock = clock
        self.feed = Feed(client.app.state.reactions["main"])  # type: ignore[attr-defined]

    @staticmethod
    def token(user: UUID | None = None, *roles: str) -> dict[str, str]:
        return ISSUER.headers(user, *roles or ("student",))

    def taught(self, tutor: UUID, student: UUID | None = None, minutes: int = 60,
               ended_at: datetime | None = None) -> tuple[UUID, UUID]:
        """A session that took place: (session id, student id)."""
        session, student = uuid.uuid4(), student or uuid.uuid4()
        end = ended_at or self.clock() - timedelta(hours=1)
        assert self.feed(ses.SessionCompleted(
            booking_id=uuid.uuid4(), occurrence=0, started_at=end - timedelta(minutes=minutes), ended_at=end,
            session_id=session, tutor_id=tutor, student_id=student, minutes_taught=minutes, decided_by="attendance",
            occurred_at=end))
        return session, student

    def review(self, session: UUID, student: UUID, stars: int | dict[str, int] = 5, text: str = "",
               expect: int = 201) -> dict[str, Any]:
        ratings = stars if isinstance(stars, dict) else {k: stars for k in (
            "on_time", "explained_clearly", "helped_understand", "would_book_again")}
        r = self.client.post("/v1/reviews", json={"session_id": str(session), "ratings": ratings, "text": text},
                             headers=self.token(student))
        assert r.status_code == expect, r.text
        return dict(r.json())

    def standing(self, tutor: UUID) -> dict[str, Any]:
        r = self.client.get(f"/v1/tutors/{tutor}/reputation", headers=self.token(uuid.uuid4()))
        assert r.status_code == 200, r.text
        return dict(r.json())

    def public_events(self, kind: str | None = None) -> list[Any]:
        return [e for e in published(self.app, Translator(self.app)) if kind is None or type(e).__name__ == kind]


@pytest.fixture
def launch(postgres_url: str, pg_schema: str, tmp_path: Path) -> Iterator[Callable[..., Reputation]]:
    with ExitStack() as running:
        def start(now: datetime = T0, **overrides: Any) -> Reputation:
            client = gateway(build, ReputationSettings, postgres_url, pg_schema, tmp_path, **overrides)
            return Reputation(running.enter_context(client), Clock(now))

        yield start


@pytest.fixture
def h(launch: Callable[..., Reputation]) -> Reputation:
    return launch()
