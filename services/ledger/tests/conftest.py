"""The ledger in-process on a real PostgreSQL, for the tests beside this file (the harness is
``ledger_harness.py``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from ledger_harness import Harness

from ledger.main import build
from ledger.settings import LedgerSettings
from servicekit.testing import gateway


@pytest.fixture
def launch(postgres_url: str, pg_schema: str, tmp_path: Path) -> Iterator[Callable[..., Harness]]:
    """Starts the ledger with the test settings (no relay, no broker) plus ``overrides``."""
    with ExitStack() as running:
        def start(**overrides: Any) -> Harness:
            client = gateway(build, LedgerSettings, postgres_url, pg_schema, tmp_path, **overrides)
            return Harness(running.enter_context(client))

        yield start


@pytest.fixture
def h(launch: Callable[..., Harness]) -> Harness:
    """The ledger with a 10 % platform fee and no sign-up bonus."""
    return launch(ledger_platform_fee_bp=1000)
