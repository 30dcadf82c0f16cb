"""Sessions in-process on a real PostgreSQL, with tokens signed by the test key, booking's and
identity's events fed to its reaction as the subscriber would (``servicekit.testing.Feed``),
a clock the tests move (deadlines fire by ``h.fire(at)``), and, where a test asks for video,
a local LiveKit speaking LiveKit's Twirp API and signing webhooks as LiveKit does."""

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

from alphapeer_contracts import booking as bkc
from servicekit.testing import ISSUER, Clock, Feed, fire_deadlines, gateway, published
from sessions.adapters.livekit_local import LocalLiveKit
from sessions.application import SessionsApplication
from sessions.main import build
from sessions.settings import SessionsSettings
from sessions.translate import Translator

#: Monday 6 January 2031, 08:00 UTC: the tests' "now" unless moved. Sessions start at 10:00.
T0 = datetime(2031, 1, 6, 8, 0, tzinfo=UTC)
START = T0 + timedelta(hours=2)


class Sessions:
    def __init__(self, client: TestClient, clock: Clock, livekit: LocalLiveKit | None) -> None:
        self.client = client
        self.clock = clock
        self.livekit = livekit
        self.app: SessionsApplication = client.app.state.sessions  # type: ignore[attr-defined]
        self.app.clock = clock
        self.deadlines = client.app.state.deadlines  # type: ignore[attr-defined]
        self.feed = Feed(client.app.state.reactions["main"])  # type: ignore[attr-defined]

    @staticmethod
    def token(user: UUID | None = None, *roles: str) -> dict[str, str]:
        return ISSUER.headers(user, *roles or ("student",))

    def confirmed(self, *, mode: str = "online", tutor: UUID | None = None, student: UUID | None = None,
                  minutes: int = 60, starts: datetime = START, occurrences: int = 1,
                  group_id: UUID | None = None) -> bkc.BookingConfirmed:
        event = bkc.BookingConfirmed(
            booking_id=uuid.uuid4(), tutor_id=tutor or uuid.uuid4(), student_id=student or uuid.uuid4(),
            listing_id=uuid.uuid4(), kind="group" if group_id else "single", mode=mode,  # type: ignore[arg-type]
            occurrences=[bkc.Occurrence(occurrence=n, starts_at=starts + timedelta(weeks=n),
                                        ends_at=starts + timedelta(weeks=n, minutes=minutes), price=12)
                         for n in range(occurrences)],
            group_id=group_id, occurred_at=self.clock())
        assert self.feed(event) is True
        return event

    def session_id(self, booking: bkc.BookingConfirmed, occurrence: int = 0) -> UUID:
        from sessions.domain.session import session_id_for

        return session_id_for(booking.group_id or booking.booking_id, occurrence)

    def get(self, sid: UUID, user: UUID, *roles: str) -> dict[str, Any]:
        r = self.client.get(f"/v1/sessions/{sid}", headers=self.token(user, *roles))
        assert r.status_code == 200, r.text
        return dict(r.json())

    def at(self, when: datetime) -> None:
        self.clock.now = when

    def fire(self, at: datetime | None = None) -> int:
        if at is not None:
            self.clock.now = at
        return fire_deadlines(self.deadlines, self.clock())

    def public_events(self) -> list[Any]:
        return published(self.app, Translator(self.app))

    def outcomes(self) -> list[Any]:
        return [e for e in self.public_events() if type(e).__name__ in ("SessionCompleted", "SessionNoShow")]

    def webhook(self, event: Any) -> Any:
        assert self.livekit is not None
        body, headers = self.livekit.signed(event)
        return self.client.post("/v1/webhooks/livekit", content=body.encode(), headers=headers)


@pytest.fixture
def launch(postgres_url: str, pg_schema: str, tmp_path: Path) -> Iterator[Callable[..., Sessions]]:
    """Starts sessions with the test settings (no relay, no broker) plus ``overrides``;
    ``video=True`` also starts a local LiveKit and configures sessions to use it."""
    with ExitStack() as running:
        def start(video: bool = False, now: datetime = T0, **overrides: Any) -> Sessions:
            livekit = None
            if video:
                livekit = running.enter_context(LocalLiveKit())
                overrides |= {"sessions_livekit_url": livekit.url, "sessions_livekit_api_key": livekit.api_key,
                              "sessions_livekit_api_secret": livekit.api_secret}
            client = gateway(build, SessionsSettings, postgres_url, pg_schema, tmp_path, **overrides)
            return Sessions(running.enter_context(client), Clock(now), livekit)

        yield start


@pytest.fixture
def h(launch: Callable[..., Sessions]) -> Sessions:
    return launch()


@pytest.fixture
def v(launch: Callable[..., Sessions]) -> Sessions:
    return launch(video=True)
