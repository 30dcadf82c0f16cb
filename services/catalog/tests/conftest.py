"""Catalog's gateway in-process on a real PostgreSQL, with tokens signed by the test key
(servicekit.testing.ISSUER) and identity's events fed to catalog's own reaction exactly as
the subscriber would (servicekit.testing.Feed)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from alphapeer_contracts import identity as idc
from catalog.application import CatalogApplication
from catalog.main import build
from catalog.settings import CatalogSettings
from catalog.translate import to_contract
from servicekit.testing import ISSUER, Feed, gateway

LISTING: dict[str, Any] = {
    "title": "Mechanics without tears",
    "subjects": [{"subject_id": "sciences.physics", "level": "advanced", "topics": ["Mechanics"]}],
    "rate": {"credits_per_hour": 12, "amount_minor_per_hour": 2500, "currency": "GBP"},
    "session_minutes": [60, 30],
    "modes": ["online", "in_person"],
    "place": {"campus": "Main campus", "lat": 51.5246, "lon": -0.1340, "travel_radius_km": 2},
    "languages": ["en", "es"],
    "teaching_styles": ["socratic", "visual"],
    "communication": ["video", "text_chat"],
    "bio": "Final-year physics student; I draw everything.",
    "trial": {"minutes": 15, "free": True},
}


def now() -> datetime:
    return datetime.now(UTC)


class Catalog:
    """The running gateway (``client``), its application (``app``) and identity's events
    (``identity``: a Feed of catalog's own reaction, the one the subscriber calls)."""

    LISTING = LISTING

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.app: CatalogApplication = client.app.state.catalog  # type: ignore[attr-defined]
        self.reaction = client.app.state.reactions["main"]  # type: ignore[attr-defined]
        self.identity = Feed(self.reaction)

    @staticmethod
    def token(user: UUID | None = None, *roles: str) -> dict[str, str]:
        return ISSUER.headers(user, *roles)

    def approve(self, user: UUID) -> bool:
        return self.identity(idc.TutorApproved(application_id=uuid.uuid4(), user_id=user, subjects=["Physics"],
                                               levels=["advanced"], approved_by=uuid.uuid4(), occurred_at=now()))

    def suspend(self, user: UUID) -> bool:
        return self.identity(idc.UserSuspended(user_id=user, suspended_by=uuid.uuid4(), reason_code="conduct",
                                               occurred_at=now()))

    def reinstate(self, user: UUID) -> bool:
        return self.identity(idc.UserReinstated(user_id=user, reinstated_by=uuid.uuid4(), occurred_at=now()))

    def draft(self, tutor: UUID, **changes: Any) -> str:
        r = self.client.post("/v1/listings", json={**LISTING, **changes}, headers=self.token(tutor, "tutor"))
        assert r.status_code == 201, r.text
        return str(r.json()["listing_id"])

    def published(self, tutor: UUID, **changes: Any) -> str:
        """A published listing of an approved tutor."""
        self.approve(tutor)
        lid = self.draft(tutor, **changes)
        assert self.client.post(f"/v1/listings/{lid}/publish", headers=self.token(tutor, "tutor")).status_code == 200
        return lid

    def public_events(self) -> list[Any]:
        """What the outbox would publish on catalog.events, in order."""
        events = [to_contract(self.app.mapper.to_domain_event(n))
                  for n in self.app.recorder.select_notifications(start=1, limit=1000)]
        return [e for e in events if e is not None]


@pytest.fixture
def launch(postgres_url: str, pg_schema: str, tmp_path: Path) -> Iterator[Callable[..., Catalog]]:
    """Starts catalog with the test settings (no relay, no broker) plus ``overrides``;
    stopped after the test."""
    with ExitStack() as running:
        def start(**overrides: Any) -> Catalog:
            client = gateway(build, CatalogSettings, postgres_url, pg_schema, tmp_path, **overrides)
            return Catalog(running.enter_context(client))

        yield start


@pytest.fixture
def h(launch: Callable[..., Catalog]) -> Catalog:
    """Catalog with media in a local folder."""
    return launch()
