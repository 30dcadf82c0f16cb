"""Identity's gateway in-process on PostgreSQL, for the tests beside this file: ``identity``
builds one (settings as keyword arguments); two built in one test share the test's schema,
as two replicas share a database."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from identity_gateway import ADMIN, Identity

from identity.main import build
from identity.settings import IdentitySettings


@pytest.fixture
def identity(postgres_url: str, pg_schema: str, tmp_path: Path) -> Iterator[Callable[..., Identity]]:
    opened: list[TestClient] = []

    def make(**settings: Any) -> Identity:
        config = IdentitySettings(**{
            "database_url": postgres_url, "database_schema": pg_schema, "data_dir": tmp_path,
            "relay_enabled": False, "kafka_bootstrap_servers": "127.0.0.1:1",
            "identity_bootstrap_admin_email": ADMIN[0], "identity_bootstrap_admin_password": ADMIN[1],
            **settings})
        client = TestClient(build(config))
        client.__enter__()
        opened.append(client)
        return Identity(client, config.mail_dir)

    yield make
    for client in reversed(opened):
        client.__exit__(None, None, None)
