"""Matching in-process on a real PostgreSQL, fed identity's, catalog's and booking's events
through its projection reaction exactly as the subscriber would, and called through its HTTP
gateway, with its clock set where a test needs a date."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from alphapeer_contracts import booking as bk
from alphapeer_contracts import catalog as cat
from alphapeer_contracts import identity as idc
from alphapeer_contracts import reputation as rep
from matching.domain.query import DAYS
from matching.main import build
from matching.settings import MatchingSettings
from servicekit.testing import ISSUER, Feed


def auth(user: UUID | None = None) -> dict[str, str]:
    return ISSUER.headers(user, "student")


def now() -> datetime:
    return datetime.now(UTC)


class Matching:
    """The service under test: events in through its projection reaction (as the subscriber
    delivers them), requests through its gateway, and its read model's database."""

    def __init__(self, client: TestClient) -> None:
        state: Any = client.app.state  # type: ignore[attr-defined]
        self.client = client
        self.send = Feed(state.reactions["main"])
        self.directory = state.matching.directory
        self.db = self.directory.db

    def get(self, path: str, user: UUID | None = None, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=auth(user))

    def post(self, path: str, body: Any, user: UUID | None = None) -> Any:
        return self.client.post(path, json=body, headers=auth(user))

    def settle(self) -> None:
        self.directory.settle()

    def at(self, moment: datetime) -> None:
        """Sets the application's clock (availability is bookable from now)."""
        self.client.app.state.matching.clock = lambda: moment  # type: ignore[attr-defined]

    def availability(self, tutor: UUID, time_zone: str, weekly: list[str], *,
                     exceptions: dict[date, list[str]] | None = None, min_notice_minutes: int = 0,
                     horizon_days: int = 60, position: int | None = None) -> bool:
        """Booking's AvailabilityChanged for ``tutor``: weekly windows as 'tue 18:00-20:00' and
        dated exceptions as their windows '18:00-20:00' (none: closed), in ``time_zone``."""
        def window(text: str) -> dict[str, str]:
            start, end = text.split("-")
            return {"start": start.zfill(5), "end": end.zfill(5)}

        return self.send(bk.AvailabilityChanged(
            tutor_id=tutor, time_zone=time_zone,
            weekly=[bk.WeeklyWindow(weekday=DAYS.index(w.split()[0]), **window(w.split()[1])) for w in weekly],
            exceptions=[bk.DatedException(date=d, windows=[bk.DayWindow(**window(w)) for w in ws])
                        for d, ws in (exceptions or {}).items()],
            min_notice_minutes=min_notice_minutes, horizon_days=horizon_days, occurred_at=now()), position=position)

    def standing(self, tutor: UUID, rating_sum: float, rating_count: int, completed: int = 0, missed: int = 0,
                 version: int = 1) -> bool:
        """Reputation's TutorReputationChanged for ``tutor`` (the rating as reputation shows it is
        beside the point here: matching ranks by its own Bayesian average of the sums)."""
        return self.send(rep.TutorReputationChanged(
            tutor_id=tutor, standing_version=version, rating=min(5.0, rating_sum / max(rating_count, 1)),
            rating_sum=rating_sum, rating_count=rating_count, sessions_completed=completed, sessions_missed=missed,
            cancellations=0, reliability=1.0, minutes_taught=60 * completed, on_probation=False,
            occurred_at=now()))

    def tutor(self, name: str, verified: bool = False) -> UUID:
        uid = uuid.uuid4()
        self.send(idc.UserRegistered(user_id=uid, display_name=name, roles=["student"], occurred_at=now()))
        self.send(idc.TutorApproved(application_id=uuid.uuid4(), user_id=uid, subjects=[], levels=[],
                                    approved_by=uuid.uuid4(), occurred_at=now()))
        if verified:
            self.send(idc.BackgroundCheckUpdated(user_id=uid, status="clear", provider="manual", occurred_at=now()))
        return uid

    def listing(self, tutor: UUID, *, subject: tuple[str, str, str] = ("mathematics.algebra-i", "Algebra I",
                "Mathematics"), level: str = "introductory", credits: int = 10, where: tuple[float, float] | None
                = None, bio: str = "", languages: tuple[str, ...] = ("en",), styles: tuple[str, ...] = (),
                modes: tuple[str, ...] = ("online",), title: str = "Tutoring", topics: tuple[str, ...] = (),
                age_days: float = 0) -> UUID:
        lid = uuid.uuid4()
        snapshot = cat.ListingSnapshot(
            tutor_id=tutor, title=title,
            subjects=[cat.SubjectTaught(subject_id=subject[0], name=subject[1], area=subject[2], level=level,
                                        topics=list(topics))],
            rate=cat.Rate(credits_per_hour=credits), session_minutes=[60], modes=list(modes),
            place=cat.Place(campus="Campus", lat=where[0], lon=where[1], travel_radius_km=0) if where else None,
            languages=list(languages), teaching_styles=list(styles), bio=bio)
        self.send(cat.ListingPublished(listing_id=lid, listing=snapshot, occurred_at=now() - timedelta(days=age_days)))
        return lid


@pytest.fixture
def matching_overrides() -> dict[str, Any]:
    """Settings a test changes (parametrize this name to override)."""
    return {}


@pytest.fixture
def feed(postgres_url: str, pg_schema: str, tmp_path: Path, matching_overrides: dict[str, Any]) -> Iterator[Matching]:
    settings = MatchingSettings(database_url=postgres_url, database_schema=pg_schema, data_dir=tmp_path,
                                subscribers_enabled=False, kafka_bootstrap_servers="127.0.0.1:1",
                                matching_refresh_interval=0.0001, **matching_overrides)
    with TestClient(build(settings, keys=ISSUER)) as client:
        yield Matching(client)


