"""Every gateway in-process on a real PostgreSQL and broker, for the schema-driven fuzzer.

Services are found by their `alphapeer.services` entry points, so a new one is fuzzed
without a line here. Each is called with a token holding every role, so requests get
past the role checks to the validation behind them; identity signs its own tokens (its
bootstrap admin's), the others accept the test issuer's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from alphapeer_contracts.vocabulary import ROLES
from servicekit import devstack
from servicekit.runtime import ProblemH11Protocol
from servicekit.testing import ISSUER

ADMIN = ("admin@alphapeer.test", "admin-password-123")
SERVICES = sorted(ep.name for ep in entry_points(group="alphapeer.services"))


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker for the session, so the gateways are ready (their /readyz answers 200)."""
    port = devstack.free_port()
    proc = devstack.start_tansu(port, tmp_path_factory.mktemp("broker") / "broker.log")
    yield f"127.0.0.1:{port}"
    proc.kill()
    proc.wait()


@dataclass
class Gateway:
    app: FastAPI
    url: str  # served over real HTTP (uvicorn on loopback), lifespan and all
    headers: dict[str, str]


class _Served:
    """A gateway under uvicorn in a thread of this process: the fuzzer speaks HTTP to it,
    and its lifespan (workers, pools) runs in that server's event loop only."""

    def __init__(self, app: FastAPI) -> None:
        self.port = devstack.free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False,
                                lifespan="on", http=ProblemH11Protocol)  # as servicekit.runtime.serve does
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        devstack.wait_http_ready(f"http://127.0.0.1:{self.port}", timeout=60)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _build(name: str, postgres_url: str, broker: str, tmp: Path) -> tuple[FastAPI, _Served]:
    service: Any = next(ep for ep in entry_points(group="alphapeer.services") if ep.name == name).load()
    extra = {"identity_bootstrap_admin_email": ADMIN[0],
             "identity_bootstrap_admin_password": ADMIN[1]} if name == "identity" else {}
    settings = service.settings_class(database_url=postgres_url, database_schema=f"fuzz_{name}", data_dir=tmp / name,
                                      relay_enabled=False, subscribers_enabled=False,
                                      kafka_bootstrap_servers=broker, **extra)
    app = service.build(settings, keys=None if name == "identity" else ISSUER)
    return app, _Served(app)


@pytest.fixture(scope="session")
def gateways(postgres_url: str, broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Gateway]]:
    """name → the gateway, served, with headers holding a token of every role."""
    tmp = tmp_path_factory.mktemp("gateways")
    built = {name: _build(name, postgres_url, broker, tmp) for name in SERVICES}
    out = {}
    for name, (app, served) in built.items():
        url = f"http://127.0.0.1:{served.port}"
        if name == "identity":
            r = httpx.post(f"{url}/v1/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]})
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        else:
            headers = ISSUER.headers(None, *ROLES)
        out[name] = Gateway(app, url, headers)
    yield out
    for _, served in built.values():
        served.stop()
