"""`make apidocs`: writes every gateway's OpenAPI document to docs/api/<service>.openapi.json.

Each service is built as its process would be (on a throw-away PostgreSQL from the wheel
unless ALPHAPEER_TEST_POSTGRES names a server), and its generated document written out, so
frontend teams read the APIs without running anything; tests/api checks the committed
files are current."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import uuid
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient

from servicekit.pgserver import ThrowawayPostgres
from servicekit.testing import ISSUER

OUT = Path(__file__).resolve().parent.parent / "docs" / "api"


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def documents(admin_url: str) -> dict[str, dict[str, Any]]:
    name = f"alphapeer_apidocs_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rpartition("/")[0] + "/" + name
    out: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for ep in sorted(entry_points(group="alphapeer.services"), key=lambda e: e.name):
                service: Any = ep.load()
                settings = service.settings_class(database_url=url, data_dir=Path(tmp) / ep.name, relay_enabled=False,
                                                  subscribers_enabled=False)
                app = service.build(settings, keys=None if ep.name == "identity" else ISSUER)
                with TestClient(app):  # started and stopped as a process would be: pools closed
                    out[ep.name] = app.openapi()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return out


def main() -> int:
    admin = os.environ.get("ALPHAPEER_TEST_POSTGRES")
    with ThrowawayPostgres() as server:
        docs = documents(admin or server.start())
    OUT.mkdir(parents=True, exist_ok=True)
    for name, document in docs.items():
        path = OUT / f"{name}.openapi.json"
        path.write_text(render(document))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
