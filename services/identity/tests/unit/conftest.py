"""Unit tests run identity's use cases on in-memory persistence (POPO) with in-memory
fakes for the vault, the clock and the email hash."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

for _path in (Path(__file__).resolve().parents[2] / "src", Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from fakes import FakeClock, FakeVault, cheap_hasher, lookup_key  # noqa: E402

from identity.application import IdentityApplication  # noqa: E402


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def vault() -> FakeVault:
    return FakeVault()


@pytest.fixture
def app(vault: FakeVault, clock: FakeClock) -> IdentityApplication:
    return IdentityApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, vault=vault,
                               lookup_key=lookup_key, clock=clock, hasher=cheap_hasher())
