"""Unit tests run identity's use cases on in-memory persistence (POPO) with in-memory
fakes for its ports (see ``fakes``)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

for _path in (Path(__file__).resolve().parents[2] / "src", Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from fakes import (  # noqa: E402
    PASSWORD,
    EventLog,
    FakeAccessLog,
    FakeClock,
    FakeDocuments,
    FakeMailer,
    FakeThrottle,
    FakeTokens,
    FakeVault,
    cheap_hasher,
    lookup_key,
)

from identity.adapters.background import ManualProvider  # noqa: E402
from identity.application import IdentityApplication  # noqa: E402
from identity.domain.commands import Registration  # noqa: E402


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def vault() -> FakeVault:
    return FakeVault()


@pytest.fixture
def shared() -> FakeVault:
    """The vault of personal text that travels in identity's events (names, headlines)."""
    return FakeVault()


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()


@pytest.fixture
def documents() -> FakeDocuments:
    return FakeDocuments()


@pytest.fixture
def throttle() -> FakeThrottle:
    return FakeThrottle()


@pytest.fixture
def access_log() -> FakeAccessLog:
    return FakeAccessLog()


@pytest.fixture
def make_app(vault: FakeVault, shared: FakeVault, clock: FakeClock, mailer: FakeMailer, documents: FakeDocuments,
             throttle: FakeThrottle, access_log: FakeAccessLog) -> Callable[..., IdentityApplication]:
    """An application on the fakes; keyword arguments replace a port."""

    def make(**ports: Any) -> IdentityApplication:
        defaults: dict[str, Any] = {"vault": vault, "shared": shared,
                                    "lookup_key": lookup_key, "clock": clock, "hasher": cheap_hasher(),
                                    "tokens": FakeTokens(), "mailer": mailer, "documents": documents,
                                    "background": ManualProvider(), "throttle": throttle, "access_log": access_log}
        return IdentityApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, **{**defaults, **ports})

    return make


@pytest.fixture
def app(make_app: Callable[..., IdentityApplication]) -> IdentityApplication:
    return make_app()


@pytest.fixture
def log(app: IdentityApplication) -> EventLog:
    return EventLog(app)


@pytest.fixture
def staff(app: IdentityApplication) -> uuid.UUID:
    """A member of staff (not an admin)."""
    uid = app.register(Registration("staff@uni.example", PASSWORD, "Staff"))
    app.grant_role(uid, "staff", by=None)
    return uid
