"""System-test helpers: identity as a real process on PostgreSQL and the real broker, and
an in-process subscriber that counts its effects per event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from servicekit.database import Cursor, Database
from servicekit.settings import ServiceSettings
from servicekit.subscriber import Delivery, IdempotentSubscriber, ProjectionReaction, make_broker
from servicekit.testing import Broker, ServiceProcess

ADMIN_EMAIL = "admin@alphapeer.test"
ADMIN_PASSWORD = "admin-password-123"


@pytest.fixture
def identity_proc(postgres_url: str, pg_schema: str, kafka: Broker, tmp_path: Path) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(
        script="alphapeer-identity",
        env={
            "ALPHAPEER_SERVICE_NAME": "identity",
            "ALPHAPEER_DATABASE_URL": postgres_url,
            "ALPHAPEER_DATABASE_SCHEMA": pg_schema,
            "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "ALPHAPEER_DATA_DIR": str(tmp_path / "data"),
            "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
            "ALPHAPEER_IDENTITY_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "ALPHAPEER_RELAY_POLL_INTERVAL": "0.05",
            "ALPHAPEER_LOG_LEVEL": "INFO",
        },
        log=tmp_path / "identity.log",
    )
    yield proc
    proc.stop()


@pytest.fixture
def catalog_proc(identity_proc: ServiceProcess, postgres_url: str, kafka: Broker,
                 tmp_path: Path) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(
        script="alphapeer-catalog",
        env={
            "ALPHAPEER_SERVICE_NAME": "catalog",
            "ALPHAPEER_DATABASE_URL": postgres_url,
            "ALPHAPEER_DATABASE_SCHEMA": f"{identity_proc.env['ALPHAPEER_DATABASE_SCHEMA']}_catalog",
            "ALPHAPEER_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
            "ALPHAPEER_DATA_DIR": str(tmp_path / "catalog-data"),
            "ALPHAPEER_JWKS_URL": f"{identity_proc.url}/.well-known/jwks.json",
            "ALPHAPEER_RELAY_POLL_INTERVAL": "0.05",
            "ALPHAPEER_KAFKA_SESSION_TIMEOUT_MS": "3000",
            "ALPHAPEER_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        },
        log=tmp_path / "catalog.log",
    )
    yield proc
    proc.stop()


class Api:
    """A thin HTTP client for the walk-throughs in tests."""

    def __init__(self, base: str, mail_dir: Path) -> None:
        self.base = base
        self.mail_dir = mail_dir
        self.http = httpx.Client(base_url=base, timeout=15)

    def post(self, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return self.http.post(path, headers=_auth(token, kw.pop("headers", {})), **kw)

    def get(self, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        return self.http.get(path, headers=_auth(token, kw.pop("headers", {})), **kw)

    def register(self, email: str, name: str = "Test User", password: str = "a-long-password-1") -> str:
        r = self.post("/v1/auth/register", json={"email": email, "password": password, "display_name": name})
        assert r.status_code == 201, r.text
        return str(r.json()["user_id"])

    def last_token_for(self, email: str) -> str:
        for path in sorted(self.mail_dir.glob("*.eml"), reverse=True):
            text = path.read_text()
            if f"To: {email}" in text:
                return next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith("token="))
        raise AssertionError(f"no mail for {email}")

    def verify(self, email: str) -> None:
        r = self.post("/v1/auth/verify-email", json={"token": self.last_token_for(email)})
        assert r.status_code == 200, r.text

    def login(self, email: str, password: str = "a-long-password-1") -> str:
        r = self.post("/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])


def _auth(token: str | None, headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Authorization": f"Bearer {token}"} if token else headers


@pytest.fixture
def api(identity_proc: ServiceProcess, tmp_path: Path) -> Api:
    if identity_proc.proc is None:
        identity_proc.start()
    return Api(identity_proc.url, tmp_path / "data" / "mail")


class EffectCounter:
    """A downstream service's reaction: counts how often each event took effect."""

    def __init__(self, postgres_url: str, schema: str, bootstrap: str) -> None:
        self.settings = ServiceSettings(
            service_name="probe", database_url=postgres_url, database_schema=schema,
            kafka_bootstrap_servers=bootstrap, kafka_session_timeout_ms=3000, kafka_heartbeat_interval_ms=500,
        )
        self.db = Database(self.settings)
        self.db.execute_script(["CREATE TABLE IF NOT EXISTS effects (ce_id TEXT PRIMARY KEY, type TEXT NOT NULL,"
                                " subject TEXT NOT NULL, n BIGINT NOT NULL)"])

        def apply(cur: Cursor, event: Any, delivery: Delivery) -> None:
            cur.execute(
                "INSERT INTO effects (ce_id, type, subject, n) VALUES (%s, %s, %s, 1) "
                "ON CONFLICT (ce_id) DO UPDATE SET n = effects.n + 1",
                (delivery.envelope.id, delivery.envelope.type, delivery.envelope.subject),
            )

        self.reaction = ProjectionReaction(self.db, apply)

    def effects(self) -> list[tuple[str, str, str, int]]:
        with self.db.transaction() as cur:
            cur.execute("SELECT ce_id, type, subject, n FROM effects ORDER BY ce_id")
            return [(r[0], r[1], r[2], int(r[3])) for r in cur.fetchall()]

    def count(self, type_suffix: str, subject: str) -> int:
        return sum(n for _, t, s, n in self.effects() if t.endswith(type_suffix) and s == subject)

    async def wait_for(self, type_suffix: str, subject: str, timeout: float = 30.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not await asyncio.to_thread(self.count, type_suffix, subject):
            assert asyncio.get_running_loop().time() < deadline, f"{type_suffix} for {subject} never took effect"
            await asyncio.sleep(0.1)


@pytest.fixture
async def effect_counter(postgres_url: str, kafka: Broker) -> AsyncIterator[EffectCounter]:
    import uuid

    counter = EffectCounter(postgres_url, f"probe_{uuid.uuid4().hex[:8]}", kafka.bootstrap)
    broker = make_broker(counter.settings)
    IdempotentSubscriber(broker, counter.settings, topics=["identity.events"], reaction=counter.reaction)
    counter.broker = broker  # type: ignore[attr-defined]
    await broker.start()
    yield counter
    await broker.stop()
    counter.db.close()
