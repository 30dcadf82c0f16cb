"""Centres in-process on a real PostgreSQL, tokens signed by the test key, a clock tests move."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from centres.application import CentresApplication
from centres.main import build
from centres.settings import CentresSettings
from centres.translate import Translator
from servicekit.testing import Clock, gateway, published

#: Wednesday 25 March 2026, 12:00 UTC: the week British clocks go forward (Sunday the 29th).
T0 = datetime(2026, 3, 25, 12, 0, tzinfo=UTC)


class Centres:
    def __init__(self, client: TestClient, clock: Clock) -> None:
        self.client = client
        self.clock = clock
        self.app: CentresApplication = client.app.state.centres  # type: ignore[attr-defined]
        self.app.clock = clock

    def public_events(self) -> list[Any]:
        return published(self.app, Translator(self.app))


@pytest.fixture
def launch(postgres_url: str, pg_schema: str, tmp_path: Path) -> Iterator[Callable[..., Centres]]:
    with ExitStack() as running:
        def start(now: datetime = T0, **overrides: Any) -> Centres:
            client = gateway(build, CentresSettings, postgres_url, pg_schema, tmp_path, **overrides)
            return Centres(running.enter_context(client), Clock(now))

        yield start


@pytest.fixture
def h(launch: Callable[..., Centres]) -> Centres:
    return launch()
